/**
 * How many batch workflows may run at once, learned from how long they take (docs/adr/0015).
 *
 * A fixed bound is wrong both ways: on one small host 500 running batch workflows queue behind each
 * other in every agent until their steps time out and are retried (measured: 500 admitted, none
 * finished in the next 30 s, while 16–32 at once finish ~8 per second), and on a large cluster or
 * with a slow model a small bound leaves capacity unused. So the bound follows the latency of the
 * batch workflows themselves, as a gradient concurrency limit does (Netflix concurrency-limits,
 * Gradient2; TCP Vegas): while a finished workflow took no more than `tolerance` × the least
 * latency seen lately (the unloaded time of a workflow, including the model's), running more at once
 * adds throughput and the bound grows; beyond it, more at once only adds queueing and the bound
 * shrinks toward the point where it does not. The baseline is measured again every minute by a short
 * probe at the least bound, so it follows a model that became slower or faster for good.
 *
 * Chat holding the batch lane (strict priority) makes batch workflows slower too, so the bound also
 * shrinks while chat is served — and with it the batch work in flight when a chat arrives.
 */
export interface BatchLimitOptions {
  /** The least bound, and the bound while probing (a floor that still lets the lane move and learn). */
  min: number;
  /** The greatest bound (COORDINATOR_MAX_ACTIVE_BATCH). */
  max: number;
  /** Where it starts after the first probe (default: 16 within [min, max]). */
  initial?: number;
  /** Latency up to this multiple of the baseline counts as unqueued (default 2). */
  tolerance?: number;
  /** How often the baseline is measured again by a probe (default 60 s). */
  probeEveryMs?: number;
  /** The clock (tests); must be the clock `startedAtMs` is read from. */
  now?: () => number;
}

/** How many more at once an unqueued finish asks for (growth stays gradual: × SMOOTHING per finish). */
const QUEUE_ALLOWANCE = 2;
/** Weight of each new estimate (smoothing: one slow workflow does not halve the bound). */
const SMOOTHING = 0.2;

export class BatchLimit {
  private value: number;
  private readonly min: number;
  private readonly max: number;
  private readonly tolerance: number;
  private readonly probeEveryMs: number;
  private readonly now: () => number;
  private baseline = Number.POSITIVE_INFINITY;
  /** While probing: since when, the bound to go back to, and the unloaded latencies seen so far (how many, the least). */
  private probe?: { since: number; resume: number; samples: number; least: number };
  private lastProbeEnd = 0;

  constructor(options: BatchLimitOptions) {
    if (!Number.isInteger(options.max) || options.max < 1) throw new RangeError(`max must be an integer >= 1, got ${options.max}`);
    this.max = options.max;
    this.min = Math.max(1, Math.min(options.min, this.max));
    this.tolerance = options.tolerance ?? 2;
    this.probeEveryMs = options.probeEveryMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.value = clamp(options.initial ?? 16, this.min, this.max);
    // The first thing to learn is how long a batch workflow takes when nothing queues.
    this.startProbe(this.now());
  }

  /** The bound now: whole workflows (`min` while probing). */
  get current(): number {
    return this.probe ? this.min : Math.floor(this.value);
  }

  /** The latency of a batch workflow with nothing queued, as last measured (Infinity before the first). */
  get baselineMs(): number {
    return this.baseline;
  }

  get probing(): boolean {
    return this.probe !== undefined;
  }

  /**
   * One batch workflow finished: admitted at `startedAtMs`, after `latencyMs`, while `running` ran.
   *
   * The baseline comes from probes: every `probeEveryMs` the bound drops to `min`; a workflow
   * admitted after that ran with at most `min` at once (admission waits below the bound), so its
   * latency is the unloaded one; `min` of them end the probe, whose least latency is the baseline,
   * and the bound goes back to where it was. (A baseline kept as the least latency ever seen could
   * not follow a model that became slower; one taken from whatever ran lately would creep up with
   * the bound it allows.) With fewer than half the bound running, the lane was not using its bound:
   * a fast workflow then says nothing about a larger one, so the bound does not grow on it.
   */
  observe(latencyMs: number, running: number, startedAtMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
    const latency = Math.max(1, latencyMs);
    const now = this.now();
    if (this.probe) {
      if (startedAtMs < this.probe.since) return; // admitted before the probe: may have queued
      this.probe.samples++;
      this.probe.least = Math.min(this.probe.least, latency);
      if (this.probe.samples < this.min) return;
      this.baseline = this.probe.least;
      this.value = this.probe.resume;
      this.probe = undefined;
      this.lastProbeEnd = now;
      return;
    }
    this.baseline = Math.min(this.baseline, latency);
    if (now - this.lastProbeEnd >= this.probeEveryMs) {
      this.startProbe(now);
      return;
    }
    const gradient = clamp((this.baseline * this.tolerance) / latency, 0.5, 1);
    if (gradient >= 1 && running < this.value / 2) return;
    // Unqueued: room for a little more. Queued: as many as would have run at the tolerated latency.
    const target = gradient >= 1 ? this.value + QUEUE_ALLOWANCE : this.value * gradient;
    this.value = clamp(this.value * (1 - SMOOTHING) + target * SMOOTHING, this.min, this.max);
  }

  private startProbe(since: number): void {
    this.probe = { since, resume: this.value, samples: 0, least: Number.POSITIVE_INFINITY };
  }
}

/** `n` within [lo, hi]. */
export function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}
