import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Principal } from '@flotilla/auth';
import { loadConfig } from '@flotilla/config';
import { CounterStore } from '@flotilla/memory';
import { FrameRateLimiter, RateLimited, RateLimiter, slidingWindow } from './rate-limiter';

/** Counters with the store's contract (window from first add, ttl), on a controllable clock. */
class FakeCounters implements CounterStore {
  private readonly values = new Map<string, { total: number; until: number }>();
  constructor(private readonly clock: () => number) {}
  async add(key: string, amount: number, ttlMs: number): Promise<number> {
    const now = this.clock();
    const v = this.values.get(key);
    const live = v && v.until > now ? v : { total: 0, until: now + ttlMs };
    live.total += amount;
    this.values.set(key, live);
    return live.total;
  }
  async get(key: string): Promise<number> {
    const v = this.values.get(key);
    return v && v.until > this.clock() ? v.total : 0;
  }
}

const MINUTE = 60_000;

describe('slidingWindow', () => {
  let now: number;
  let counters: FakeCounters;
  beforeEach(() => {
    now = 100 * MINUTE; // the start of a minute
    counters = new FakeCounters(() => now);
  });

  it('admits up to the limit in a minute, then refuses with the seconds until one more fits', async () => {
    for (let i = 0; i < 5; i++) expect((await slidingWindow(counters, 'k', 5, now)).allowed).toBe(true);
    now += 10_000;
    const refused = await slidingWindow(counters, 'k', 5, now);
    expect(refused.allowed).toBe(false);
    // The minute holds 6 now; one more fits when the decaying count drops to 4: 1 - 4/6 into the next minute.
    expect(refused.retryAfterSeconds).toBe(50 + 20);
  });

  it('does not reset at the minute boundary: the previous minute still weighs in', async () => {
    for (let i = 0; i < 5; i++) await slidingWindow(counters, 'k', 5, now + 50_000);
    now += MINUTE + 1_000; // just into the next minute
    const check = await slidingWindow(counters, 'k', 5, now);
    expect(check.allowed).toBe(false);
    expect(check.retryAfterSeconds).toBeGreaterThan(0);
    now += MINUTE; // a whole quiet minute later everything fits again
    expect((await slidingWindow(counters, 'k', 5, now)).allowed).toBe(true);
  });

  it('a client that waits the Retry-After it was given gets through', async () => {
    for (let i = 0; i < 3; i++) await slidingWindow(counters, 'k', 3, now);
    now += 30_000;
    const refused = await slidingWindow(counters, 'k', 3, now);
    expect(refused.allowed).toBe(false);
    now += refused.retryAfterSeconds * 1000;
    expect((await slidingWindow(counters, 'k', 3, now)).allowed).toBe(true);
  });
});

describe('RateLimiter', () => {
  const alice: Principal = { tenantId: 'acme', userId: 'alice', roles: ['chat'], via: 'jwt', subject: 'user:alice' };
  const bob: Principal = { ...alice, userId: 'bob', subject: 'user:bob' };
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-rate-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // Each limiter its own SQLite file (the embedded counter store), so the two cases share no counters.
  const make = (env: Record<string, string>): RateLimiter => new RateLimiter(loadConfig({ FLOTILLA_DATA_DIR: mkdtempSync(join(dir, 'db-')), ...env }));

  async function outcome(limiter: RateLimiter, p: Principal, now: number): Promise<string> {
    try {
      await limiter.admit(p, undefined, now);
      return 'ok';
    } catch (err) {
      if (err instanceof RateLimited) return `429 ${err.scope}`;
      throw err;
    }
  }

  it('limits each user on their own, and the tenant as a whole; off when 0', async () => {
    const limiter = make({ RATE_LIMIT_USER_PER_MINUTE: '2', RATE_LIMIT_TENANT_PER_MINUTE: '3' });
    const t = 200 * MINUTE;
    try {
      expect([await outcome(limiter, alice, t), await outcome(limiter, alice, t), await outcome(limiter, alice, t)]).toEqual(['ok', 'ok', '429 user']);
      expect(await outcome(limiter, bob, t)).toBe('ok');
      // The tenant has had 3 admitted (alice's refused attempt did not count against it).
      expect(await outcome(limiter, bob, t)).toBe('429 tenant');
    } finally {
      await limiter.beforeApplicationShutdown();
    }
    const off = make({});
    try {
      for (let i = 0; i < 50; i++) expect(await outcome(off, alice, t)).toBe('ok');
    } finally {
      await off.beforeApplicationShutdown();
    }
  });
});

describe('FrameRateLimiter', () => {
  it('allows a burst, then the average rate, and says when the next frame fits', () => {
    let now = 0;
    const frames = new FrameRateLimiter(2, 3, () => now);
    expect([frames.take().ok, frames.take().ok, frames.take().ok]).toEqual([true, true, true]);
    expect(frames.take()).toEqual({ ok: false, retryAfterSeconds: 1 });
    now += 500;
    expect(frames.take().ok).toBe(true);
    expect(frames.take().ok).toBe(false);
  });

  it('is off at 0 frames per second', () => {
    const frames = new FrameRateLimiter(0, 1);
    for (let i = 0; i < 100; i++) expect(frames.take().ok).toBe(true);
  });
});
