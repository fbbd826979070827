import { ErrorCode } from '@flotilla/common';
import { SimulatedClock } from './clock';
import { InMemoryCounterStore } from './counter-store';
import { BudgetGrant, estimateTokens, RateBudget, RateBudgetOptions, Reservation } from './rate-budget';

const START = Date.UTC(2026, 10, 21, 9, 0, 0);

function setup(overrides: Partial<RateBudgetOptions> = {}, replicas = 1): { clock: SimulatedClock; store: InMemoryCounterStore; budgets: RateBudget[] } {
  const clock = new SimulatedClock(START);
  const store = new InMemoryCounterStore(clock);
  const budgets = Array.from({ length: replicas }, () => new RateBudget({
    model: 'm', limits: { rpm: 10, tpm: 100_000 }, counters: store, clock, headroom: 0, wakeJitterMs: 0, ...overrides,
  }));
  return { clock, store, budgets };
}

function granted(grant: BudgetGrant): Reservation {
  if (!grant.ok) throw new Error(`expected budget, got ${JSON.stringify(grant)}`);
  return grant.reservation;
}

/** Tries to acquire without waiting: a deadline of now means "only if it is there already". */
async function tryNow(budget: RateBudget, clock: SimulatedClock, tokens = 10, lane: 'interactive' | 'batch' = 'interactive'): Promise<BudgetGrant> {
  return clock.run(budget.acquire({ tokens, lane, deadlineMs: clock.now() + 1 }));
}

describe('estimateTokens', () => {
  it('is prompt characters / 4 plus the completion limit (512 when unset)', () => {
    expect(estimateTokens(400, 100)).toBe(200);
    expect(estimateTokens(401, undefined)).toBe(101 + 512);
  });
});

