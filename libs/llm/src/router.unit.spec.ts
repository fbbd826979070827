import { ErrorCode, FlotillaError } from '@flotilla/common';
import { SimulatedClock } from './clock';
import { CounterStore, InMemoryCounterStore } from './counter-store';
import { ModelRateLimitedError } from './errors';
import { ModelRoutes } from './model-config';
import { CompletionRequest, CompletionResult, LanguageModel, ModelInfo } from './port';
import { InMemoryResponseCache } from './response-cache';
import { ModelRouter, ModelRouterOptions, RoutedModel } from './router';
import { TenantBudget } from './tenant-budget';

type Step =
  | { answer: string; promptTokens?: number; completionTokens?: number; tokens?: string[]; tookMs?: number }
  | { fail: FlotillaError; afterTokens?: string[] };

/** A model that plays a script, one step per call (the last step repeats). */
class ScriptedModel implements LanguageModel {
  readonly info: ModelInfo;
  calls: CompletionRequest[] = [];

  constructor(name: string, private readonly steps: Step[], private readonly clock?: SimulatedClock) {
    this.info = { provider: name === 'local' ? 'local' : 'openai', model: name, label: name };
  }

  complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.stream(request, () => undefined);
  }

  async stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult> {
    this.calls.push(request);
    const step = this.steps[Math.min(this.calls.length - 1, this.steps.length - 1)]!;
    if ('fail' in step) {
      for (const t of step.afterTokens ?? []) await onToken(t);
      throw step.fail;
    }
    if (step.tookMs) {
      await this.clock!.sleep(step.tookMs, request.signal);
      if (request.signal?.aborted) throw new FlotillaError(ErrorCode.Timeout, 'aborted', { retryable: true });
    }
    for (const t of step.tokens ?? [step.answer]) await onToken(t);
    return {
      text: step.answer, toolCalls: [], model: this.info,
      usage: { promptTokens: step.promptTokens ?? 100, completionTokens: step.completionTokens ?? 20 }, finishReason: 'stop',
    };
  }
}

const unavailable = (): FlotillaError => new FlotillaError(ErrorCode.DependencyUnavailable, 'HTTP 503', { retryable: true });
const badRequest = (): FlotillaError => new FlotillaError(ErrorCode.ModelFailed, 'HTTP 400: invalid schema', { retryable: false });
const ask = (extra: Partial<CompletionRequest> = {}): CompletionRequest => ({
  purpose: 'compose', tier: 'complex', messages: [{ role: 'user', content: 'Where is my order?' }], ...extra,
});
const routes = (chain: string[]): ModelRoutes => ({ simple: chain, complex: chain, critical: chain });

function router(models: RoutedModel[], chain: string[], extra: Partial<ModelRouterOptions> = {}): ModelRouter {
  return new ModelRouter({ models, routes: routes(chain), ...extra });
}

