import type { Lane } from '@flotilla/contracts';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { Clock, systemClock } from './clock';
import { CounterStore, getCounters } from './counter-store';

/** A provider's limits for one model; 0 means that dimension is not limited. */
export interface RateLimits {
  /** Requests per minute. */
  rpm: number;
  /** Tokens (prompt + completion) per minute. */
  tpm: number;
}

export interface RateBudgetOptions {
  /** The model's name: budgets are shared by every replica that uses the same name and store. */
  model: string;
  limits: RateLimits;
  counters: CounterStore;
  clock?: Clock;
  /** Share of each limit never used (default 0.1): covers token-estimate error, clock skew and other users of the key. */
  headroom?: number;
  /** The provider's window (default 60 s). */
  windowMs?: number;
  /** Precision of the sliding window (default 1 s): at most this much traffic is counted for longer than the window. */
  fineMs?: number;
  /** Granularity of the middle of the window (default 10 s): fewer keys to read per admission. */
  coarseMs?: number;
  /**
   * Up to this much random delay is added when waiting for budget (default 100 ms), so replicas that
   * wait for the same instant do not all hit the store at once.
   */
  wakeJitterMs?: number;
  random?: () => number;
  /** Counter key prefix (default `llm:budget`). */
  keyPrefix?: string;
}

export interface BudgetRequest {
  /** Estimated tokens of the call (see {@link estimateTokens}). */
  tokens: number;
  /** Interactive requests are served before batch ones (default interactive). */
  lane?: Lane;
  /** Absolute epoch ms: a request that cannot be admitted before then is refused at once, not at the deadline. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

/** Budget held for one call: settle it with the actual usage once the call returns. */
export interface Reservation {
  readonly tokens: number;
  /** Replaces the estimate with what the call actually used. */
  settle(actualTokens: number): Promise<void>;
  /** Gives the whole reservation back (the call never reached the provider). */
  release(): Promise<void>;
}

export type BudgetGrant =
  | { ok: true; reservation: Reservation }
  /**
   * `deadline`: budget cannot be had before the request's deadline; `too-large`: the request alone
   * exceeds the limit. `retryAfterMs`: when budget is expected back (absent when it never will be).
   */
  | { ok: false; reason: 'deadline' | 'too-large'; retryAfterMs?: number };

/** How many tokens to reserve for a call: prompt characters / 4, plus the completion it may produce. */
export function estimateTokens(promptChars: number, maxTokens: number | undefined, defaultMaxTokens = DEFAULT_COMPLETION_ESTIMATE): number {
  return Math.ceil(promptChars / 4) + (maxTokens ?? defaultMaxTokens);
}

/** Completion tokens reserved when a request sets no `maxTokens`. */
export const DEFAULT_COMPLETION_ESTIMATE = 512;

type Dimension = 'rpm' | 'tpm';

interface Waiter {
  tokens: number;
  lane: Lane;
  deadlineMs: number | undefined;
  signal: AbortSignal | undefined;
  resolve(grant: BudgetGrant): void;
  reject(err: unknown): void;
  onAbort(): void;
}

type Attempt = { ok: true; reservation: Reservation } | { ok: false; retryAt: number };

/** A request's share of a second's pace, given back if the request does not go after all. */
interface PaceClaim {
  key: string;
  amount: number;
}

/**
 * A model's RPM and TPM budget, shared by every replica through a {@link CounterStore}.
 *
 * **Window.** The provider counts a rolling minute. Counting fixed minutes would let two minutes' worth
 * of calls through across a boundary (a full minute's budget at 0:59 and another at 1:00), far more
 * than any headroom can absorb. So admission counts a *sliding* window: every call adds its
 * reservation to the counter of its 1-second bucket and of its 10-second bucket; an admission sums
 * the 1-second buckets at the old edge of the window and the 10-second buckets after them (at most 16
 * reads). The buckets summed always cover the provider's last minute, so the count never
 * under-states it; a bucket is merely counted for up to 1 s longer than the provider does, which
 * costs under 2% of throughput.
 *
 * **Races.** Admission adds first and checks the total the store returned, rolling back when it is
 * over: the store's atomic add orders concurrent callers, so two replicas can never both take the
 * last slot (at worst a caller that lost the race sees a total that a rollback then lowers, and
 * waits a little longer than it had to).
 *
 * **Headroom.** Admission stops at `limit × (1 − headroom)`. The window being exact, the headroom is
 * for what is not: prompt tokens estimated as characters / 4, replicas' clocks disagreeing about
 * bucket boundaries, a call reaching the provider later than it was admitted, and any other client
 * of the same API key.
 *
 * **Lanes.** Interactive requests go first, at three levels:
 * - in each process, one queue per model: batch requests wait while any interactive one is queued,
 *   FIFO within a lane (a large request at the head is not overtaken by smaller ones, so it cannot
 *   starve);
 * - across replicas, a process with interactive requests waiting announces it on a shared counter,
 *   and batch requests everywhere hold back while one is announced (announcements expire within
 *   20 s, so a crashed replica cannot hold batch work for long);
 * - admissions are paced, shared: each second has a share of the sustained rate, which batch
 *   requests may not exceed and interactive ones use up first but may exceed (burst into whatever
 *   the window has left). Without the pace, a batch backlog takes a whole minute's budget at once,
 *   budget comes back only a minute later in one lump, and an interactive request arriving in
 *   between waits for it; paced, budget comes back every second. The pace is set a little under
 *   the window's capacity (a minute's budget per 62 s) so that batch traffic alone never fills the
 *   window — a full window would pin admissions to the times old calls leave it, and any gap in
 *   the past would repeat every minute. Batch traffic alone so uses about 97% of the budget.
 *
 * A request with a deadline is refused as soon as the budget cannot be expected back before it, so
 * the router can degrade to its next model instead of failing.
 */
export class RateBudget {
  readonly model: string;
  readonly limits: RateLimits;
  /** What admission stops at: the limits less the headroom. */
  readonly effective: RateLimits;
  private readonly counters: CounterStore;
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly fineMs: number;
  private readonly coarseMs: number;
  private readonly ttlMs: number;
  private readonly wakeJitterMs: number;
  private readonly random: () => number;
  private readonly prefix: string;
  private readonly queues: Record<Lane, Waiter[]> = { interactive: [], batch: [] };
  private pumping = false;
  private wake: AbortController | undefined;
  /** The 10-second bucket this process announced waiting interactive requests in, if it did. */
  private announced: number | undefined;

