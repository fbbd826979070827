import { randomUUID } from 'node:crypto';
import { ErrorCode } from '@flotilla/common';
import { CounterStoreOptions, ManagedCounterStore } from '../counter-store';

/**
 * The behaviours every CounterStore adapter must share. `makeStores(count, options)` returns
 * `count` new, independent store instances (as separate replicas would hold: separate handles,
 * separate connections) over one shared storage no other test sees; `cleanup` removes it once the
 * stores are closed.
 */
export interface CounterStoresUnderTest {
  stores: ManagedCounterStore[];
  cleanup(): Promise<void>;
}

const TIMEOUT_MS = 60_000;
const REPLICAS = 4;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

export function runCounterStoreConformance(name: string, makeStores: (count: number, options: CounterStoreOptions) => Promise<CounterStoresUnderTest>): void {
  describe(`CounterStore conformance: ${name}`, () => {
    let clock = T0;
    let made: CounterStoresUnderTest;
    let replicas: ManagedCounterStore[];
    let store: ManagedCounterStore;
    let key: string;

    beforeAll(async () => {
      // Purges only when a test asks for one, so a background purge never races an assertion.
      made = await makeStores(REPLICAS, { now: () => clock, graceMs: 1000, purgeEveryMs: Number.MAX_SAFE_INTEGER });
      replicas = made.stores;
      store = replicas[0]!;
      for (const r of replicas) await r.init();
    }, TIMEOUT_MS);

    afterAll(async () => {
      if (!made) return;
      for (const r of made.stores) await r.close();
      await made.cleanup();
    }, TIMEOUT_MS);

    beforeEach(() => {
      key = `budget:${randomUUID()}`;
      clock = T0;
    });

    it('is healthy once initialised', () => {
      for (const r of replicas) expect(r.healthy()).toBe(true);
    });

    it('reads 0 for a counter never added to', async () => {
      expect(await store.get(key)).toBe(0);
    }, TIMEOUT_MS);

    it('returns the running total from each add, and keeps counters apart', async () => {
      expect(await store.add(key, 5, 60_000)).toBe(5);
      expect(await store.add(key, 7, 60_000)).toBe(12);
      expect(await store.add(`${key}:other`, 1, 60_000)).toBe(1);
      // A refund (a reservation larger than the use) is a negative amount.
      expect(await store.add(key, -2, 60_000)).toBe(10);
      expect(await store.get(key)).toBe(10);
      expect(await replicas[1]!.get(key)).toBe(10);
      expect(await store.get(`${key}:other`)).toBe(1);
    }, TIMEOUT_MS);

    it(`is atomic across ${REPLICAS} replicas adding at once: every add sees a distinct total and none is lost`, async () => {
      const perReplica = 50;
      const totals = await Promise.all(replicas.flatMap((r) => Array.from({ length: perReplica }, () => r.add(key, 1, 60_000))));

      const n = REPLICAS * perReplica;
      expect([...totals].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      for (const r of replicas) expect(await r.get(key)).toBe(n);
    }, TIMEOUT_MS);

    it('stays exact when each replica adds one at a time, so the replicas race on every single add', async () => {
      const perReplica = 25;
      const seen: number[] = [];
      await Promise.all(replicas.map(async (r) => {
        for (let i = 0; i < perReplica; i += 1) seen.push(await r.add(key, 1, 60_000));
      }));
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: REPLICAS * perReplica }, (_, i) => i + 1));
    }, TIMEOUT_MS);

    it('sums concurrent adds of different amounts exactly', async () => {
      const amounts = Array.from({ length: REPLICAS * 30 }, (_, i) => ((i * 7919) % 997) + 1);
      await Promise.all(amounts.map((a, i) => replicas[i % REPLICAS]!.add(key, a, 60_000)));
      const expected = amounts.reduce((s, a) => s + a, 0);
      for (const r of replicas) expect(await r.get(key)).toBe(expected);
    }, TIMEOUT_MS);

    it('expires a counter ttlMs after its first add (later adds do not extend it) and starts it again from 0', async () => {
      expect(await store.add(key, 5, 1000)).toBe(5);
      clock = T0 + 999;
      expect(await replicas[1]!.add(key, 2, 1000)).toBe(7);
      expect(await replicas[2]!.get(key)).toBe(7);

      clock = T0 + 1000;
      for (const r of replicas) expect(await r.get(key)).toBe(0);
      expect(await replicas[3]!.add(key, 3, 1000)).toBe(3);
      // Replicas that last saw the old window must find the new one another replica opened.
      for (const r of replicas) expect(await r.get(key)).toBe(3);
      expect(await replicas[1]!.add(key, 1, 1000)).toBe(4);
      clock = T0 + 1999;
      for (const r of replicas) expect(await r.get(key)).toBe(4);
      clock = T0 + 2000;
      expect(await store.get(key)).toBe(0);
    }, TIMEOUT_MS);

    it('resets an expired counter once when replicas add to it at once', async () => {
      await store.add(key, 100, 1000);
      clock = T0 + 5000;
      const totals = await Promise.all(replicas.flatMap((r) => Array.from({ length: 10 }, () => r.add(key, 1, 1000))));
      expect([...totals].sort((a, b) => a - b)).toEqual(Array.from({ length: REPLICAS * 10 }, (_, i) => i + 1));
      for (const r of replicas) expect(await r.get(key)).toBe(REPLICAS * 10);
    }, TIMEOUT_MS);

    it('purges counters that expired longer ago than the grace period, and only those', async () => {
      const live = `${key}:live`;
      await store.add(key, 4, 1000);
      clock = T0 + 1500;
      await store.add(live, 9, 60_000);
      // Expired 500 ms ago, within the 1 s grace: kept.
      await store.purgeExpired();
      clock = T0 + 2500;
      expect(await replicas[1]!.purgeExpired()).toBeGreaterThan(0);
      expect(await store.get(key)).toBe(0);
      expect(await replicas[2]!.get(live)).toBe(9);
      // A purged counter starts again at its next add, on every replica.
      expect(await replicas[3]!.add(key, 2, 1000)).toBe(2);
      expect(await store.add(key, 1, 1000)).toBe(3);
      expect(await replicas[1]!.add(live, 1, 60_000)).toBe(10);
    }, TIMEOUT_MS);

    it('reads several counters at once, in order, 0 for absent and expired ones', async () => {
      await store.add(`${key}:a`, 3, 60_000);
      await replicas[1]!.add(`${key}:b`, 4, 1000);
      await replicas[2]!.add(`${key}:a`, 2, 60_000);
      expect(await replicas[3]!.getMany([`${key}:b`, `${key}:none`, `${key}:a`])).toEqual([4, 0, 5]);
      clock = T0 + 1000;
      expect(await store.getMany([`${key}:a`, `${key}:b`])).toEqual([5, 0]);
      expect(await store.getMany([])).toEqual([]);
    }, TIMEOUT_MS);

    it('rejects a meaningless add with a non-retryable validation error', async () => {
      for (const [k, amount, ttl] of [['', 1, 1000], [key, Number.NaN, 1000], [key, Infinity, 1000], [key, 1, 0], [key, 1, -5]] as const) {
        await expect(store.add(k, amount, ttl)).rejects.toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false });
      }
      await expect(store.get('')).rejects.toMatchObject({ code: ErrorCode.ValidationFailed });
      expect(await store.get(key)).toBe(0);
    }, TIMEOUT_MS);
  });
}
