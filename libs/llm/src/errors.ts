import { ErrorCode, FieldError, FlotillaError } from '@flotilla/common';

/**
 * A provider refused the call for rate limiting. Carries how long it asked us to wait, so the retry
 * path can honour it instead of guessing a backoff.
 */
export class ModelRateLimitedError extends FlotillaError {
  constructor(
    message: string,
    /** From the response's `retry-after-ms` / `Retry-After` header, when it sent one. */
    readonly retryAfterMs: number | undefined,
    options: { cause?: unknown } = {},
  ) {
    super(ErrorCode.RateLimited, message, { retryable: true, cause: options.cause });
    this.name = 'ModelRateLimitedError';
  }

  override toJSON(): { code: ErrorCode; message: string; retryable: boolean; fields?: FieldError[]; retryAfterMs?: number } {
    return { ...super.toJSON(), ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}) };
  }
}

/** How long an error asks the caller to wait before retrying, if it says. */
export function retryAfterMs(err: unknown): number | undefined {
  return err instanceof ModelRateLimitedError ? err.retryAfterMs : undefined;
}

/**
 * Reads `retry-after-ms` (OpenAI's own) or `Retry-After` (seconds or an HTTP date) into
 * milliseconds. `now` is only used for the HTTP-date form.
 */
export function parseRetryAfter(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.round(Number(ms));
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Which of a model call's time limits ran out. */
export type ModelTimeoutLimit =
  /** Streaming: no text token arrived in time (the provider hangs before it starts answering). */
  | 'first-token'
  /** Streaming: after some tokens, the stream went silent (the provider stalled mid-answer). */
  | 'idle'
  /**
   * The whole attempt took too long: the attempt timeout (whole-response calls only), or the time
   * left before the call's deadline (any call).
   */
  | 'attempt';

/**
 * One model did not answer in time. Retryable, and counted as that model's failure by its circuit
 * breaker: a hang is the provider's condition, not the request's, so the same request may succeed on
 * the next model of the chain, or on this one later.
 */
export class ModelTimeoutError extends FlotillaError {
  constructor(
    message: string,
    /** The model's name in routes. */
    readonly model: string,
    readonly limit: ModelTimeoutLimit,
    /** The time the attempt was given for that limit. */
    readonly timeoutMs: number,
    options: { cause?: unknown } = {},
  ) {
    super(ErrorCode.Timeout, message, { retryable: true, cause: options.cause });
    this.name = 'ModelTimeoutError';
  }

  override toJSON(): { code: ErrorCode; message: string; retryable: boolean; fields?: FieldError[]; model: string; limit: ModelTimeoutLimit; timeoutMs: number } {
    return { ...super.toJSON(), model: this.model, limit: this.limit, timeoutMs: this.timeoutMs };
  }
}