  constructor(options: RateBudgetOptions) {
    this.model = options.model;
    this.limits = options.limits;
    this.counters = options.counters;
    this.clock = options.clock ?? systemClock;
    const headroom = options.headroom ?? 0.1;
    this.windowMs = options.windowMs ?? 60_000;
    this.fineMs = options.fineMs ?? 1_000;
    this.coarseMs = options.coarseMs ?? 10_000;
    this.wakeJitterMs = options.wakeJitterMs ?? 100;
    this.random = options.random ?? Math.random;
    this.prefix = `${options.keyPrefix ?? 'llm:budget'}:${options.model}`;
    const invalid = (why: string): FlotillaError => new FlotillaError(ErrorCode.ConfigInvalid, `rate budget of ${options.model}: ${why}`, { retryable: false });
    for (const d of ['rpm', 'tpm'] as const) {
      if (!Number.isInteger(this.limits[d]) || this.limits[d] < 0) throw invalid(`${d} must be a whole number >= 0`);
    }
    if (!(headroom >= 0 && headroom < 1)) throw invalid('headroom must be in [0, 1)');
    if (!(this.fineMs > 0) || this.coarseMs % this.fineMs !== 0 || this.windowMs % this.coarseMs !== 0) {
      throw invalid('windowMs must be a multiple of coarseMs, and coarseMs a multiple of fineMs');
    }
    this.effective = {
      rpm: Math.floor(this.limits.rpm * (1 - headroom)),
      tpm: Math.floor(this.limits.tpm * (1 - headroom)),
    };
    if ((this.limits.rpm > 0 && this.effective.rpm < 1) || (this.limits.tpm > 0 && this.effective.tpm < 1)) throw invalid('the headroom leaves no budget');
    // A bucket must outlive the last window that counts it.
    this.ttlMs = this.windowMs + 2 * this.coarseMs;
  }

  /** Requests waiting in this process, per lane. */
  get queued(): Record<Lane, number> {
    return { interactive: this.queues.interactive.length, batch: this.queues.batch.length };
  }

