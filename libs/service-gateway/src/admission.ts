import { BeforeApplicationShutdown, HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { FlotillaConfig } from '@flotilla/config';
import { TenantBudget } from '@flotilla/llm';
import { createCounterStore, ManagedCounterStore } from '@flotilla/memory';
import { CONFIG } from '@flotilla/platform';

export class TenantOverBudget extends HttpException {
  constructor(readonly tenantId: string, readonly used: number, readonly limit: number, readonly retryAfterMs: number) {
    super({ statusCode: 429, error: 'Too Many Requests', code: 'TENANT_TOKEN_BUDGET', message: `tenant ${tenantId} has used ${used} of its ${limit} tokens today; try again after the daily reset`, retryAfterSeconds: Math.ceil(retryAfterMs / 1000) }, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/**
 * Admission: a tenant past its daily token budget (TENANT_DAILY_TOKEN_BUDGET, counted by the model
 * router on the shared counter store, so it holds across every replica) gets a 429 saying why,
 * before any work is queued for it.
 */
@Injectable()
export class Admission implements BeforeApplicationShutdown {
  private readonly counters: ManagedCounterStore;
  private readonly budget: TenantBudget;

  constructor(@Inject(CONFIG) config: FlotillaConfig) {
    this.counters = createCounterStore(config);
    this.budget = new TenantBudget({ counters: this.counters, dailyLimit: config.TENANT_DAILY_TOKEN_BUDGET });
  }

  async admit(tenantId: string): Promise<void> {
    const check = await this.budget.check(tenantId);
    if (!check.allowed) throw new TenantOverBudget(tenantId, check.used, check.limit, check.retryAfterMs);
  }

  /** Tokens the tenant used today (UTC) and its daily limit (0 = unlimited). */
  async usage(tenantId: string): Promise<{ tenantId: string; tokensToday: number; dailyLimit: number }> {
    const check = await this.budget.check(tenantId);
    return { tenantId, tokensToday: check.used, dailyLimit: check.limit };
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.counters.close();
  }
}
