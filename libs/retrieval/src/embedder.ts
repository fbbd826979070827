import { createHash } from 'node:crypto';

/**
 * Turns texts into vectors of a fixed dimension: the built-in {@link LocalLexicalEmbedder}, or one
 * injected by the caller (an OpenAI-compatible embeddings client has this same shape).
 */
export interface Embedder {
  /** Identifies the vector space: vectors of different embedders are never compared. */
  readonly name: string;
  readonly dimension: number;
  /** One vector of `dimension` numbers per text, in order. */
  embed(texts: string[]): Promise<number[][]>;
}

/**
 * The collection an embedder's vectors live in, named after the embedder and its dimension, so that
 * switching embedders starts an empty collection instead of comparing incomparable vectors (the
 * documents must then be ingested again).
 */
export function collectionNameFor(embedder: Pick<Embedder, 'name' | 'dimension'>): string {
  const slug = embedder.name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 80);
  return `flotilla_kb_${slug || 'embedder'}_${embedder.dimension}`;
}

const STOPWORDS = new Set('a an and are as at be by can do does for from has have how i if in is it its my of on or our so that the this to was we what when where which will with you your'.split(' '));

/** Lower-cased word tokens with a light suffix strip, stopwords removed. */
export function tokenize(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? [])
    .filter((w) => !STOPWORDS.has(w))
    .map((w) => (w.length > 4 ? w.replace(/(ing|ed|es|s)$/, '') : w));
}

/**
 * The built-in local embedder: feature hashing of word unigrams and bigrams into a fixed-size,
 * L2-normalised vector. Deterministic and offline — and LEXICAL, not semantic: it matches shared
 * words, not meaning. Configure an OpenAI-compatible embeddings endpoint for semantic search.
 */
export class LocalLexicalEmbedder implements Embedder {
  readonly name = 'flotilla-local-lexical-v1';
  constructor(readonly dimension = 1024) {}

  async embed(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }

  private embedOne(text: string): number[] {
    const counts = new Map<number, number>();
    const words = tokenize(text);
    const features = [...words, ...words.slice(1).map((w, i) => `${words[i]}_${w}`)];
    for (const f of features) {
      const index = createHash('md5').update(f).digest().readUInt32LE(0) % this.dimension;
      counts.set(index, (counts.get(index) ?? 0) + (f.includes('_') ? 0.5 : 1));
    }
    // Sub-linear term frequency, so one repeated word does not drown the others.
    const v = new Array<number>(this.dimension).fill(0);
    for (const [i, c] of counts) v[i] = 1 + Math.log(c);
    const norm = Math.hypot(...v) || 1;
    return v.map((x) => x / norm);
  }
}
