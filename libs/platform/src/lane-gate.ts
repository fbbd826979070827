import type { Lane } from '@flotilla/contracts';

export interface LaneGateOptions {
  /** Interactive (chat) tasks in flight at once. */
  interactiveConcurrency: number;
  /** Batch tasks (intake, ingestion) in flight at once while no interactive work is around. */
  batchConcurrency: number;
  /**
   * Batch tasks in flight at once while interactive work runs, waits, or ran within the last
   * `interactiveQuietMs` (default: `batchConcurrency`, i.e. no reduction; 0: none — strict priority).
   */
  batchConcurrencyWhileInteractive?: number;
  /** How long after the last interactive task the lane still counts as busy (default 0). */
  interactiveQuietMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

export interface LaneGateStats {
  interactive: { running: number; waiting: number; limit: number };
  batch: { running: number; waiting: number; limit: number };
  /** True while batch work is held to `batchConcurrencyWhileInteractive`. */
  interactiveBusy: boolean;
}

/** Gives a slot back; calling it more than once is harmless. */
export type Release = () => void;

interface Waiter {
  grant(release: Release): void;
}

/**
 * The priority gate between the two work lanes of a process. Each lane has its own concurrency
 * bound, so batch work can never take the slots interactive work needs; and a batch task starts
 * only while no interactive task is waiting for a slot — whenever a slot frees up, queued
 * interactive work goes first, overtaking batch work queued before it. Within a lane, FIFO.
 *
 * While interactive work is around — running, waiting, or finished less than `interactiveQuietMs`
 * ago (the gaps between the steps of one chat workflow) — batch work is held to the smaller
 * `batchConcurrencyWhileInteractive`: in one process every batch task also costs event-loop time
 * downstream (the coordinator's decisions, the read model, the log), which chat would pay for in
 * latency. Once chat is quiet, batch work runs at its full width again.
 *
 * It orders work inside one process only (embedded mode: every agent of the process shares one);
 * what each lane is *offered* is decided by the separate consumer groups of the lane topics.
 */
export class LaneGate {
  private readonly running: Record<Lane, number> = { interactive: 0, batch: 0 };
  private readonly queues: Record<Lane, Waiter[]> = { interactive: [], batch: [] };
  private readonly limits: Record<Lane, number>;
  private readonly batchWhileInteractive: number;
  private readonly quietMs: number;
  private readonly now: () => number;
  private lastInteractiveEnd = Number.NEGATIVE_INFINITY;
  private quietTimer?: NodeJS.Timeout;

  constructor(options: LaneGateOptions) {
    const bounds = { interactiveConcurrency: options.interactiveConcurrency, batchConcurrency: options.batchConcurrency, batchConcurrencyWhileInteractive: options.batchConcurrencyWhileInteractive ?? options.batchConcurrency };
    for (const [name, n] of Object.entries(bounds)) {
      // 0 while interactive: strict priority, batch work waits until chat has been quiet for interactiveQuietMs.
      const min = name === 'batchConcurrencyWhileInteractive' ? 0 : 1;
      if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${n}`);
    }
    this.limits = { interactive: options.interactiveConcurrency, batch: options.batchConcurrency };
    this.batchWhileInteractive = Math.min(bounds.batchConcurrencyWhileInteractive, options.batchConcurrency);
    this.quietMs = Math.max(0, options.interactiveQuietMs ?? 0);
    this.now = options.now ?? Date.now;
  }

  /**
   * Waits for a slot in `lane` and resolves with its release. With `waitMs`, gives up after that
   * long and resolves `undefined` instead (the caller then defers the message rather than holding a
   * consumer — a Kafka consumer that never returns from its handler misses its heartbeats).
   */
  acquire(lane: Lane, waitMs?: number): Promise<Release | undefined> {
    if (this.mayStart(lane)) return Promise.resolve(this.take(lane));
    return new Promise<Release | undefined>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        grant: (release) => {
          if (timer) clearTimeout(timer);
          resolve(release);
        },
      };
      this.queues[lane].push(waiter);
      if (waitMs !== undefined) {
        timer = setTimeout(() => {
          const q = this.queues[lane];
          const i = q.indexOf(waiter);
          if (i >= 0) q.splice(i, 1);
          resolve(undefined);
          // An interactive waiter leaving may let batch work start.
          this.dispatch();
        }, Math.max(0, waitMs));
      }
    });
  }

  /** Runs `fn` in a slot of `lane` (waiting as long as it takes). */
  async run<T>(lane: Lane, fn: () => Promise<T>): Promise<T> {
    const release = (await this.acquire(lane))!;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  stats(): LaneGateStats {
    return {
      interactive: { running: this.running.interactive, waiting: this.queues.interactive.length, limit: this.limits.interactive },
      batch: { running: this.running.batch, waiting: this.queues.batch.length, limit: this.limits.batch },
      interactiveBusy: this.interactiveBusy(),
    };
  }

  private interactiveBusy(): boolean {
    return this.running.interactive > 0 || this.queues.interactive.length > 0 || this.now() - this.lastInteractiveEnd < this.quietMs;
  }

  private roomFor(lane: Lane): boolean {
    if (lane === 'interactive') return this.running.interactive < this.limits.interactive;
    // Batch goes only when no interactive work is waiting, within the bound of the moment.
    if (this.queues.interactive.length > 0) return false;
    return this.running.batch < (this.interactiveBusy() ? this.batchWhileInteractive : this.limits.batch);
  }

  private mayStart(lane: Lane): boolean {
    // Behind work of the same lane queued earlier (FIFO).
    return this.queues[lane].length === 0 && this.roomFor(lane);
  }

  private take(lane: Lane): Release {
    this.running[lane]++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running[lane]--;
      if (lane === 'interactive') {
        this.lastInteractiveEnd = this.now();
        this.wakeWhenQuiet();
      }
      this.dispatch();
    };
  }

  /** Hands freed slots to waiters: every interactive waiter that fits first, then batch. */
  private dispatch(): void {
    for (const lane of ['interactive', 'batch'] as const) {
      const q = this.queues[lane];
      while (q.length > 0 && this.roomFor(lane)) q.shift()!.grant(this.take(lane));
    }
  }

  /** Batch work held back by the quiet window must start when it ends, even if nothing else happens. */
  private wakeWhenQuiet(): void {
    if (this.quietMs <= 0 || this.batchWhileInteractive >= this.limits.batch) return;
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      this.dispatch();
    }, this.quietMs + 1);
    this.quietTimer.unref();
  }
}
