import { BeforeApplicationShutdown, HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { Principal } from '@flotilla/auth';
import { FlotillaConfig } from '@flotilla/config';
import { CounterStore, createCounterStore, ManagedCounterStore } from '@flotilla/memory';
import { CONFIG } from '@flotilla/platform';

const WINDOW_MS = 60_000;

export class RateLimited extends HttpException {
  constructor(readonly scope: 'tenant' | 'user', readonly limit: number, readonly retryAfterSeconds: number) {
    super({
      statusCode: 429, error: 'Too Many Requests', code: 'RATE_LIMITED', scope, limit, retryAfterSeconds,
      message: `more than ${limit} submissions per minute for this ${scope}; try again in ${retryAfterSeconds} s`,
    }, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** The outcome of one sliding-window check. */
export interface WindowCheck {
  allowed: boolean;
  /** Requests in the last minute, as the sliding window estimates it (this one included). */
  estimate: number;
  retryAfterSeconds: number;
}

/**
 * One sliding-window counter (the weighted sum of the previous and current fixed minute) on the
 * shared counter store, so a limit holds across every gateway replica. The current minute is counted
 * with an insert-only add (docs/adr/0004); the previous one is read. Refused attempts are counted
 * too: a client that keeps hammering stays refused, one that waits Retry-After gets through.
 */
export async function slidingWindow(counters: CounterStore, key: string, limit: number, now: number): Promise<WindowCheck> {
  const index = Math.floor(now / WINDOW_MS);
  const elapsed = (now - index * WINDOW_MS) / WINDOW_MS;
  const [current, previous] = await Promise.all([
    counters.add(`${key}:${index}`, 1, 2 * WINDOW_MS + 5_000),
    counters.get(`${key}:${index - 1}`),
  ]);
  const estimate = previous * (1 - elapsed) + current;
  if (estimate <= limit) return { allowed: true, estimate, retryAfterSeconds: 0 };
  // When would one more request fit, if no other came? Within this minute once the previous
  // minute's weight has decayed enough; otherwise in the next minute, as this one decays.
  let waitMs: number;
  if (current + 1 <= limit && previous > 0) {
    const needed = 1 - (limit - current - 1) / previous;
    waitMs = (needed - elapsed) * WINDOW_MS;
  } else {
    const needed = current > 0 ? Math.max(0, 1 - (limit - 1) / current) : 0;
    waitMs = (index + 1) * WINDOW_MS - now + needed * WINDOW_MS;
  }
  return { allowed: false, estimate, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}

/**
 * Submissions (REST `POST /v1/workflows` and WebSocket asks) per tenant and per user, per minute,
 * across all replicas (RATE_LIMIT_TENANT_PER_MINUTE, RATE_LIMIT_USER_PER_MINUTE; 0 = off). The user
 * is the credential's (JWT subject, or the API key), or for anonymous development requests the
 * `userId` they name. The user is checked first, so one user's refused attempts never use up the
 * tenant's allowance.
 */
@Injectable()
export class RateLimiter implements BeforeApplicationShutdown {
  private readonly counters: ManagedCounterStore;

  constructor(@Inject(CONFIG) private readonly config: FlotillaConfig) {
    this.counters = createCounterStore(config);
  }

  /** Throws RateLimited when the user or the tenant is over its limit. */
  async admit(principal: Principal, namedUser?: string, now = Date.now()): Promise<void> {
    const userLimit = this.config.RATE_LIMIT_USER_PER_MINUTE;
    const tenantLimit = this.config.RATE_LIMIT_TENANT_PER_MINUTE;
    const user = principal.userId ? `u:${principal.userId}` : principal.keyId ? `k:${principal.keyId}` : namedUser ? `u:${namedUser}` : undefined;
    if (userLimit > 0 && user) {
      const check = await slidingWindow(this.counters, `rl:user:${principal.tenantId}:${user}`, userLimit, now);
      if (!check.allowed) throw new RateLimited('user', userLimit, check.retryAfterSeconds);
    }
    if (tenantLimit > 0) {
      const check = await slidingWindow(this.counters, `rl:tenant:${principal.tenantId}`, tenantLimit, now);
      if (!check.allowed) throw new RateLimited('tenant', tenantLimit, check.retryAfterSeconds);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.counters.close();
  }
}

/**
 * Frames per WebSocket connection: a token bucket (WS_MESSAGES_PER_SECOND, WS_MESSAGE_BURST) kept
 * with the connection — a connection lives on one replica, so nothing needs sharing.
 */
export class FrameRateLimiter {
  private tokens: number;
  private last: number;

  constructor(private readonly perSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one frame's token; when there is none, how many seconds until there is one. */
  take(): { ok: true } | { ok: false; retryAfterSeconds: number } {
    if (this.perSecond <= 0) return { ok: true };
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - this.tokens) / this.perSecond)) };
  }
}
