import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type {
  ChatCompletion, ChatCompletionCreateParamsBase, ChatCompletionMessageParam, ChatCompletionMessageToolCall, ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { ModelRateLimitedError, parseRetryAfter } from './errors';
import { CompletionRequest, CompletionResult, LanguageModel, ModelInfo, ToolCall } from './port';

export const DEFAULT_MODEL_TIMEOUT_MS = 60_000;

export interface OpenAiModelOptions {
  /** Any OpenAI-compatible endpoint, e.g. `http://127.0.0.1:11434/v1`; the SDK's default when absent. */
  baseURL?: string;
  apiKey: string;
  model: string;
  /** A whole call's deadline, streaming included (the SDK's own timeout stops at the headers). */
  timeoutMs?: number;
}

/**
 * The adapter for any OpenAI-compatible chat-completions endpoint. It makes exactly one attempt per
 * call: retries, backoff and fallback to another model belong to the routing layer, which reads
 * the `retryable` flag and `retryAfterMs` on the errors thrown here.
 */
export class OpenAiModel implements LanguageModel {
  readonly info: ModelInfo;
  private readonly client: OpenAI;
  private readonly timeoutMs: number;

  constructor(private readonly options: OpenAiModelOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_MODEL_TIMEOUT_MS;
    this.info = { provider: 'openai', model: options.model, label: `OpenAI-compatible model ${options.model}` };
    this.client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey, maxRetries: 0, timeout: this.timeoutMs });
  }

  async complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.withDeadline(request, async (signal) => {
      const completion: ChatCompletion = await this.client.chat.completions.create({ ...this.params(request), stream: false }, { signal });
      const choice = completion.choices[0];
      if (!choice) throw new FlotillaError(ErrorCode.ModelFailed, `${this.options.model} returned no choices`, { retryable: false });
      const toolCalls = (choice.message.tool_calls ?? []).flatMap((c) => functionCall(c));
      return this.result(request, {
        text: choice.message.content ?? '',
        toolCalls: toolCalls.map((c) => ({ name: c.name, arguments: parseArguments(c.name, c.arguments) })),
        usage: { promptTokens: completion.usage?.prompt_tokens ?? 0, completionTokens: completion.usage?.completion_tokens ?? 0 },
        finishReason: choice.finish_reason,
      });
    });
  }

  async stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult> {
    return this.withDeadline(request, async (signal) => {
      const stream = await this.client.chat.completions.create(
        { ...this.params(request), stream: true, stream_options: { include_usage: true } },
        { signal },
      );
      let text = '';
      let finishReason: string | undefined;
      let usage = { promptTokens: 0, completionTokens: 0 };
      const calls = new Map<number, { name: string; arguments: string }>();
      for await (const chunk of stream) {
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
        const choice = chunk.choices[0];
        if (!choice) continue;
        const content = choice.delta.content;
        if (content) {
          text += content;
          await onToken(content);
        }
        for (const delta of choice.delta.tool_calls ?? []) {
          const call = calls.get(delta.index) ?? { name: '', arguments: '' };
          if (delta.function?.name) call.name += delta.function.name;
          if (delta.function?.arguments) call.arguments += delta.function.arguments;
          calls.set(delta.index, call);
        }
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
      // The SDK ends the iteration quietly when the request is aborted; a stream that stops without a
      // finish reason is an incomplete answer, not a short one.
      if (signal.aborted) throw abortedError(request.signal, this.timeoutMs);
      if (finishReason === undefined) {
        throw new FlotillaError(ErrorCode.DependencyUnavailable, `${this.options.model} stream ended before the answer was finished`, { retryable: true });
      }
      const toolCalls = [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => ({ name: c.name, arguments: parseArguments(c.name, c.arguments) }));
      return this.result(request, { text, toolCalls, usage, finishReason });
    });
  }

  private params(request: CompletionRequest): ChatCompletionCreateParamsBase {
    const messages: ChatCompletionMessageParam[] = request.messages.map((m) => ({ role: m.role, content: m.content }));
    const tools: ChatCompletionTool[] | undefined = request.tools?.map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    return {
      model: this.options.model,
      messages,
      ...(tools?.length ? { tools } : {}),
      ...(request.toolChoice ? { tool_choice: { type: 'function', function: { name: request.toolChoice.name } } } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      // `max_tokens` rather than `max_completion_tokens`: every OpenAI-compatible server accepts it.
      ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
    };
  }

  private result(request: CompletionRequest, r: Omit<CompletionResult, 'model'>): CompletionResult {
    const forced = request.toolChoice?.name;
    if (forced && !r.toolCalls.some((c) => c.name === forced)) {
      throw new FlotillaError(ErrorCode.ModelFailed, `${this.options.model} did not call the required tool ${forced}`, { retryable: false });
    }
    return { ...r, model: this.info };
  }

  private withDeadline<T>(request: CompletionRequest, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withDeadline(this.options.model, this.timeoutMs, request.signal, call);
  }
}

/**
 * Runs one SDK call under the caller's signal and a whole-call deadline, mapping every failure to a
 * FlotillaError that says whether retrying can help. Shared by the chat and embeddings adapters.
 */
export async function withDeadline<T>(model: string, timeoutMs: number, callerSignal: AbortSignal | undefined, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  // The platform's timer signal, handed to the SDK with the caller's: the request itself is cancelled.
  const timer = AbortSignal.timeout(timeoutMs);
  const signal = callerSignal ? AbortSignal.any([callerSignal, timer]) : timer;
  try {
    return await call(signal);
  } catch (err) {
    if (err instanceof FlotillaError) throw err;
    // The caller first: its signal may carry the router's own, more precise, reason.
    if (callerSignal?.aborted) throw abortedError(callerSignal, timeoutMs, err);
    if (timer.aborted) throw timeoutError(model, timeoutMs, err);
    throw toFlotillaError(err, model);
  }
}

function functionCall(call: ChatCompletionMessageToolCall): { name: string; arguments: string }[] {
  return call.type === 'function' ? [{ name: call.function.name, arguments: call.function.arguments }] : [];
}

/** Tool arguments are JSON text from the model; anything but a JSON object is the model's failure. */
function parseArguments(name: string, raw: string): ToolCall['arguments'] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw === '' ? '{}' : raw);
  } catch (err) {
    throw new FlotillaError(ErrorCode.ModelFailed, `tool call ${name} has invalid JSON arguments: ${(err as Error).message}`, { retryable: false, cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FlotillaError(ErrorCode.ModelFailed, `tool call ${name} arguments are not a JSON object`, { retryable: false });
  }
  return parsed as Record<string, unknown>;
}

function timeoutError(model: string, timeoutMs: number, cause?: unknown): FlotillaError {
  return new FlotillaError(ErrorCode.Timeout, `${model} did not answer within ${timeoutMs} ms`, { retryable: true, cause });
}

function abortedError(callerSignal: AbortSignal | undefined, timeoutMs: number, cause?: unknown): FlotillaError {
  if (!callerSignal?.aborted) return new FlotillaError(ErrorCode.Timeout, `model call exceeded ${timeoutMs} ms`, { retryable: true, cause });
  return new FlotillaError(ErrorCode.Timeout, 'model call aborted by the caller', { retryable: true, cause: cause ?? callerSignal.reason });
}

/** Maps an SDK failure to a FlotillaError that says whether retrying can help. */
export function toFlotillaError(err: unknown, model: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  if (err instanceof APIUserAbortError) return new FlotillaError(ErrorCode.Timeout, `${model} call aborted`, { retryable: true, cause: err });
  if (err instanceof APIConnectionTimeoutError) return new FlotillaError(ErrorCode.Timeout, `${model} timed out`, { retryable: true, cause: err });
  if (err instanceof APIConnectionError) return new FlotillaError(ErrorCode.DependencyUnavailable, `${model} is unreachable: ${err.message}`, { retryable: true, cause: err });
  if (err instanceof APIError) {
    const status = err.status;
    const message = `${model} call failed${status !== undefined ? ` with HTTP ${status}` : ''}: ${err.message}`;
    // An error event inside a stream has no status: the provider failed mid-answer.
    if (status === undefined) return new FlotillaError(ErrorCode.DependencyUnavailable, message, { retryable: true, cause: err });
    if (status === 429) return new ModelRateLimitedError(message, parseRetryAfter(err.headers), { cause: err });
    if (status === 408) return new FlotillaError(ErrorCode.Timeout, message, { retryable: true, cause: err });
    if (status === 409 || status >= 500) return new FlotillaError(ErrorCode.DependencyUnavailable, message, { retryable: true, cause: err });
    return new FlotillaError(ErrorCode.ModelFailed, message, { retryable: false, cause: err });
  }
  // Anything else failed between us and the provider (a dropped connection mid-stream, say).
  const message = err instanceof Error ? err.message : String(err);
  return new FlotillaError(ErrorCode.DependencyUnavailable, `${model} call failed: ${message}`, { retryable: true, cause: err });
}
