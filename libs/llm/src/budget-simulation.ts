import { ErrorCode, FlotillaError } from '@flotilla/common';
import { Clock, SimulatedClock } from './clock';
import { InMemoryCounterStore } from './counter-store';
import { ModelRateLimitedError } from './errors';
import { MODEL_TIERS, CompletionRequest, CompletionResult, LanguageModel, ModelInfo } from './port';
import { ModelRouter } from './router';

/*
 * The budget benchmark: several router replicas share one CounterStore and one rate-limited
 * provider, in simulated time, and we look at what the provider saw. It runs in milliseconds and
 * gives the same figures every time for the same options (seeded).
 */

export interface BudgetSimulationOptions {
  /** Requests in total (default 500). */
  requests?: number;
  /** Router replicas sharing the counter store and the provider (default 4). */
  replicas?: number;
  /** The provider's limits over a rolling minute (default 60 RPM, 40,000 TPM). */
  rpm?: number;
  tpm?: number;
  /** LLM_BUDGET_HEADROOM (default 0.1). */
  headroom?: number;
  /** Share of interactive requests (default 0.3); the rest are batch. */
  interactiveShare?: number;
  /**
   * Interactive requests must be answered within this many ms of arriving (default 30 s); one that
   * cannot get budget in time degrades to the fallback model. Batch requests have no deadline.
   */
  interactiveDeadlineMs?: number;
  /** PRNG seed (default 20261121). */
  seed?: number;
  /** Each replica's clock is off by up to this much either way (default 250 ms). */
  clockSkewMs?: number;
  /** A call reaches the provider this long after it was admitted, uniformly (default 20-250 ms). */
  networkDelayMs?: [number, number];
}

export interface LaneWaits {
  requests: number;
  /** Served by the fallback model because the budget could not be had before the deadline. */
  degraded: number;
  failed: number;
  /** Time from arrival until the provider received the call (or the fallback answered). */
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  meanMs: number;
}

export interface BudgetSimulationReport {
  requests: number;
  replicas: number;
  limits: { rpm: number; tpm: number };
  headroom: number;
  provider: {
    /** Calls the provider accepted. */
    calls: number;
    /** Calls the provider refused with 429: the target is 0. */
    rateLimited: number;
    /** The most the provider saw in any rolling minute. */
    peakWindow: { requests: number; tokens: number };
  };
  /**
   * How full the provider's rolling minute was, on average, sampled every second while calls were
   * being made: per limit, and of the binding (fuller) one. Steady state, from the end of the first
   * minute to the last call: starting from idle, admissions ramp up at the sustained pace, so the
   * first minute's window is never full by design. `wholeRun` samples from the first call instead.
   */
  utilisation: { rpm: number; tpm: number; binding: 'rpm' | 'tpm'; ofBindingLimit: number; wholeRun: { rpm: number; tpm: number } };
  /** Simulated time from the first arrival to the last answer. */
  simulatedMs: number;
  waits: { interactive: LaneWaits; batch: LaneWaits };
}

interface Spec {
  id: number;
  lane: 'interactive' | 'batch';
  arrivalMs: number;
  replica: number;
  promptTokens: number;
  completionTokens: number;
  maxTokens: number;
  /** Characters per token of this prompt: the chars/4 estimate is off by up to 10% either way. */
  charsPerToken: number;
}

interface Outcome {
  spec: Spec;
  startedMs?: number;
  model?: string;
  error?: string;
}

const WINDOW_MS = 60_000;
const SIM_MODEL = 'sim-model';
const FALLBACK = 'local';

/**
 * Runs the budget benchmark: `replicas` routers, each with its own queue and rate budget for one
 * model, share one in-memory CounterStore and one simulated OpenAI-compatible provider that enforces
 * `rpm` / `tpm` over a rolling minute and answers 429 past them. Batch requests are all queued at the
 * start (a backlog); interactive ones arrive spread over the expected run. Each request is 300-900
 * tokens (prompt 200-600, completion 100-300, max_tokens 400); prompts are 3.6-4.4 characters a
 * token, so the characters / 4 estimate is off by up to 10%. Replica clocks are skewed and calls
 * reach the provider after a network delay, as in production.
 */
