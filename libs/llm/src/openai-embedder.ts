import OpenAI from 'openai';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { DEFAULT_MODEL_TIMEOUT_MS, withDeadline } from './openai-model';

export interface OpenAiEmbedderOptions {
  /** Any OpenAI-compatible endpoint, e.g. `http://127.0.0.1:11434/v1`; the SDK's default when absent. */
  baseURL?: string;
  apiKey: string;
  /** The embeddings model, e.g. `text-embedding-3-small`. */
  model: string;
  /** Length of the vectors; every answer is checked against it (a vector store is created with it). */
  dimension: number;
  /**
   * Sends `dimensions` with each request, for models that can shorten their vectors
   * (text-embedding-3-*). Off by default: many compatible servers reject the parameter.
   */
  requestDimensions?: boolean;
  /** Texts per request (default 64). */
  batchSize?: number;
  /** Deadline of each request (default 60 s). */
  timeoutMs?: number;
}

/**
 * Embeddings from any OpenAI-compatible endpoint, shaped like the retrieval lib's `Embedder`
 * (`name`, `dimension`, `embed`). Like the chat adapter it makes one attempt per request and maps
 * failures to FlotillaErrors that say whether retrying can help (429 carries `retryAfterMs`).
 */
export class OpenAiEmbedder {
  /** Identifies the vectors: the model and their length, so a change of either is seen as a new embedding space. */
  readonly name: string;
  readonly dimension: number;
  private readonly client: OpenAI;
  private readonly batchSize: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: OpenAiEmbedderOptions) {
    if (!Number.isInteger(options.dimension) || options.dimension < 1) {
      throw new FlotillaError(ErrorCode.ConfigInvalid, `embedding dimension must be a whole number >= 1, got ${options.dimension}`, { retryable: false });
    }
    this.dimension = options.dimension;
    this.name = `${options.model}/${options.dimension}`;
    this.batchSize = Math.max(1, options.batchSize ?? 64);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_MODEL_TIMEOUT_MS;
    this.client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey, maxRetries: 0, timeout: this.timeoutMs });
  }

  /** One vector per text, in order; batches are sent one after another. */
  async embed(texts: string[]): Promise<number[][]> {
    const vectors: number[][] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) {
      vectors.push(...await this.embedBatch(texts.slice(i, i + this.batchSize)));
    }
    return vectors;
  }

  private embedBatch(texts: string[]): Promise<number[][]> {
    const { model } = this.options;
    return withDeadline(model, this.timeoutMs, undefined, async (signal) => {
      const response = await this.client.embeddings.create({
        model,
        // OpenAI rejects an empty string; a space embeds as "nothing" just the same.
        input: texts.map((t) => (t === '' ? ' ' : t)),
        // Explicit: the SDK would otherwise ask for base64, which not every compatible server speaks.
        encoding_format: 'float',
        ...(this.options.requestDimensions ? { dimensions: this.dimension } : {}),
      }, { signal });
      const out: (number[] | undefined)[] = new Array<number[] | undefined>(texts.length);
      for (const item of response.data ?? []) {
        if (Number.isInteger(item.index) && item.index >= 0 && item.index < texts.length) out[item.index] = item.embedding;
      }
      return out.map((vector, i) => {
        if (!Array.isArray(vector) || !vector.every((x) => typeof x === 'number' && Number.isFinite(x))) {
          throw new FlotillaError(ErrorCode.ModelFailed, `${model} returned no valid embedding for input ${i} of ${texts.length}`, { retryable: false });
        }
        if (vector.length !== this.dimension) {
          throw new FlotillaError(ErrorCode.ConfigInvalid, `${model} returned ${vector.length}-dimensional embeddings, configured ${this.dimension}`, { retryable: false });
        }
        return vector;
      });
    });
  }
}