  /**
   * Waits for budget for one call and reserves it. Resolves `{ ok: false }` instead of waiting when
   * the budget cannot be had before `deadlineMs`; rejects (Timeout) when `signal` aborts.
   */
  acquire(request: BudgetRequest): Promise<BudgetGrant> {
    const tokens = Math.max(0, Math.ceil(request.tokens));
    if (this.effective.tpm > 0 && tokens > this.effective.tpm) return Promise.resolve({ ok: false, reason: 'too-large' });
    if (request.signal?.aborted) return Promise.reject(aborted(this.model, request.signal));
    return new Promise<BudgetGrant>((resolve, reject) => {
      const lane = request.lane ?? 'interactive';
      const waiter: Waiter = {
        tokens, lane, deadlineMs: request.deadlineMs, signal: request.signal, resolve, reject,
        onAbort: () => {
          if (this.remove(waiter)) reject(aborted(this.model, request.signal));
        },
      };
      request.signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queues[lane].push(waiter);
      // A new interactive request may go before the batch one the pump is waiting for.
      this.wake?.abort();
      void this.pump();
    });
  }

  /** The current sliding-window totals (as a new admission would count them). */
  async usage(): Promise<RateLimits> {
    const now = this.clock.now();
    const [rpm, tpm] = await Promise.all((['rpm', 'tpm'] as const).map(async (d) => {
      const { keys } = this.windowKeys(d, now);
      return (await getCounters(this.counters, [...keys, this.key(d, 'c', this.coarse(now))])).reduce((a, b) => a + b, 0);
    }));
    return { rpm: rpm!, tpm: tpm! };
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let head = this.head(); head; head = this.head()) {
        const now = this.clock.now();
        this.refuseLate(now, now);
        head = this.head();
        if (!head) break;
        let attempt: Attempt;
        try {
          attempt = await this.tryReserve(head.tokens, head.lane, now);
        } catch (err) {
          // The store failed: this request cannot be admitted now; the next one tries again.
          if (this.remove(head)) head.reject(FlotillaError.from(err));
          continue;
        }
        if (attempt.ok) {
          if (this.remove(head)) head.resolve({ ok: true, reservation: attempt.reservation });
          else await attempt.reservation.release(); // aborted while we were reserving
          if (this.queues.interactive.length === 0) await this.announce(undefined);
          continue;
        }
        // Nobody queued here goes before the head, so whoever's deadline falls before the head's
        // turn is refused now, while there is still time to answer with another model.
        this.refuseLate(attempt.retryAt, this.clock.now());
        await this.announce(this.queues.interactive.length ? this.coarse(this.clock.now()) : undefined);
        if (!this.head()) break;
        const deadlines = [...this.queues.interactive, ...this.queues.batch].flatMap((w) => (w.deadlineMs === undefined ? [] : [w.deadlineMs]));
        // While interactive requests wait, wake at least once per 10-second bucket to renew the announcement.
        const renew = this.queues.interactive.length ? [(this.coarse(this.clock.now()) + 1) * this.coarseMs] : [];
        const until = Math.min(attempt.retryAt + this.random() * this.wakeJitterMs, ...deadlines, ...renew);
        this.wake = new AbortController();
        await this.clock.sleep(Math.max(0, until - this.clock.now()), this.wake.signal);
        this.wake = undefined;
      }
    } finally {
      this.pumping = false;
    }
    await this.announce(undefined);
  }

  /**
   * Keeps this process's announcement of waiting interactive requests in `bucket` (none when
   * undefined). Best effort: a store failure only weakens the priority across replicas.
   */
  private async announce(bucket: number | undefined): Promise<void> {
    if (bucket === this.announced) return;
    const previous = this.announced;
    this.announced = bucket;
    try {
      await Promise.all([
        ...(bucket !== undefined ? [this.counters.add(this.pendingKey(bucket), 1, 3 * this.coarseMs)] : []),
        ...(previous !== undefined ? [this.counters.add(this.pendingKey(previous), -1, 3 * this.coarseMs)] : []),
      ]);
    } catch {
      // Priority across replicas is an optimisation; admission itself does not depend on it.
    }
  }

  private head(): Waiter | undefined {
    return this.queues.interactive[0] ?? this.queues.batch[0];
  }

  /** Refuses every waiter whose deadline is before `availableAt`. */
  private refuseLate(availableAt: number, now: number): void {
    for (const lane of ['interactive', 'batch'] as const) {
      for (const w of [...this.queues[lane]]) {
        if (w.deadlineMs !== undefined && (w.deadlineMs <= now || w.deadlineMs < availableAt)) {
          this.remove(w);
          w.resolve({ ok: false, reason: 'deadline', ...(Number.isFinite(availableAt) ? { retryAfterMs: Math.max(0, Math.ceil(availableAt - now)) } : {}) });
        }
      }
    }
  }

  private remove(waiter: Waiter): boolean {
    const queue = this.queues[waiter.lane];
    const i = queue.indexOf(waiter);
    if (i < 0) return false;
    queue.splice(i, 1);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    return true;
  }

  private async tryReserve(tokens: number, lane: Lane, now: number): Promise<Attempt> {
    const amounts: Record<Dimension, number> = { rpm: 1, tpm: tokens };
    const dims = (['rpm', 'tpm'] as const).filter((d) => this.effective[d] > 0 && amounts[d] > 0);
    const fine = this.fine(now);
    const coarse = this.coarse(now);
    const pace = await this.pace(lane, dims, amounts, fine, coarse);
    if (!pace.ok) return { ok: false, retryAt: pace.retryAt };
    const paced = pace.claims;
    const unpace = (): Promise<unknown> => Promise.all(paced.map((c) => this.counters.add(c.key, -c.amount, this.ttlMs)));
    const added = dims.map((d) => ({ d, fineKey: this.key(d, 'f', fine), coarseKey: this.key(d, 'c', coarse), amount: amounts[d] }));
    const checks = await Promise.all(added.map(async (a) => {
      const { keys, drops } = this.windowKeys(a.d, now);
      const [current, older] = await Promise.all([
        this.counters.add(a.coarseKey, a.amount, this.ttlMs),
        getCounters(this.counters, keys),
        this.counters.add(a.fineKey, a.amount, this.ttlMs),
      ]);
      const total = current + older.reduce((x, y) => x + y, 0);
      return { ...a, total, older, drops, current };
    }));
    const rollback = (parts: { fineKey: string; coarseKey: string; d: Dimension }[], amountOf: (d: Dimension) => number): Promise<unknown> =>
      Promise.all(parts.flatMap((p) => (amountOf(p.d) === 0 ? [] : [
        this.counters.add(p.fineKey, -amountOf(p.d), this.ttlMs),
        this.counters.add(p.coarseKey, -amountOf(p.d), this.ttlMs),
      ])));

    const over = checks.filter((c) => c.total > this.effective[c.d]);
    // Batch also keeps its 10-second bucket's requests, all lanes counted, within the pace: what
    // interactive requests took beyond their seconds' share is taken back from batch within ten
    // seconds, so interactive bursts do not fill the window. Requests only: tokens are counted as
    // estimates until calls settle, and pacing those would hold batch well under the limit.
    const overPace = lane === 'batch' ? checks.filter((c) => c.d === 'rpm' && c.current > this.quota(c.d, coarse, this.coarseMs)) : [];
    if (over.length === 0 && overPace.length === 0) {
      let settled = false;
      const tpm = added.find((a) => a.d === 'tpm');
      const rpm = added.find((a) => a.d === 'rpm');
      const reservation: Reservation = {
        tokens,
        settle: async (actual) => {
          if (settled) return;
          settled = true;
          // A bucket past the window no longer counts; correcting it would only recreate the key.
          if (tpm && this.clock.now() < now + this.windowMs && actual !== tokens) {
            await rollback([tpm], () => tokens - Math.max(0, Math.ceil(actual)));
            this.wake?.abort();
          }
        },
        release: async () => {
          if (settled) return;
          settled = true;
          if (this.clock.now() < now + this.windowMs) {
            await Promise.all([rollback([...(tpm ? [tpm] : []), ...(rpm ? [rpm] : [])], (d) => amounts[d]), unpace()]);
            this.wake?.abort();
          }
        },
      };
      return { ok: true, reservation };
    }
    await Promise.all([rollback(added, (d) => amounts[d]), unpace()]);
    if (over.length === 0) return { ok: false, retryAt: (coarse + 1) * this.coarseMs };
    const retryAt = Math.max(...over.map((c) => this.availableAt(c.total - c.amount, c.amount, this.effective[c.d], c.older, c.drops, now)));
    return { ok: false, retryAt };
  }

  /**
   * Claims the request's share of this second's pace. A batch request holds back (until the next
   * second) while another process announces waiting interactive requests, or when the second's
   * share is taken; an interactive request always gets its claim, so batch ones see the share it used.
   */
  private async pace(
    lane: Lane, dims: readonly Dimension[], amounts: Record<Dimension, number>, fine: number, coarse: number,
  ): Promise<{ ok: true; claims: PaceClaim[] } | { ok: false; retryAt: number }> {
    const nextSecond = (fine + 1) * this.fineMs;
    if (lane === 'batch') {
      const [current, previous] = await getCounters(this.counters, [this.pendingKey(coarse), this.pendingKey(coarse - 1)]);
      if ((current ?? 0) + (previous ?? 0) > 0) return { ok: false, retryAt: nextSecond };
    }
    const claims = await Promise.all(dims.map(async (d) => {
      const key = this.key(d, 'b', fine);
      const total = await this.counters.add(key, amounts[d], this.ttlMs);
      // One request per second always goes, or one larger than a second's tokens never would.
      const fits = lane === 'interactive' || total <= this.quota(d, fine, this.fineMs) || (d === 'tpm' && total === amounts[d]);
      return { key, amount: amounts[d], fits };
    }));
    if (claims.every((c) => c.fits)) return { ok: true, claims };
    await Promise.all(claims.map((c) => this.counters.add(c.key, -c.amount, this.ttlMs)));
    return { ok: false, retryAt: nextSecond };
  }

  /**
   * The pace's share of bucket `index` of `bucketMs`, as a whole number: floor((i+1)·q) − floor(i·q)
   * averages q, the effective limit per `windowMs + 2 s`.
   */
  private quota(d: Dimension, index: number, bucketMs: number): number {
    const q = (this.effective[d] * bucketMs) / (this.windowMs + 2 * this.fineMs);
    return Math.floor((index + 1) * q) - Math.floor(index * q);
  }

  /**
   * When `amount` more fits under `limit`, assuming no new traffic: buckets leave the window in
   * order. A 10-second bucket is assumed to leave with its first second (optimistic; the next
   * attempt reads its seconds once it is at the edge).
   */
  private availableAt(total: number, amount: number, limit: number, older: number[], drops: number[], now: number): number {
    if (amount > limit) return Infinity;
    let remaining = total;
    for (let i = 0; i < older.length; i++) {
      remaining -= older[i]!;
      if (remaining + amount <= limit) return Math.max(now + 1, drops[i]!);
    }
    // Only the current 10-second bucket is left, and it alone is too full: it leaves a window later.
    return Math.max(now + 1, (this.coarse(now) * this.coarseMs) + this.fineMs + this.windowMs);
  }

  /**
   * The keys of the window at `now` other than the current 10-second bucket, oldest first, with the
   * time each leaves the window: the 1-second buckets from the window's old edge to the end of their
   * 10-second bucket, then the 10-second buckets after it.
   */
  private windowKeys(d: Dimension, now: number): { keys: string[]; drops: number[] } {
    const perCoarse = this.coarseMs / this.fineMs;
    const edge = Math.floor((now - this.windowMs) / this.fineMs);
    const edgeCoarse = Math.floor(edge / perCoarse);
    const keys: string[] = [];
    const drops: number[] = [];
    for (let f = edge; f < (edgeCoarse + 1) * perCoarse; f++) {
      keys.push(this.key(d, 'f', f));
      drops.push((f + 1) * this.fineMs + this.windowMs);
    }
    for (let c = edgeCoarse + 1; c < this.coarse(now); c++) {
      keys.push(this.key(d, 'c', c));
      drops.push(c * this.coarseMs + this.fineMs + this.windowMs);
    }
    return { keys, drops };
  }

  private fine(t: number): number {
    return Math.floor(t / this.fineMs);
  }

  private coarse(t: number): number {
    return Math.floor(t / this.coarseMs);
  }

  /** `f`: 1-second bucket, `c`: 10-second bucket, `b`: the pace of a 1-second bucket. */
  private key(d: Dimension, level: 'f' | 'c' | 'b', index: number): string {
    return `${this.prefix}:${d}:${level}${level === 'c' ? this.coarseMs : this.fineMs}:${index}`;
  }

  private pendingKey(coarse: number): string {
    return `${this.prefix}:interactive-waiting:c${this.coarseMs}:${coarse}`;
  }
}

function aborted(model: string, signal: AbortSignal | undefined): FlotillaError {
  return new FlotillaError(ErrorCode.Timeout, `call to ${model} aborted while waiting for budget`, { retryable: true, cause: signal?.reason });
}
