import { clamp } from './batch-limit';

/**
 * How fast new batch workflows may start while chat is being served, learned from chat's own
 * latency (docs/adr/0016): the batch lane as a scavenger, in the manner of LEDBAT (RFC 6817), which
 * lets a background transfer use only the capacity that does not add delay to the foreground.
 *
 * Holding the batch lane while a chat moves (strict priority) is not enough on a small host: the
 * batch work admitted in chat's gaps still runs in every process, Kafka and the database when the
 * next chat arrives, and with no CPU priority across processes chat shares the cores with it
 * (measured on 2 cores, chat at 1/s: batch free in the gaps at ~3/s raised chat's p50 ×1.4; paced at
 * 0.5 batch workflows/s it was unchanged). How much batch work chat tolerates depends on the host,
 * the model and the chat load, so the rate is learned:
 *
 * - **Baseline.** A probe admits no batch workflow until none is moving, then takes the median
 *   latency of `probeSamples` chat workflows that started after that: chat with no batch work
 *   beside it. The first chat after a quiet spell starts a probe, and so does every `probeEveryMs`
 *   of chat, so the baseline follows the chat mix and the model.
 * - **Control** (AIMD, as TCP): every `window` chat workflows, if their median latency is more than
 *   `tolerance` × the baseline, or the slowest of them more than 3 × it, the rate halves (never
 *   below `minPerSecond`: a backlog still moves, slowly, under non-stop chat); otherwise, if batch
 *   work used at least half the rate (the rate was what held it back), it grows by a tenth.
 *
 * Outside chat (no chat for `quietMs`) there is no pacing: the batch lane runs at its learned bound.
 */
export interface BatchPacerOptions {
  /** Batch workflows moving now (across replicas): a probe waits for none. */
  batchMoving: () => number;
  /** The least rate, batch workflows/s (default 0.1). */
  minPerSecond?: number;
  /** The rate before anything is learned (default 1/s). */
  initialPerSecond?: number;
  /** The greatest rate (default 1,000/s: in effect no pacing; the concurrency bound then rules). */
  maxPerSecond?: number;
  /** Chat latency up to this multiple of the baseline counts as unharmed (default 1.2). */
  tolerance?: number;
  /** Chat workflows per decision (default 8). */
  window?: number;
  /** Chat workflows measured by a probe (default 5). */
  probeSamples?: number;
  /** How long a probe may take; with too few samples by then the old baseline stays (default 20 s). */
  probeMaxMs?: number;
  /** How often the baseline is measured again while chat goes on (default 60 s). */
  probeEveryMs?: number;
  /** No chat for this long is a quiet spell: no pacing, and the next chat starts with a probe (default 5 s). */
  quietMs?: number;
  /** The clock (tests); must be the clock chat start times are read from. */
  now?: () => number;
}

/**
 * How much a good window raises the rate, and a bad one keeps of it. AIMD settles where the share
 * of windows judged harmful is ln(INCREASE) / (ln(INCREASE) − ln(DECREASE)) — 12 % here — so a
 * small increase keeps the rate below the point where chat's tail starts to grow.
 */
const INCREASE = 1.1;
const DECREASE = 0.5;
/** A window with one chat slower than this multiple of the baseline was harmed (chat's tail, not only its middle). */
const TAIL_LIMIT = 3;
/** The longest a paced batch request is deferred before it asks again. */
export const MAX_DEFER_MS = 1_000;

export type PaceDecision = { admit: true } | { admit: false; retryInMs: number };

export class BatchPacer {
  private readonly o: Required<Omit<BatchPacerOptions, 'batchMoving' | 'now'>>;
  private readonly batchMoving: () => number;
  private readonly now: () => number;
  private rate: number;
  private baseline = Number.NaN;
  private lastChatAt = Number.NEGATIVE_INFINITY;
  private nextAdmitAt = Number.NEGATIVE_INFINITY;
  private probe?: { since: number; drainedAt?: number; samples: number[] };
  private lastProbeEnd = Number.NEGATIVE_INFINITY;
  private window: number[] = [];
  private windowSince: number;
  private admittedInWindow = 0;

  constructor(options: BatchPacerOptions) {
    this.o = {
      minPerSecond: options.minPerSecond ?? 0.1,
      initialPerSecond: options.initialPerSecond ?? 1,
      maxPerSecond: options.maxPerSecond ?? 1_000,
      tolerance: options.tolerance ?? 1.2,
      window: options.window ?? 8,
      probeSamples: options.probeSamples ?? 5,
      probeMaxMs: options.probeMaxMs ?? 20_000,
      probeEveryMs: options.probeEveryMs ?? 60_000,
      quietMs: options.quietMs ?? 5_000,
    };
    if (!(this.o.minPerSecond > 0 && this.o.minPerSecond <= this.o.maxPerSecond)) throw new RangeError('need 0 < minPerSecond <= maxPerSecond');
    this.batchMoving = options.batchMoving;
    this.now = options.now ?? Date.now;
    this.rate = clamp(this.o.initialPerSecond, this.o.minPerSecond, this.o.maxPerSecond);
    this.windowSince = this.now();
  }

