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
