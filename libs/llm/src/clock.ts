/**
 * Time as the LLM layer sees it. Budgets, deadlines, cache expiry and the budget simulation all read
 * time through this port, so tests and the benchmark can run minutes of traffic in simulated time.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Wall-clock time. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  }),
};

interface Timer {
  at: number;
  seq: number;
  resolve(): void;
}

/**
 * Discrete-event time for tests and the budget simulation. `sleep` registers a timer; `run` lets all
 * pending work proceed until it is waiting only on timers, then jumps to the earliest one — so an
 * hour of rate-limited traffic takes milliseconds, and the order of events is deterministic.
 *
 * Only code whose waiting goes through this clock (or settles through promises) can run under it: a
 * real socket or `setTimeout` would look like a stall, which `run` reports rather than hangs on.
 */
export class SimulatedClock implements Clock {
  private current: number;
  private seq = 0;
  /** Sorted by `at`, then by creation order. */
  private timers: Timer[] = [];

  /** Starts at `start` (default 2026-11-21T09:00:00Z, a fixed instant so runs are reproducible). */
  constructor(start = Date.UTC(2026, 10, 21, 9, 0, 0)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  /** Timers still waiting to fire. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = {
        at: this.current + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', cancel);
          resolve();
        },
      };
      const cancel = (): void => {
        const i = this.timers.indexOf(timer);
        if (i >= 0) this.timers.splice(i, 1);
        resolve();
      };
      signal?.addEventListener('abort', cancel, { once: true });
      this.insert(timer);
    });
  }

  /**
   * Runs `work` to completion in simulated time and returns (or throws) its outcome. Throws when
   * the work is stuck on something other than this clock, or when more than `maxTimers` fire.
   */
  async run<T>(work: Promise<T> | (() => Promise<T>), maxTimers = 10_000_000): Promise<T> {
    const promise = typeof work === 'function' ? work() : work;
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    promise.then((value) => (outcome = { ok: true, value }), (error: unknown) => (outcome = { ok: false, error }));
    for (let fired = 0; ; fired++) {
      await drainMicrotasks();
      if (outcome) break;
      const next = this.timers.shift();
      if (!next) throw new Error('simulation stalled: the work is waiting on something other than the simulated clock');
      if (fired >= maxTimers) throw new Error(`simulation did not finish within ${maxTimers} timers`);
      this.current = Math.max(this.current, next.at);
      next.resolve();
    }
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  /** Moves time forward by `ms`, firing every timer due on the way (in order). */
  async advance(ms: number): Promise<void> {
    const until = this.current + ms;
    for (;;) {
      await drainMicrotasks();
      const next = this.timers[0];
      if (!next || next.at > until) break;
      this.timers.shift();
      this.current = Math.max(this.current, next.at);
      next.resolve();
    }
    this.current = until;
    await drainMicrotasks();
  }

  private insert(timer: Timer): void {
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = this.timers[mid]!;
      if (t.at < timer.at || (t.at === timer.at && t.seq < timer.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, timer);
  }
}

/** A macrotask runs only once every queued promise reaction has, so after it the work is idle. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