describe('ModelRouter', () => {
  it('follows the chain pinned at workflow start, not the one deployed since; unknown pinned models are skipped', async () => {
    const a = new ScriptedModel('model-a', [{ answer: 'from a' }]);
    const b = new ScriptedModel('model-b', [{ answer: 'from b' }]);
    const r = router([{ name: 'model-a', model: a }, { name: 'model-b', model: b }], ['model-b']);
    expect((await r.complete(ask({ cache: false }))).model.model).toBe('model-b');
    expect((await r.complete(ask({ cache: false, routes: { complex: ['model-a'] } }))).model.model).toBe('model-a');
    expect((await r.complete(ask({ cache: false, routes: { complex: ['retired-model', 'model-a'] } }))).model.model).toBe('model-a');
    expect((await r.complete(ask({ cache: false, routes: { complex: ['retired-model'] } }))).model.model).toBe('model-b');
  });

  it('routes each tier to its own chain and says which model answered', async () => {
    const small = new ScriptedModel('small', [{ answer: 'from small' }]);
    const large = new ScriptedModel('large', [{ answer: 'from large' }]);
    const r = new ModelRouter({ models: [{ name: 'small', model: small }, { name: 'large', model: large }], routes: { simple: ['small'], complex: ['large'], critical: ['large', 'small'] } });
    expect((await r.complete(ask({ tier: 'simple' }))).model.model).toBe('small');
    expect((await r.complete(ask({ tier: 'critical' }))).model.model).toBe('large');
    expect(r.info.model).toBe('large');
  });

  it.each([
    ['rate limited', new ModelRateLimitedError('HTTP 429', 2000)],
    ['unavailable', unavailable()],
    ['timed out', new FlotillaError(ErrorCode.Timeout, 'timed out', { retryable: true })],
  ])('falls back to the next model when the first is %s', async (_name, error) => {
    const primary = new ScriptedModel('primary', [{ fail: error }]);
    const local = new ScriptedModel('local', [{ answer: 'local answer' }]);
    const result = await router([{ name: 'primary', model: primary }, { name: 'local', model: local }], ['primary', 'local']).complete(ask());
    expect(result).toMatchObject({ text: 'local answer', model: { model: 'local' } });
    expect(primary.calls).toHaveLength(1);
  });

  it('does not fall back on a non-retryable failure such as a rejected request', async () => {
    const primary = new ScriptedModel('primary', [{ fail: badRequest() }]);
    const local = new ScriptedModel('local', [{ answer: 'local answer' }]);
    await expect(router([{ name: 'primary', model: primary }, { name: 'local', model: local }], ['primary', 'local']).complete(ask()))
      .rejects.toMatchObject({ code: ErrorCode.ModelFailed, retryable: false });
    expect(local.calls).toHaveLength(0);
  });

  it('fails RateLimited with the earliest retryAfterMs when no model is left', async () => {
    const a = new ScriptedModel('a', [{ fail: new ModelRateLimitedError('429', 5000) }]);
    const b = new ScriptedModel('b', [{ fail: new ModelRateLimitedError('429', 2000) }]);
    const err: unknown = await router([{ name: 'a', model: a }, { name: 'b', model: b }], ['a', 'b']).complete(ask()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelRateLimitedError);
    expect(err).toMatchObject({ code: ErrorCode.RateLimited, retryable: true, retryAfterMs: 2000 });
    expect((err as Error).message).toContain('a: 429; b: 429');
  });

  it('opens a model\'s circuit after consecutive failures, skips it, and probes it again after halfOpenAfter', async () => {
    let now = Date.UTC(2026, 10, 21);
    const spy = jest.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      const flaky = new ScriptedModel('flaky', [{ fail: unavailable() }, { fail: unavailable() }, { answer: 'recovered' }]);
      const local = new ScriptedModel('local', [{ answer: 'local answer' }]);
      const r = router([{ name: 'flaky', model: flaky }, { name: 'local', model: local }], ['flaky', 'local'], { breaker: { consecutiveFailures: 2, halfOpenAfterMs: 10_000 } });
      await r.complete(ask());
      expect(r.status()[0]!.breaker).toBe('closed');
      await r.complete(ask());
      expect(r.status()[0]).toMatchObject({ model: 'flaky', breaker: 'open', lastFailure: 'HTTP 503', openedAt: new Date(now).toISOString() });
      expect((await r.complete(ask())).model.model).toBe('local');
      expect(flaky.calls).toHaveLength(2); // skipped while open
      now += 10_000;
      expect((await r.complete(ask())).text).toBe('recovered');
      expect(r.status()[0]!.breaker).toBe('closed');
    } finally {
      spy.mockRestore();
    }
  });

  it('does not count failures that are not the model\'s fault towards opening its circuit', async () => {
    const model = new ScriptedModel('m', [{ fail: badRequest() }]);
    const r = router([{ name: 'm', model }], ['m'], { breaker: { consecutiveFailures: 1 } });
    await expect(r.complete(ask())).rejects.toMatchObject({ code: ErrorCode.ModelFailed });
    expect(r.status()[0]!.breaker).toBe('closed');
  });

  describe('streaming', () => {
    it('falls back before the first token', async () => {
      const primary = new ScriptedModel('primary', [{ fail: unavailable() }]);
      const local = new ScriptedModel('local', [{ answer: 'Hello there', tokens: ['Hello ', 'there'] }]);
      const tokens: string[] = [];
      const result = await router([{ name: 'primary', model: primary }, { name: 'local', model: local }], ['primary', 'local']).stream(ask(), (t) => void tokens.push(t));
      expect(tokens).toEqual(['Hello ', 'there']);
      expect(result.model.model).toBe('local');
    });

    it('does not fall back once tokens were emitted: the answer would be spliced from two models', async () => {
      const primary = new ScriptedModel('primary', [{ fail: unavailable(), afterTokens: ['Your order '] }]);
      const local = new ScriptedModel('local', [{ answer: 'Something else' }]);
      const tokens: string[] = [];
      await expect(router([{ name: 'primary', model: primary }, { name: 'local', model: local }], ['primary', 'local']).stream(ask(), (t) => void tokens.push(t)))
        .rejects.toMatchObject({ code: ErrorCode.DependencyUnavailable });
      expect(tokens).toEqual(['Your order ']);
      expect(local.calls).toHaveLength(0);
    });
  });

  describe('budgets', () => {
    function budgeted(clock: SimulatedClock, rpm: number): { r: ModelRouter; big: ScriptedModel; small: ScriptedModel } {
      const big = new ScriptedModel('big', [{ answer: 'big answer' }]);
      const small = new ScriptedModel('small', [{ answer: 'small answer' }]);
      const r = router([{ name: 'big', model: big, limits: { rpm, tpm: 0 } }, { name: 'small', model: small }], ['big', 'small'], {
        clock, counters: new InMemoryCounterStore(clock), headroom: 0, budget: { wakeJitterMs: 0 },
      });
      return { r, big, small };
    }

    it('degrades to the next model at once when the budget cannot be had before the deadline', async () => {
      const clock = new SimulatedClock();
      const { r, big, small } = budgeted(clock, 1);
      expect((await clock.run(r.complete(ask()))).model.model).toBe('big');
      const t0 = clock.now();
      const result = await clock.run(r.complete(ask({ deadlineMs: t0 + 10_000 })));
      expect(result.model.model).toBe('small');
      expect(clock.now()).toBe(t0);
      expect([big.calls.length, small.calls.length]).toEqual([1, 1]);
    });

    it('waits for the budget when there is no deadline', async () => {
      const clock = new SimulatedClock();
      const { r } = budgeted(clock, 1);
      await clock.run(r.complete(ask()));
      const t0 = clock.now();
      expect((await clock.run(r.complete(ask()))).model.model).toBe('big');
      expect(clock.now() - t0).toBeGreaterThanOrEqual(60_000);
    });

    it('fails RateLimited with retryAfterMs when no model of the chain has budget before the deadline', async () => {
      const clock = new SimulatedClock();
      const only = new ScriptedModel('only', [{ answer: 'a' }]);
      const r = router([{ name: 'only', model: only, limits: { rpm: 1, tpm: 0 } }], ['only'], { clock, counters: new InMemoryCounterStore(clock), headroom: 0, budget: { wakeJitterMs: 0 } });
      await clock.run(r.complete(ask()));
      await clock.advance(20_000);
      await expect(clock.run(r.complete(ask({ deadlineMs: clock.now() + 5_000 }))))
        .rejects.toMatchObject({ code: ErrorCode.RateLimited, retryAfterMs: 41_000 });
    });

    it('skips a budgeted model when the shared counter store is down, rather than calling it unmetered', async () => {
      const down: CounterStore = {
        add: () => Promise.reject(new FlotillaError(ErrorCode.DependencyUnavailable, 'counter store unreachable', { retryable: true })),
        get: () => Promise.reject(new FlotillaError(ErrorCode.DependencyUnavailable, 'counter store unreachable', { retryable: true })),
      };
      const big = new ScriptedModel('big', [{ answer: 'big answer' }]);
      const small = new ScriptedModel('small', [{ answer: 'small answer' }]);
      const r = router([{ name: 'big', model: big, limits: { rpm: 10, tpm: 0 } }, { name: 'small', model: small }], ['big', 'small'], { counters: down });
      expect((await r.complete(ask())).model.model).toBe('small');
      expect(big.calls).toHaveLength(0);
    });

    it('aborts a call still running at its deadline when its model is the last of the chain', async () => {
      const clock = new SimulatedClock();
      const slow = new ScriptedModel('slow', [{ answer: 'late', tookMs: 20_000 }], clock);
      const r = router([{ name: 'slow', model: slow }], ['slow'], { clock, timeouts: { attemptMs: 30_000 } });
      const t0 = clock.now();
      await expect(clock.run(r.complete(ask({ deadlineMs: t0 + 5_000 })))).rejects.toMatchObject({ code: ErrorCode.Timeout, retryable: true });
      expect(clock.now() - t0).toBe(5_000);
    });

    it('stops a slow model early enough for the next one to answer before the deadline', async () => {
      const clock = new SimulatedClock();
      const slow = new ScriptedModel('slow', [{ answer: 'late', tookMs: 20_000 }], clock);
      const local = new ScriptedModel('local', [{ answer: 'local' }]);
      const r = router([{ name: 'slow', model: slow }, { name: 'local', model: local }], ['slow', 'local'], { clock, timeouts: { attemptMs: 30_000, fallbackReserveMs: 1_000 } });
      const t0 = clock.now();
      expect((await clock.run(r.complete(ask({ deadlineMs: t0 + 5_000 })))).model.model).toBe('local');
      expect(clock.now() - t0).toBe(4_000);
    });
  });

  describe('cache and accounting', () => {
    function cached(): { r: ModelRouter; model: ScriptedModel; tenant: TenantBudget; counters: InMemoryCounterStore } {
      const model = new ScriptedModel('m', [{ answer: 'Hello there', tokens: ['Hello ', 'there'], promptTokens: 1_000, completionTokens: 500 }]);
      const counters = new InMemoryCounterStore();
      const tenant = new TenantBudget({ counters, dailyLimit: 10_000 });
      const r = router([{ name: 'm', model, prices: { inputPer1M: 0.15, outputPer1M: 0.6 } }], ['m'], { cache: new InMemoryResponseCache(), tenantBudget: tenant, counters });
      return { r, model, tenant, counters };
    }

    it('prices every answer and charges the tenant', async () => {
      const { r, tenant } = cached();
      const result = await r.complete(ask({ tenantId: 'acme' }));
      expect(result.usage).toEqual({ promptTokens: 1_000, completionTokens: 500, costUsd: 0.00045 });
      expect(await tenant.check('acme')).toMatchObject({ used: 1_500 });
    });

    it('answers a repeated temperature-0 call from the cache, free and marked', async () => {
      const { r, model, tenant } = cached();
      const first = await r.complete(ask({ temperature: 0, tenantId: 'acme' }));
      const second = await r.complete(ask({ temperature: 0, tenantId: 'acme' }));
      expect(model.calls).toHaveLength(1);
      expect(first.cached).toBeUndefined();
      expect(second).toEqual({ ...first, cached: true, usage: { promptTokens: 0, completionTokens: 0, costUsd: 0 } });
      expect(await tenant.check('acme')).toMatchObject({ used: 1_500 });
    });

    it('replays a cached answer through onToken when streaming', async () => {
      const { r } = cached();
      await r.complete(ask({ temperature: 0 }));
      const tokens: string[] = [];
      const result = await r.stream(ask({ temperature: 0 }), (t) => void tokens.push(t));
      expect(result.cached).toBe(true);
      expect(tokens.join('')).toBe('Hello there');
    });

    it('does not cache calls at other temperatures, or when the request says not to', async () => {
      const { r, model } = cached();
      await r.complete(ask({ temperature: 0.7 }));
      await r.complete(ask({ temperature: 0.7 }));
      await r.complete(ask({ temperature: 0, cache: false }));
      await r.complete(ask({ temperature: 0, cache: false }));
      expect(model.calls).toHaveLength(4);
    });
  });

  it('refuses routes to models it does not have', () => {
    expect(() => router([{ name: 'a', model: new ScriptedModel('a', []) }], ['b'])).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }) as Error);
  });
});
