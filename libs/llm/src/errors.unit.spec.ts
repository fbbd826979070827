import { ErrorCode } from '@flotilla/common';
import { ModelRateLimitedError, parseRetryAfter, retryAfterMs } from './errors';

const headers = (h: Record<string, string>): Headers => new Headers(h);

describe('parseRetryAfter', () => {
  it('reads retry-after-ms, then Retry-After seconds, then an HTTP date', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
    expect(parseRetryAfter(headers({ 'retry-after': '2' }))).toBe(2000);
    expect(parseRetryAfter(headers({ 'retry-after': 'Sat, 21 Nov 2026 00:00:05 GMT' }), Date.parse('2026-11-21T00:00:00Z'))).toBe(5000);
    expect(parseRetryAfter(headers({}))).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('a rate-limit error is retryable and carries its wait in JSON', () => {
    const err = new ModelRateLimitedError('slow down', 1500);
    expect(err).toMatchObject({ code: ErrorCode.RateLimited, retryable: true, retryAfterMs: 1500 });
    expect(err.toJSON()).toEqual({ code: ErrorCode.RateLimited, message: 'slow down', retryable: true, retryAfterMs: 1500 });
    expect(retryAfterMs(err)).toBe(1500);
    expect(retryAfterMs(new Error('x'))).toBeUndefined();
  });
});