  /** Batch workflows/s allowed while chat is served. */
  get perSecond(): number {
    return this.rate;
  }

  /** Chat latency with no batch work beside it, as last measured (NaN before the first probe). */
  get baselineMs(): number {
    return this.baseline;
  }

  get probing(): boolean {
    return this.probe !== undefined;
  }

  /** True while chat is being served (a chat input or finish within `quietMs`). */
  get chatting(): boolean {
    return this.now() - this.lastChatAt < this.o.quietMs;
  }

  /** A chat input was handled (or a chat workflow was seen moving). */
  chatSeen(): void {
    const now = this.now();
    if (!this.probe && (now - this.lastChatAt >= this.o.quietMs || now - this.lastProbeEnd >= this.o.probeEveryMs)) this.startProbe(now);
    this.lastChatAt = now;
  }

  /**
   * May a new batch workflow start now? Outside chat, yes. While chat is served: not during a probe,
   * and otherwise at most `perSecond` — `retryInMs` says when to ask again.
   */
  pace(): PaceDecision {
    const now = this.now();
    if (!this.chatting) return { admit: true };
    if (this.probe) {
      this.advanceProbe(now);
      if (this.probe) return { admit: false, retryInMs: 500 };
    }
    // Ask again in at most a second even at the floor rate (10 s apart): chat may stop meanwhile,
    // and then the batch lane should not sit out the rest of a 10 s deferral.
    if (now < this.nextAdmitAt) return { admit: false, retryInMs: Math.min(MAX_DEFER_MS, Math.max(1, Math.ceil(this.nextAdmitAt - now))) };
    return { admit: true };
  }

  /** A batch workflow was started (after `pace` allowed it). */
  admitted(): void {
    const now = this.now();
    this.admittedInWindow++;
    if (this.chatting) this.nextAdmitAt = Math.max(now, this.nextAdmitAt) + 1_000 / this.rate;
  }

  /** A chat workflow finished, started at `startedAtMs` and taking `latencyMs` (one that waited for a person is not passed). */
  observeChat(latencyMs: number, startedAtMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
    const now = this.now();
    this.lastChatAt = Math.max(this.lastChatAt, now);
    if (this.probe) {
      this.advanceProbe(now);
      const probe = this.probe;
      if (probe?.drainedAt !== undefined && startedAtMs >= probe.drainedAt) {
        probe.samples.push(latencyMs);
        if (probe.samples.length >= this.o.probeSamples) this.endProbe(now);
      }
      return;
    }
    this.window.push(latencyMs);
    if (this.window.length < this.o.window) return;
    const typical = median(this.window);
    const slowest = Math.max(...this.window);
    const seconds = Math.max(0.001, (now - this.windowSince) / 1_000);
    const usedRate = this.admittedInWindow / seconds;
    // With no baseline yet there is nothing to judge by: the rate stays until a probe measures one.
    if (Number.isFinite(this.baseline)) {
      if (typical > this.baseline * this.o.tolerance || slowest > this.baseline * TAIL_LIMIT) this.rate = Math.max(this.o.minPerSecond, this.rate * DECREASE);
      else if (usedRate >= this.rate / 2) this.rate = Math.min(this.o.maxPerSecond, this.rate * INCREASE);
    }
    this.resetWindow(now);
  }

  private startProbe(now: number): void {
    this.probe = { since: now, samples: [] };
    this.window = [];
  }

  private advanceProbe(now: number): void {
    const probe = this.probe!;
    if (probe.drainedAt === undefined && this.batchMoving() === 0) probe.drainedAt = now;
    if (now - probe.since >= this.o.probeMaxMs) this.endProbe(now);
  }

  private endProbe(now: number): void {
    const samples = this.probe!.samples;
    // Too few clean samples (chat too sparse, or batch never drained): keep what was known.
    if (samples.length >= Math.min(3, this.o.probeSamples)) this.baseline = median(samples);
    this.probe = undefined;
    this.lastProbeEnd = now;
    this.nextAdmitAt = now;
    this.resetWindow(now);
  }

  private resetWindow(now: number): void {
    this.window = [];
    this.windowSince = now;
    this.admittedInWindow = 0;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