export async function runBudgetSimulation(options: BudgetSimulationOptions = {}): Promise<BudgetSimulationReport> {
  const n = options.requests ?? 500;
  const replicas = options.replicas ?? 4;
  const rpm = options.rpm ?? 60;
  const tpm = options.tpm ?? 40_000;
  const headroom = options.headroom ?? 0.1;
  const interactiveShare = options.interactiveShare ?? 0.3;
  const deadlineMs = options.interactiveDeadlineMs ?? 30_000;
  const random = prng(options.seed ?? 20261121);
  const skewMs = options.clockSkewMs ?? 250;
  const [minDelay, maxDelay] = options.networkDelayMs ?? [20, 250];
  const clock = new SimulatedClock();
  const start = clock.now();

  // Requests: batch ones queued at once, interactive ones arriving across the time the backlog takes.
  const expectedMs = (n / Math.min(rpm * (1 - headroom), (tpm * (1 - headroom)) / 600)) * WINDOW_MS;
  const specs: Spec[] = Array.from({ length: n }, (_, id) => {
    const lane = random() < interactiveShare ? 'interactive' : 'batch';
    return {
      id,
      lane,
      arrivalMs: lane === 'batch' ? 0 : Math.floor(random() * expectedMs * 0.9),
      replica: id % replicas,
      promptTokens: 200 + Math.floor(random() * 401),
      completionTokens: 100 + Math.floor(random() * 201),
      maxTokens: 400,
      charsPerToken: 4 * (0.9 + random() * 0.2),
    };
  });
  const byId = new Map(specs.map((s) => [s.id, s]));
  const outcomes = new Map<number, Outcome>(specs.map((s) => [s.id, { spec: s }]));

  const provider = new SimulatedProvider(clock, rpm, tpm);
  const counters = new InMemoryCounterStore(clock);
  const routers = Array.from({ length: replicas }, () => {
    // What headroom is for: replicas disagree about the time, and calls reach the provider later than
    // they were admitted. (The shared store keeps true time, as a database server would.)
    const skew = (random() * 2 - 1) * skewMs;
    const replicaClock: Clock = { now: () => clock.now() + skew, sleep: (ms, signal) => clock.sleep(ms, signal) };
    const delay = (): number => minDelay + random() * (maxDelay - minDelay);
    return new ModelRouter({
      models: [
        {
          name: SIM_MODEL,
          model: new SimulatedProviderModel(provider, clock, byId, delay, (id) => {
            outcomes.get(id)!.startedMs = clock.now() - start;
          }),
          limits: { rpm, tpm },
          prices: { inputPer1M: 0.15, outputPer1M: 0.6 },
        },
        { name: FALLBACK, model: new InstantModel() },
      ],
      routes: Object.fromEntries(MODEL_TIERS.map((t) => [t, [SIM_MODEL, FALLBACK]])) as Record<(typeof MODEL_TIERS)[number], string[]>,
      counters,
      clock: replicaClock,
      headroom,
      budget: { random },
    });
  });

  await clock.run(Promise.all(specs.map(async (spec) => {
    await clock.sleep(spec.arrivalMs);
    const outcome = outcomes.get(spec.id)!;
    try {
      const result = await routers[spec.replica]!.complete(requestFor(spec, spec.lane === 'interactive' ? clock.now() + deadlineMs : undefined));
      outcome.model = result.model.model;
      if (outcome.model !== SIM_MODEL) outcome.startedMs = clock.now() - start;
    } catch (err) {
      outcome.error = err instanceof Error ? err.message : String(err);
    }
  })));

  const all = [...outcomes.values()];
  const waits = (lane: Spec['lane']): LaneWaits => {
    const of = all.filter((o) => o.spec.lane === lane);
    const times = of.filter((o) => o.startedMs !== undefined).map((o) => Math.round(o.startedMs! - o.spec.arrivalMs)).sort((a, b) => a - b);
    return {
      requests: of.length,
      degraded: of.filter((o) => o.model !== undefined && o.model !== SIM_MODEL).length,
      failed: of.filter((o) => o.error !== undefined).length,
      p50Ms: percentile(times, 50),
      p95Ms: percentile(times, 95),
      maxMs: times.at(-1) ?? 0,
      meanMs: times.length ? Math.round(times.reduce((a, b) => a + b, 0) / times.length) : 0,
    };
  };
  const usage = provider.utilisation(WINDOW_MS);
  const wholeRun = provider.utilisation(0);
  return {
    requests: n,
    replicas,
    limits: { rpm, tpm },
    headroom,
    provider: { calls: provider.accepted.length, rateLimited: provider.rateLimited, peakWindow: provider.peakWindow() },
    utilisation: {
      rpm: round3(usage.rpm),
      tpm: round3(usage.tpm),
      binding: usage.rpm >= usage.tpm ? 'rpm' : 'tpm',
      ofBindingLimit: round3(Math.max(usage.rpm, usage.tpm)),
      wholeRun: { rpm: round3(wholeRun.rpm), tpm: round3(wholeRun.tpm) },
    },
    simulatedMs: Math.round(clock.now() - start),
    waits: { interactive: waits('interactive'), batch: waits('batch') },
  };
}

function requestFor(spec: Spec, deadlineMs: number | undefined): CompletionRequest {
  const promptChars = Math.round(spec.promptTokens * spec.charsPerToken);
  const header = `REQ ${spec.id}\n`;
  return {
    purpose: 'bench',
    tier: 'complex',
    messages: [{ role: 'user', content: header + 'x'.repeat(Math.max(0, promptChars - header.length)) }],
    maxTokens: spec.maxTokens,
    // Every prompt is different anyway; the benchmark measures budgets, not the cache.
    cache: false,
    lane: spec.lane,
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
  };
}

/**
 * An OpenAI-compatible provider's rate limiter: a rolling minute of accepted calls, each counted with
 * its actual tokens (prompt + completion) at the moment it arrives; a call that would take either
 * total past its limit is refused with 429.
 */
