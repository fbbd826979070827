import { ErrorCode, FlotillaError } from '@flotilla/common';
import { Clock, systemClock } from './clock';
import { CounterStore } from './counter-store';

const DAY_MS = 86_400_000;

export interface TenantBudgetOptions {
  counters: CounterStore;
  /** Tokens a tenant may use per UTC day; 0 = unlimited (TENANT_DAILY_TOKEN_BUDGET). */
  dailyLimit: number;
  clock?: Clock;
  /** Counter key prefix (default `llm:tenant`). */
  keyPrefix?: string;
}

/** The outcome of a {@link TenantBudget.check}. */
export interface TenantBudgetCheck {
  allowed: boolean;
  /** Tokens the tenant has used today (UTC). */
  used: number;
  /** The daily limit; 0 = unlimited. */
  limit: number;
  /** When refused: ms until the next UTC midnight, when the budget starts again; else 0. */
  retryAfterMs: number;
}

/**
 * Tokens per tenant per UTC day, on the shared {@link CounterStore} so every replica sees the same
 * total. The gateway calls `check` at admission and answers 429 when it is not allowed; the model
 * router `charge`s each call's actual usage. A tenant can overshoot by the calls already admitted
 * when it crosses the limit — admission is the gate, not each model call, so a workflow that was
 * let in is allowed to finish.
 */
export class TenantBudget {
  private readonly counters: CounterStore;
  private readonly clock: Clock;
  private readonly prefix: string;
  readonly dailyLimit: number;

  constructor(options: TenantBudgetOptions) {
    if (!Number.isInteger(options.dailyLimit) || options.dailyLimit < 0) {
      throw new FlotillaError(ErrorCode.ConfigInvalid, 'tenant daily token budget must be a whole number >= 0', { retryable: false });
    }
    this.counters = options.counters;
    this.clock = options.clock ?? systemClock;
    this.prefix = options.keyPrefix ?? 'llm:tenant';
    this.dailyLimit = options.dailyLimit;
  }

  async check(tenantId: string): Promise<TenantBudgetCheck> {
    const now = this.clock.now();
    const used = await this.counters.get(this.key(tenantId, now));
    const allowed = this.dailyLimit === 0 || used < this.dailyLimit;
    return { allowed, used, limit: this.dailyLimit, retryAfterMs: allowed ? 0 : nextMidnight(now) - now };
  }

  /** Adds `tokens` to the tenant's usage today; returns the new total. */
  async charge(tenantId: string, tokens: number): Promise<number> {
    const now = this.clock.now();
    const amount = Math.max(0, Math.round(tokens));
    // The counter lives until the day is over, plus an hour for clocks that run behind.
    return this.counters.add(this.key(tenantId, now), amount, nextMidnight(now) - now + 3_600_000);
  }

  private key(tenantId: string, now: number): string {
    return `${this.prefix}:${tenantId}:${new Date(now).toISOString().slice(0, 10)}`;
  }
}

function nextMidnight(now: number): number {
  return (Math.floor(now / DAY_MS) + 1) * DAY_MS;
}
