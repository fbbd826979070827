import { SimulatedClock } from './clock';
import { InMemoryCounterStore } from './counter-store';
import { TenantBudget } from './tenant-budget';

describe('InMemoryCounterStore', () => {
  it('adds atomically, returns the new total and forgets a counter once it expires', async () => {
    const clock = new SimulatedClock();
    const store = new InMemoryCounterStore(clock);
    expect(await store.add('k', 5, 1_000)).toBe(5);
    expect(await store.add('k', -2, 1_000)).toBe(3);
    await clock.advance(500);
    expect(await store.get('k')).toBe(3);
    // The expiry is set when the counter is created, not extended by later adds.
    await clock.advance(500);
    expect(await store.get('k')).toBe(0);
    expect(await store.add('k', 1, 1_000)).toBe(1);
    expect(await store.getMany(['k', 'absent'])).toEqual([1, 0]);
  });

  it('sweeps expired counters so memory stays bounded by the live ones', async () => {
    const clock = new SimulatedClock();
    const store = new InMemoryCounterStore(clock);
    for (let i = 0; i < 5_000; i++) {
      await store.add(`k${i}`, 1, 1_000);
      await clock.advance(1);
    }
    expect(store.size).toBeLessThanOrEqual(1_000);
    expect((store as unknown as { counters: Map<string, unknown> }).counters.size).toBeLessThan(3_000);
  });
});

describe('TenantBudget', () => {
  it('allows a tenant until its daily tokens are used, then says how long until the UTC day ends', async () => {
    const clock = new SimulatedClock(Date.UTC(2026, 10, 21, 18, 0, 0));
    const budget = new TenantBudget({ counters: new InMemoryCounterStore(clock), dailyLimit: 1_000, clock });
    expect(await budget.check('acme')).toEqual({ allowed: true, used: 0, limit: 1_000, retryAfterMs: 0 });
    await budget.charge('acme', 600);
    await budget.charge('acme', 400);
    expect(await budget.check('acme')).toEqual({ allowed: false, used: 1_000, limit: 1_000, retryAfterMs: 6 * 3_600_000 });
    // Tenants are counted apart.
    expect((await budget.check('globex')).allowed).toBe(true);
    // A new UTC day starts from zero.
    await clock.advance(6 * 3_600_000);
    expect(await budget.check('acme')).toMatchObject({ allowed: true, used: 0 });
  });

  it('treats a limit of 0 as unlimited, still counting usage', async () => {
    const clock = new SimulatedClock();
    const budget = new TenantBudget({ counters: new InMemoryCounterStore(clock), dailyLimit: 0, clock });
    await budget.charge('acme', 1e9);
    expect(await budget.check('acme')).toEqual({ allowed: true, used: 1e9, limit: 0, retryAfterMs: 0 });
  });

  it('shares the count between replicas on the same store', async () => {
    const clock = new SimulatedClock();
    const store = new InMemoryCounterStore(clock);
    const a = new TenantBudget({ counters: store, dailyLimit: 100, clock });
    const b = new TenantBudget({ counters: store, dailyLimit: 100, clock });
    await a.charge('acme', 60);
    await b.charge('acme', 60);
    expect(await a.check('acme')).toMatchObject({ allowed: false, used: 120 });
  });

  it('rejects a negative or fractional limit', () => {
    expect(() => new TenantBudget({ counters: new InMemoryCounterStore(), dailyLimit: -1 })).toThrow(/budget/);
  });
});