class SimulatedProvider {
  readonly accepted: { at: number; tokens: number }[] = [];
  rateLimited = 0;
  private first = 0;
  private tokensInWindow = 0;

  constructor(private readonly clock: SimulatedClock, private readonly rpm: number, private readonly tpm: number) {}

  admit(tokens: number): void {
    const now = this.clock.now();
    while (this.first < this.accepted.length && this.accepted[this.first]!.at <= now - WINDOW_MS) this.tokensInWindow -= this.accepted[this.first++]!.tokens;
    const inWindow = this.accepted.length - this.first;
    if (inWindow + 1 > this.rpm || this.tokensInWindow + tokens > this.tpm) {
      this.rateLimited++;
      throw new ModelRateLimitedError(`${SIM_MODEL} call failed with HTTP 429: Rate limit reached`, 1000);
    }
    this.accepted.push({ at: now, tokens });
    this.tokensInWindow += tokens;
  }

  /** The largest rolling-minute totals over the run. */
  peakWindow(): { requests: number; tokens: number } {
    let requests = 0;
    let tokens = 0;
    let lo = 0;
    let sum = 0;
    for (let hi = 0; hi < this.accepted.length; hi++) {
      sum += this.accepted[hi]!.tokens;
      while (this.accepted[lo]!.at <= this.accepted[hi]!.at - WINDOW_MS) sum -= this.accepted[lo++]!.tokens;
      requests = Math.max(requests, hi - lo + 1);
      tokens = Math.max(tokens, sum);
    }
    return { requests, tokens };
  }

  /**
   * Mean fill of the rolling minute, sampled each second from `skipMs` after the first call to the
   * last call (from the first call when the run is shorter than that).
   */
  utilisation(skipMs: number): { rpm: number; tpm: number } {
    if (this.accepted.length === 0) return { rpm: 0, tpm: 0 };
    const last = this.accepted.at(-1)!.at;
    const first = this.accepted[0]!.at + skipMs < last ? this.accepted[0]!.at + skipMs : this.accepted[0]!.at;
    let samples = 0;
    let rpmFill = 0;
    let tpmFill = 0;
    let lo = 0;
    let hi = 0;
    let sum = 0;
    for (let t = first; t <= last; t += 1000) {
      while (hi < this.accepted.length && this.accepted[hi]!.at <= t) sum += this.accepted[hi++]!.tokens;
      while (lo < hi && this.accepted[lo]!.at <= t - WINDOW_MS) sum -= this.accepted[lo++]!.tokens;
      rpmFill += (hi - lo) / this.rpm;
      tpmFill += sum / this.tpm;
      samples++;
    }
    return { rpm: rpmFill / samples, tpm: tpmFill / samples };
  }
}

/** One replica's client of the simulated provider: a network delay, then ~60 tokens/s after 400 ms to first token. */
class SimulatedProviderModel implements LanguageModel {
  readonly info: ModelInfo = { provider: 'openai', model: SIM_MODEL, label: `Simulated OpenAI-compatible model ${SIM_MODEL}` };

  constructor(
    private readonly provider: SimulatedProvider,
    private readonly clock: SimulatedClock,
    private readonly specs: Map<number, Spec>,
    private readonly networkDelay: () => number,
    private readonly onStart: (id: number) => void,
  ) {}

  async complete(request: CompletionRequest): Promise<CompletionResult> {
    const id = Number(/^REQ (\d+)\n/.exec(request.messages[0]?.content ?? '')?.[1]);
    const spec = this.specs.get(id);
    if (!spec) throw new FlotillaError(ErrorCode.ModelFailed, 'simulated provider got a request it did not generate', { retryable: false });
    await this.clock.sleep(this.networkDelay());
    this.provider.admit(spec.promptTokens + spec.completionTokens);
    this.onStart(id);
    await this.clock.sleep(400 + spec.completionTokens * 16, request.signal);
    if (request.signal?.aborted) throw new FlotillaError(ErrorCode.Timeout, 'simulated call aborted', { retryable: true });
    return {
      text: 'ok',
      toolCalls: [],
      model: this.info,
      usage: { promptTokens: spec.promptTokens, completionTokens: spec.completionTokens },
      finishReason: 'stop',
    };
  }

  async stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult> {
    const result = await this.complete(request);
    await onToken(result.text);
    return result;
  }
}

/** The fallback: answers at once, uses no provider budget (what the local model is in production). */
class InstantModel implements LanguageModel {
  readonly info: ModelInfo = { provider: 'local', model: FALLBACK, label: 'Simulated fallback (instant, no budget)' };

  complete(): Promise<CompletionResult> {
    return Promise.resolve({ text: 'fallback', toolCalls: [], model: this.info, usage: { promptTokens: 0, completionTokens: 0 }, finishReason: 'stop' });
  }

  async stream(_request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult> {
    await onToken('fallback');
    return this.complete();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** mulberry32: a small seeded PRNG, so every run sees the same requests. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