describe('RateBudget', () => {
  it('admits up to the limit less the headroom in a minute, then refuses', async () => {
    const { clock, budgets: [budget] } = setup({ headroom: 0.1 });
    expect(budget!.effective).toEqual({ rpm: 9, tpm: 90_000 });
    const grants = [];
    for (let i = 0; i < 10; i++) grants.push(await tryNow(budget!, clock));
    expect(grants.filter((g) => g.ok)).toHaveLength(9);
    expect(grants[9]).toMatchObject({ ok: false, reason: 'deadline' });
  });

  it('counts a sliding minute: budget used at 0:59 is not available again at 1:00 the way a fixed window would allow', async () => {
    const { clock, budgets: [budget] } = setup();
    await clock.advance(59_500);
    for (let i = 0; i < 10; i++) granted(await tryNow(budget!, clock));
    await clock.advance(1_000); // 1:00.5 — a new fixed minute
    expect(await tryNow(budget!, clock)).toMatchObject({ ok: false });
    await clock.advance(59_000); // 1:59.5: the calls of 0:59 are a minute old only at 2:00
    expect(await tryNow(budget!, clock)).toMatchObject({ ok: false });
    await clock.advance(600); // 2:00.1
    expect((await tryNow(budget!, clock)).ok).toBe(true);
  });

  it('waits for budget instead of failing when there is no deadline', async () => {
    const { clock, budgets: [budget] } = setup();
    for (let i = 0; i < 10; i++) granted(await tryNow(budget!, clock));
    const t0 = clock.now();
    granted(await clock.run(budget!.acquire({ tokens: 10 })));
    // The first calls leave the window one second (the counting precision) after the minute.
    expect(clock.now() - t0).toBeGreaterThanOrEqual(60_000);
    expect(clock.now() - t0).toBeLessThanOrEqual(61_000);
  });

  it('holds across replicas: four budgets on one store admit no more than the limit together', async () => {
    const { clock, budgets } = setup({}, 4);
    const grants = await clock.run(Promise.all(Array.from({ length: 40 }, (_, i) =>
      budgets[i % 4]!.acquire({ tokens: 10, deadlineMs: clock.now() + 5_000 }))));
    expect(grants.filter((g) => g.ok)).toHaveLength(10);
  });

  it('limits tokens too, and settling with the actual usage gives the unused estimate back', async () => {
    const { clock, budgets: [budget] } = setup({ limits: { rpm: 100, tpm: 1_000 } });
    const first = granted(await tryNow(budget!, clock, 600));
    expect(await tryNow(budget!, clock, 600)).toMatchObject({ ok: false });
    await clock.run(first.settle(200));
    expect(await budget!.usage()).toEqual({ rpm: 1, tpm: 200 });
    const second = granted(await tryNow(budget!, clock, 600));
    await clock.run(second.release());
    expect(await budget!.usage()).toEqual({ rpm: 1, tpm: 200 });
  });

  it('refuses at once a request larger than the whole token budget', async () => {
    const { clock, budgets: [budget] } = setup({ limits: { rpm: 100, tpm: 1_000 } });
    expect(await clock.run(budget!.acquire({ tokens: 1_001 }))).toEqual({ ok: false, reason: 'too-large' });
  });

  it('refuses a request as soon as its deadline is before the budget comes back, saying when it will', async () => {
    const { clock, budgets: [budget] } = setup();
    for (let i = 0; i < 10; i++) granted(await tryNow(budget!, clock));
    await clock.advance(5_000);
    const t0 = clock.now();
    const grant = await clock.run(budget!.acquire({ tokens: 10, deadlineMs: t0 + 30_000 }));
    expect(grant).toMatchObject({ ok: false, reason: 'deadline' });
    expect(clock.now()).toBe(t0); // decided without waiting for the deadline
    if (!grant.ok) expect(grant.retryAfterMs).toBe(56_000); // the calls of 0:00 leave at 1:01
  });

  it('serves interactive requests before batch ones that were queued earlier', async () => {
    const { clock, budgets: [budget] } = setup();
    for (let i = 0; i < 10; i++) granted(await tryNow(budget!, clock));
    const order: string[] = [];
    const wait = (lane: 'interactive' | 'batch', name: string): Promise<void> =>
      budget!.acquire({ tokens: 10, lane }).then((g) => void order.push(`${name}:${String(g.ok)}`));
    const all = Promise.all([wait('batch', 'b1'), wait('batch', 'b2'), wait('interactive', 'i1')]);
    expect(budget!.queued).toEqual({ interactive: 1, batch: 2 });
    await clock.run(all);
    expect(order[0]).toBe('i1:true');
    expect(order).toHaveLength(3);
  });

  it('holds batch requests on other replicas while one replica has an interactive request waiting', async () => {
    const { clock, budgets: [a, b] } = setup({ limits: { rpm: 600, tpm: 1_000 } }, 2);
    granted(await tryNow(a!, clock, 1_000));
    const order: string[] = [];
    // Only one of the two fits when the budget comes back; B has been waiting longer.
    const batch = b!.acquire({ tokens: 600, lane: 'batch' }).then(() => order.push('batch on B'));
    await clock.advance(1_000);
    const interactive = a!.acquire({ tokens: 600, lane: 'interactive' }).then(() => order.push('interactive on A'));
    await clock.run(Promise.all([batch, interactive]));
    expect(order).toEqual(['interactive on A', 'batch on B']);
  });

  it('paces batch requests so a backlog does not take the whole minute at once', async () => {
    const { clock, budgets: [budget] } = setup({ limits: { rpm: 60, tpm: 1_000_000 } });
    const times: number[] = [];
    await clock.run(Promise.all(Array.from({ length: 20 }, () =>
      budget!.acquire({ tokens: 10, lane: 'batch' }).then(() => times.push(clock.now() - START)))));
    // 60 a minute is one a second (a little less, to keep the window from filling): 20 take ~20 s.
    expect(times.filter((t) => t < 1_000)).toHaveLength(1);
    expect(Math.max(...times)).toBeGreaterThan(19_000);
    // Interactive requests are not paced: they may use the rest of the window at once.
    const burst = await Promise.all(Array.from({ length: 10 }, () => tryNow(budget!, clock)));
    expect(burst.every((g) => g.ok)).toBe(true);
  });

  it('rejects a waiting request whose caller aborts, and forgets it', async () => {
    const { clock, budgets: [budget] } = setup();
    for (let i = 0; i < 10; i++) granted(await tryNow(budget!, clock));
    const controller = new AbortController();
    const pending = budget!.acquire({ tokens: 10, signal: controller.signal });
    await clock.advance(1_000);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.Timeout, retryable: true });
    expect(budget!.queued).toEqual({ interactive: 0, batch: 0 });
  });

  it('rejects configurations that leave no budget', () => {
    const store = new InMemoryCounterStore();
    expect(() => new RateBudget({ model: 'm', limits: { rpm: 1, tpm: 0 }, counters: store, headroom: 0.5 })).toThrow(/leaves no budget/);
    expect(() => new RateBudget({ model: 'm', limits: { rpm: -1, tpm: 0 }, counters: store })).toThrow(/rpm/);
  });
});
