import { BatchLimit } from './batch-limit';

/**
 * A pipeline that finishes `rate` workflows/s at best, each taking `unloadedMs` alone: a workflow
 * admitted with `running` at once takes max(unloaded, running / rate). Drives `limit` for `finishes`
 * finishes, admitting up to its bound, and returns the bound at the end.
 */
function drive(limit: BatchLimit, clock: { t: number }, options: { unloadedMs: number; rate: number; finishes: number }): number {
  for (let i = 0; i < options.finishes; i++) {
    const running = limit.current;
    const latency = Math.max(options.unloadedMs, (running / options.rate) * 1_000);
    const startedAt = clock.t;
    clock.t += 1_000 / options.rate;
    limit.observe(latency, running, startedAt);
  }
  return limit.current;
}

/** Ends the first probe with two unloaded workflows of `ms`, admitted after it began. */
function probed(limit: BatchLimit, at: number, ms = 1_000): void {
  limit.observe(ms, 2, at);
  limit.observe(ms, 2, at);
}

describe('BatchLimit: the batch bound learned from batch latency', () => {
  const clock = { t: 0 };
  const now = (): number => clock.t;
  beforeEach(() => {
    clock.t = 1_000_000;
  });

  it('starts with a probe at the least bound: the unloaded latency comes from workflows admitted after it began', () => {
    const limit = new BatchLimit({ min: 2, max: 500, initial: 16, now });
    expect(limit.probing).toBe(true);
    expect(limit.current).toBe(2);
    limit.observe(9_000, 40, clock.t - 1); // admitted before the probe: it may have queued
    expect(limit.probing).toBe(true);
    limit.observe(1_200, 2, clock.t);
    limit.observe(1_000, 2, clock.t);
    expect(limit.probing).toBe(false);
    expect(limit.baselineMs).toBe(1_000);
    expect(limit.current).toBe(16);
  });

  it('grows while finished workflows take no longer than the tolerance allows, up to max', () => {
    const limit = new BatchLimit({ min: 2, max: 40, initial: 8, now, probeEveryMs: 1e12 });
    probed(limit, clock.t);
    for (let i = 0; i < 200; i++) limit.observe(1_000, limit.current, clock.t);
    expect(limit.current).toBe(40);
  });

  it('shrinks when workflows queue (latency past tolerance × baseline), down to min', () => {
    const limit = new BatchLimit({ min: 2, max: 500, initial: 100, now, probeEveryMs: 1e12 });
    probed(limit, clock.t);
    expect(limit.current).toBe(100);
    for (let i = 0; i < 200; i++) limit.observe(30_000, limit.current, clock.t);
    expect(limit.current).toBe(2);
  });

  it('settles near the knee of a queueing pipeline (8/s at best, 1 s unloaded): ~16 at once, not the 500 that queue for a minute', () => {
    const limit = new BatchLimit({ min: 2, max: 500, initial: 100, now });
    const settled = drive(limit, clock, { unloadedMs: 1_000, rate: 8, finishes: 3_000 });
    expect(limit.baselineMs).toBe(1_000);
    expect(settled).toBeGreaterThanOrEqual(10);
    expect(settled).toBeLessThanOrEqual(20);
  });

  it('follows a model that became slower for good (the next probe measures the new unloaded latency) and grows back', () => {
    const limit = new BatchLimit({ min: 2, max: 500, initial: 16, now, probeEveryMs: 30_000 });
    drive(limit, clock, { unloadedMs: 1_000, rate: 8, finishes: 1_000 });
    // Six times slower per workflow, the same pipeline width: the knee moves from ~16 to ~2 × 8 × 6.
    const slow = drive(limit, clock, { unloadedMs: 6_000, rate: 8, finishes: 3_000 });
    expect(limit.baselineMs).toBe(6_000);
    expect(slow).toBeGreaterThanOrEqual(60);
    expect(slow).toBeLessThanOrEqual(120);
  });

  it('does not grow on fast workflows while it was not using its bound (too little demand to learn from)', () => {
    const limit = new BatchLimit({ min: 2, max: 500, initial: 16, now, probeEveryMs: 1e12 });
    probed(limit, clock.t);
    for (let i = 0; i < 100; i++) limit.observe(1_000, 1, clock.t);
    expect(limit.current).toBe(16);
  });

  it('keeps its bounds: min ≤ max, integers, and ignores nonsense latencies', () => {
    expect(() => new BatchLimit({ min: 2, max: 0 })).toThrow(RangeError);
    const one = new BatchLimit({ min: 2, max: 1, now });
    expect(one.current).toBe(1);
    const limit = new BatchLimit({ min: 2, max: 10, initial: 5, now });
    limit.observe(Number.NaN, 5, clock.t);
    limit.observe(-1, 5, clock.t);
    expect(limit.probing).toBe(true);
    expect(limit.baselineMs).toBe(Number.POSITIVE_INFINITY);
  });
});
