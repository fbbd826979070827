import { circuitBreaker, CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, handleWhen, isBrokenCircuitError } from 'cockatiel';
import { ErrorCode, FlotillaError, Logger } from '@flotilla/common';
import { costOf, FREE, ModelPrices } from './accounting';
import { Clock, systemClock } from './clock';
import { CounterStore, InMemoryCounterStore } from './counter-store';
import { ModelRateLimitedError, ModelTimeoutError, retryAfterMs } from './errors';
import { tokenize } from './local-model';
import { ModelRoutes } from './model-config';
import { CompletionRequest, CompletionResult, LanguageModel, ModelInfo, MODEL_TIERS } from './port';
import { BudgetGrant, estimateTokens, RateBudget, RateBudgetOptions, RateLimits, Reservation } from './rate-budget';
import { cacheKey, isCacheable, ResponseCache } from './response-cache';
import { TenantBudget } from './tenant-budget';

/** One model the router may send calls to. */
export interface RoutedModel {
  /** Its name in routes. */
  name: string;
  model: LanguageModel;
  /** Default: free. */
  prices?: ModelPrices;
  /** Default: not limited. */
  limits?: RateLimits;
}

export interface ModelRouterOptions {
  models: RoutedModel[];
  routes: ModelRoutes;
  /** Where the rate budgets count (shared between replicas); default: this process's memory. */
  counters?: CounterStore;
  /** Omit to disable the response cache. */
  cache?: ResponseCache;
  /** How long a cached answer is reused (default 5 min; 0 disables the cache). */
  cacheTtlMs?: number;
  clock?: Clock;
  /** Share of each model's limits kept unused (default 0.1). */
  headroom?: number;
  /** Charged with each call's tokens when the request names a tenant. */
  tenantBudget?: TenantBudget;
  breaker?: {
    /** How long an open circuit skips its model before letting one probe call through (default 30 s). */
    halfOpenAfterMs?: number;
    /** Consecutive retryable failures that open the circuit (default 5). */
    consecutiveFailures?: number;
  };
  /** How long one call to one model may take before the next model of the chain is tried. */
  timeouts?: AttemptTimeouts;
  /** Fine-tuning of the rate budgets' windows (tests and the simulation). */
  budget?: Pick<RateBudgetOptions, 'windowMs' | 'fineMs' | 'coarseMs' | 'wakeJitterMs' | 'random' | 'keyPrefix'>;
  logger?: Logger;
}

/**
 * Per-attempt time limits. A model that runs past one has its call aborted; the timeout counts as that
 * model's failure towards its circuit, and the next model of the chain is tried — so a hanging provider
 * costs each call one short timeout, and after a few of them its circuit opens and it costs nothing.
 *
 * Which limits apply depends on whether the router can see the answer arrive. A whole-response call
 * (`complete`, or a stream that offers tools, whose tool calls stream no text) is bounded by
 * `attemptMs`. A text stream is bounded by `firstTokenMs` until its first token, then by `idleMs`
 * between tokens, and not by `attemptMs`: a long answer whose tokens keep coming is healthy, and
 * cutting it would only make the step retry and stream it again. Every attempt is also bounded by the
 * time left before the call's deadline less `fallbackReserveMs` (when a model comes after it), the
 * hard ceiling of a stream.
 */
export interface AttemptTimeouts {
  /** Longest a whole-response call to one model may take (default 10 s); not applied to text streams. */
  attemptMs?: number;
  /**
   * Streaming: longest wait for the first text token (default 5 s). Not applied to calls that offer
   * tools: a model may answer those with a tool call, which streams no text.
   */
  firstTokenMs?: number;
  /**
   * Streaming, after the first text token: longest silence between two tokens (default 5 s). It runs
   * only while the router waits for the model, not while a token is being handed on to the caller.
   */
  idleMs?: number;
  /**
   * Time kept free before the call's deadline for the models after this one in the chain (default 2 s):
   * an attempt that is not the chain's last gets at most the time left less this, so its timeout
   * still leaves time for a fallback answer.
   */
  fallbackReserveMs?: number;
}

/** The limits a router applies when its options leave them out (the config's defaults are the same). */
export const DEFAULT_ATTEMPT_TIMEOUTS: Readonly<Required<AttemptTimeouts>> = { attemptMs: 10_000, firstTokenMs: 5_000, idleMs: 5_000, fallbackReserveMs: 2_000 };

export type BreakerState = 'closed' | 'open' | 'half-open';

/** One model as `ModelRouter.status()` reports it. */
export interface ModelStatus {
  model: string;
  provider: ModelInfo['provider'];
  breaker: BreakerState;
  /** When the circuit last opened (ISO-8601). */
  openedAt?: string;
  /** The failure that last opened it. */
  lastFailure?: string;
  /** Provider limits and what admission stops at (limits less headroom); absent when unlimited. */
  limits?: { rpm: number; tpm: number; effectiveRpm: number; effectiveTpm: number };
  /** Calls waiting for this model's budget in this process. */
  queued: { interactive: number; batch: number };
}

interface Entry {
  name: string;
  model: LanguageModel;
  prices: ModelPrices;
  budget: RateBudget | undefined;
  policy: CircuitBreakerPolicy;
  /** Moving average of successful calls' duration: budget is only worth having if the call can still finish. */
  latencyMs: number;
  openedAt?: number;
  lastFailure?: string;
}

/** Why a model did not answer, and when it might. */
interface Failure {
  model: string;
  reason: string;
  /** No budget or a 429: the call can be retried once budget is back. */
  rateLimited: boolean;
  /** When this model is expected to take calls again, if known. */
  retryAfterMs?: number;
  error?: FlotillaError;
}

type Attempt = { ok: true; result: CompletionResult } | { ok: false; failure: Failure };

/** What an attempt needs to know about the call around it. */
interface AttemptContext {
  /** The caller's own signal: its abort is not the model's failure. */
  callerSignal: AbortSignal | undefined;
  deadline: Deadline;
  /** Whether a model comes after this one in the chain (then time is kept for it). */
  fallback: boolean;
}

/** A call's deadline on the router's clock. */
interface Deadline {
  /** The caller's signal, aborted also when the deadline passes. */
  signal: AbortSignal | undefined;
  /** Aborted only by the deadline passing. */
  expired: AbortSignal | undefined;
  passed(): boolean;
  error(cause?: unknown): FlotillaError;
  dispose(): void;
}

/**
 * The {@link LanguageModel} every agent uses: routes a call by its tier to an ordered chain of models
 * and answers with the first that can, with per-model circuit breakers, shared RPM/TPM budgets,
 * a response cache, cost accounting and per-tenant charging.
 *
 * For each model of the chain, in order: a cached answer is returned if there is one; a model whose
 * circuit is open is skipped; the call waits for the model's budget (interactive before batch), or
 * skips the model at once when the budget cannot be had before `deadlineMs`; then the call is made.
 * Each attempt runs under its own time limits (see {@link AttemptTimeouts}: a total cap for a whole
 * response, first-token and idle limits for a text stream), cut to the time left before the deadline
 * less a reserve for the models after it.
 * A retryable failure (rate limited, unavailable, timed out) moves on to the next model; when no
 * model is left the call fails RateLimited with the earliest `retryAfterMs` (or DependencyUnavailable
 * when nothing was rate limited).
 */
export class ModelRouter implements LanguageModel {
  /** The first choice of the `complex` tier: the model answers normally come from. */
  readonly info: ModelInfo;
  private readonly entries = new Map<string, Entry>();
  private readonly routes: ModelRoutes;
  private readonly clock: Clock;
  private readonly cache: ResponseCache | undefined;
  private readonly cacheTtlMs: number;
  private readonly tenantBudget: TenantBudget | undefined;
  private readonly halfOpenAfterMs: number;
  private readonly timeouts: Readonly<Required<AttemptTimeouts>>;
  private readonly log: Logger | undefined;

  constructor(options: ModelRouterOptions) {
    this.clock = options.clock ?? systemClock;
    this.routes = options.routes;
    this.cacheTtlMs = options.cacheTtlMs ?? 300_000;
    this.cache = this.cacheTtlMs > 0 ? options.cache : undefined;
    this.tenantBudget = options.tenantBudget;
    this.halfOpenAfterMs = options.breaker?.halfOpenAfterMs ?? 30_000;
    this.timeouts = { ...DEFAULT_ATTEMPT_TIMEOUTS, ...definedOnly(options.timeouts ?? {}) };
    for (const [key, ms] of Object.entries(this.timeouts)) {
      if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && key !== 'fallbackReserveMs')) {
        throw new FlotillaError(ErrorCode.ConfigInvalid, `timeouts.${key} must be a number of ms > 0, got ${ms}`, { retryable: false });
      }
    }
    this.log = options.logger;
    const counters = options.counters ?? new InMemoryCounterStore(this.clock);
    const failures = options.breaker?.consecutiveFailures ?? 5;
    for (const m of options.models) {
      if (this.entries.has(m.name)) throw new FlotillaError(ErrorCode.ConfigInvalid, `model ${m.name} is listed twice`, { retryable: false });
      const limits = m.limits ?? { rpm: 0, tpm: 0 };
      const budget = limits.rpm > 0 || limits.tpm > 0
        ? new RateBudget({ ...options.budget, model: m.name, limits, counters, clock: this.clock, headroom: options.headroom })
        : undefined;
      // Only failures that say the model is unwell count: a bad request of ours is not its fault.
      const policy = circuitBreaker(handleWhen((err) => err instanceof FlotillaError && err.retryable), {
        halfOpenAfter: this.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(failures),
      });
      const entry: Entry = { name: m.name, model: m.model, prices: m.prices ?? FREE, budget, policy, latencyMs: 0 };
      policy.onBreak((reason) => {
        // cockatiel times the open state with Date.now, so the skip check below does too.
        entry.openedAt = Date.now();
        entry.lastFailure = 'error' in reason ? reason.error.message : 'isolated' in reason ? 'isolated' : String(reason.value);
        this.log?.warn('model circuit opened: skipping the model', { model: m.name, lastFailure: entry.lastFailure, probeInMs: this.halfOpenAfterMs });
      });
      policy.onReset(() => this.log?.info('model circuit closed: model recovered', { model: m.name }));
      this.entries.set(m.name, entry);
    }
    for (const tier of MODEL_TIERS) {
      const chain = this.routes[tier];
      if (!chain?.length) throw new FlotillaError(ErrorCode.ConfigInvalid, `no models routed for tier ${tier}`, { retryable: false });
      for (const name of chain) {
        if (!this.entries.has(name)) throw new FlotillaError(ErrorCode.ConfigInvalid, `tier ${tier} routes to unknown model ${name}`, { retryable: false });
      }
    }
    this.info = this.entries.get(this.routes.complex[0]!)!.model.info;
  }

  complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.run(request, undefined);
  }

  stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult> {
    return this.run(request, onToken);
  }

  /** Every model's circuit, limits and queue, in configuration order. */
  status(): ModelStatus[] {
    return [...this.entries.values()].map((e) => {
      const breaker = breakerState(e.policy.state);
      const budget = e.budget;
      return {
        model: e.name,
        provider: e.model.info.provider,
        breaker,
        ...(e.openedAt !== undefined ? { openedAt: new Date(e.openedAt).toISOString() } : {}),
        ...(e.lastFailure !== undefined ? { lastFailure: e.lastFailure } : {}),
        ...(budget ? { limits: { ...budget.limits, effectiveRpm: budget.effective.rpm, effectiveTpm: budget.effective.tpm } } : {}),
        queued: budget ? budget.queued : { interactive: 0, batch: 0 },
      };
    });
  }

  private async run(request: CompletionRequest, onToken: ((text: string) => Promise<void> | void) | undefined): Promise<CompletionResult> {
    const current = this.routes[request.tier];
    if (!current) throw new FlotillaError(ErrorCode.ValidationFailed, `unknown model tier ${String(request.tier)}`, { retryable: false });
    const pinned = request.routes?.[request.tier]?.filter((name) => this.entries.has(name));
    const chain = pinned && pinned.length > 0 ? pinned : current;
    const deadline = this.deadline(request);
    const stream = { emitted: false };
    const emit = onToken && (async (text: string): Promise<void> => {
      stream.emitted = true;
      await onToken(text);
    });
    const failures: Failure[] = [];
    try {
      for (const [i, name] of chain.entries()) {
        if (request.signal?.aborted) throw new FlotillaError(ErrorCode.Timeout, 'model call aborted by the caller', { retryable: true, cause: request.signal.reason });
        if (deadline.passed()) throw deadline.error();
        const context: AttemptContext = { callerSignal: request.signal, deadline, fallback: i < chain.length - 1 };
        const attempt = await this.attempt(this.entries.get(name)!, { ...request, signal: deadline.signal }, emit, context);
        if (attempt.ok) return attempt.result;
        const { failure } = attempt;
        failures.push(failure);
        // Fallback is only for a call that has shown nothing yet: once tokens of one model's answer
        // reached the customer, another model's answer would be spliced onto them. The caller's retry
        // path starts the answer over instead.
        if (stream.emitted && failure.error) throw failure.error;
        if (request.signal?.aborted) throw failure.error ?? new FlotillaError(ErrorCode.Timeout, 'model call aborted by the caller', { retryable: true });
        if (deadline.passed()) throw deadline.error(failure.error);
        const next = chain[i + 1];
        this.log?.warn(next ? 'model unavailable: falling back' : 'model unavailable: no model left', {
          model: name, reason: failure.reason, purpose: request.purpose, tier: request.tier, ...(next ? { next } : {}),
        });
      }
      throw exhausted(request, failures);
    } finally {
      deadline.dispose();
    }
  }

  private async attempt(
    entry: Entry, request: CompletionRequest, emit: ((text: string) => Promise<void>) | undefined, context: AttemptContext,
  ): Promise<Attempt> {
    const { callerSignal, deadline, fallback } = context;
    // The local model is not cached: it is deterministic, answers faster than a shared cache could,
    // and `cached` then always means a provider call was saved.
    const key = this.cache && isCacheable(request) && entry.model.info.provider !== 'local' ? cacheKey(entry.name, request) : undefined;
    if (key) {
      const hit = await this.cacheGet(key);
      if (hit) {
        if (emit) for (const token of tokenize(hit.text)) await emit(token);
        return { ok: true, result: { ...hit, usage: { promptTokens: 0, completionTokens: 0, costUsd: 0 }, cached: true } };
      }
    }

    const skip = this.circuitRefuses(entry);
    if (skip !== undefined) return { ok: false, failure: { model: entry.name, reason: 'circuit open', rateLimited: false, retryAfterMs: skip } };
    // Time the deadline leaves this model once the next ones' share is kept: none means it is skipped
    // without a call (and without counting against its circuit: it was never asked).
    const reserveMs = fallback ? this.timeouts.fallbackReserveMs : 0;
    if (this.timeLeft(request, reserveMs) <= 0) {
      return { ok: false, failure: { model: entry.name, reason: `no time left before the deadline (${reserveMs} ms kept for the next model)`, rateLimited: false } };
    }

    let reservation: Reservation | undefined;
    if (entry.budget) {
      let grant: BudgetGrant;
      try {
        grant = await entry.budget.acquire({
          tokens: estimateTokens(promptChars(request), request.maxTokens),
          lane: request.lane,
          // Budget granted so late that the call cannot finish by the deadline (less the fallback's share) is no use.
          deadlineMs: request.deadlineMs === undefined ? undefined : request.deadlineMs - reserveMs - entry.latencyMs,
          signal: request.signal,
        });
      } catch (err) {
        const error = FlotillaError.from(err);
        if (request.signal?.aborted || !error.retryable) throw error;
        // The counter store is down: calling anyway could break the provider's limits for every
        // replica, so this model is skipped like one without budget (the local model has none).
        return { ok: false, failure: { model: entry.name, reason: `budget unavailable: ${error.message}`, rateLimited: false, error } };
      }
      if (!grant.ok) {
        const reason = grant.reason === 'deadline' ? 'no budget before the deadline' : 'request larger than the model\'s token budget';
        return { ok: false, failure: { model: entry.name, reason, rateLimited: true, ...(grant.retryAfterMs !== undefined ? { retryAfterMs: grant.retryAfterMs } : {}) } };
      }
      reservation = grant.reservation;
    }

    let result: CompletionResult;
    const started = this.clock.now();
    // The limits abort the call inside the circuit's execute, so a timeout counts as this model's failure as a 503 would.
    // A stream that offers tools is limited as a whole response: its tool calls would show no progress.
    const limits = this.attemptLimits(entry.name, request, reserveMs, emit !== undefined && !request.tools?.length);
    try {
      result = await entry.policy.execute(async () => {
        const signal = request.signal ? AbortSignal.any([request.signal, limits.signal]) : limits.signal;
        try {
          const call = emit
            // A model that ignores its signal may still be sending tokens after the attempt gave up on
            // it; they must not reach the customer ahead of the next model's answer.
            ? entry.model.stream({ ...request, signal }, async (text) => {
              if (signal.aborted) return;
              limits.tokenArrived();
              await emit(text);
              limits.waiting();
            })
            : entry.model.complete({ ...request, signal });
          return await untilAborted(call, signal);
        } catch (err) {
          // The caller giving up says nothing about the model's health: keep it out of the circuit's count.
          if (callerSignal?.aborted) throw new CallerAborted(err);
          // Say which limit ran out, not what the adapter made of its aborted request.
          if (limits.signal.aborted) throw limits.signal.reason;
          if (deadline.expired?.aborted) throw deadline.error(err);
          throw err;
        }
      });
    } catch (thrown) {
      const err = thrown instanceof CallerAborted ? thrown.error : thrown;
      if (isBrokenCircuitError(err)) {
        // The circuit opened while this call waited for budget: it never reached the model.
        await this.quietly('release budget', () => reservation?.release());
        return { ok: false, failure: { model: entry.name, reason: 'circuit open', rateLimited: false, retryAfterMs: this.halfOpenAfterMs } };
      }
      // A failed call keeps its reservation: it may well have reached the provider and been counted.
      const error = FlotillaError.from(err);
      // Only failures that another model may not share move on. A non-retryable error (a request the
      // API rejects, an answer that breaks its schema) would most likely repeat on the next model;
      // falling back would hide our bug behind a silently worse model and spend budget on the way.
      if (!error.retryable) throw error;
      const rateLimited = error.code === ErrorCode.RateLimited;
      return { ok: false, failure: { model: entry.name, reason: error.message, rateLimited, retryAfterMs: retryAfterMs(error), error } };
    } finally {
      limits.dispose();
    }

    const took = this.clock.now() - started;
    entry.latencyMs = entry.latencyMs === 0 ? took : 0.8 * entry.latencyMs + 0.2 * took;
    const tokens = result.usage.promptTokens + result.usage.completionTokens;
    await this.quietly('settle budget', () => reservation?.settle(tokens));
    const priced: CompletionResult = { ...result, usage: { ...result.usage, costUsd: costOf(result.usage, entry.prices) } };
    if (request.tenantId && this.tenantBudget) {
      const tenantId = request.tenantId;
      await this.quietly('charge tenant', () => this.tenantBudget?.charge(tenantId, tokens));
    }
    if (key && this.cache) {
      const cache = this.cache;
      await this.quietly('cache answer', () => cache.set(key, priced, this.cacheTtlMs));
    }
    return { ok: true, result: priced };
  }

  /** ms until the circuit lets a probe through when it refuses calls now; undefined when it lets this one through. */
  private circuitRefuses(entry: Entry): number | undefined {
    switch (entry.policy.state) {
      case CircuitState.Closed:
        return undefined;
      case CircuitState.HalfOpen:
        // cockatiel would queue this call behind the probe; a hanging probe must not hold it.
        return this.halfOpenAfterMs;
      case CircuitState.Open:
      case CircuitState.Isolated: {
        const left = (entry.openedAt ?? 0) + this.halfOpenAfterMs - Date.now();
        return left > 0 || entry.policy.state === CircuitState.Isolated ? Math.max(0, left) : undefined;
      }
    }
  }

  private async cacheGet(key: string): Promise<CompletionResult | undefined> {
    try {
      return await this.cache?.get(key);
    } catch (err) {
      this.log?.warn('response cache read failed: calling the model', { error: err });
      return undefined;
    }
  }

  /**
   * Bookkeeping after an answer was obtained (budget, tenant charge, cache) is logged when it fails,
   * not thrown: failing a call the provider already answered, and billed, would only make the caller
   * pay for it twice.
   */
  private async quietly(what: string, fn: () => Promise<unknown> | undefined): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log?.warn(`${what} failed`, { error: err });
    }
  }

  /** The call's signal, aborted also when `deadlineMs` passes (on the router's clock). */
  private deadline(request: CompletionRequest): Deadline {
    const deadlineMs = request.deadlineMs;
    const error = (cause?: unknown): FlotillaError =>
      new FlotillaError(ErrorCode.Timeout, `model call missed its deadline (${new Date(deadlineMs ?? 0).toISOString()})`, { retryable: true, cause });
    if (deadlineMs === undefined) return { signal: request.signal, expired: undefined, passed: () => false, error, dispose: () => undefined };
    const timer = new AbortController();
    const disposed = new AbortController();
    abortAfter(this.clock, deadlineMs - this.clock.now(), disposed.signal, () => timer.abort(error()));
    return {
      signal: request.signal ? AbortSignal.any([request.signal, timer.signal]) : timer.signal,
      expired: timer.signal,
      passed: () => this.clock.now() >= deadlineMs,
      error,
      dispose: () => disposed.abort(),
    };
  }

  /** ms left before the call's deadline once `reserveMs` is kept (Infinity without a deadline). */
  private timeLeft(request: CompletionRequest, reserveMs: number): number {
    return request.deadlineMs === undefined ? Infinity : request.deadlineMs - reserveMs - this.clock.now();
  }

  /**
   * One attempt's time limits, on the router's clock: a signal aborted with a {@link ModelTimeoutError}
   * when the first of them runs out. The ceiling is the time left before the deadline less `reserveMs`
   * — for a whole-response call, cut to the attempt timeout. A text stream (`streamed`) has no attempt
   * timeout; instead it must send its first token within the first-token timeout and then never be
   * silent for the idle timeout: `tokenArrived` stops the silence timer, `waiting` (once the token was
   * handed on) starts it again.
   *
   * On the clock rather than cockatiel's `timeout` policy, which reads wall time through setTimeout:
   * the deadline, budgets and the budget simulation run on this clock, and the first-token and idle
   * limits restart with each token, which a fixed-duration policy cannot express.
   */
  private attemptLimits(model: string, request: CompletionRequest, reserveMs: number, streamed: boolean): {
    signal: AbortSignal; tokenArrived(): void; waiting(): void; dispose(): void;
  } {
    const fired = new AbortController();
    const disposed = new AbortController();
    // The first limit to run out names the error; one that runs out after it changes nothing.
    const fire = (error: ModelTimeoutError): void => {
      if (!fired.signal.aborted) fired.abort(error);
    };
    const left = this.timeLeft(request, reserveMs);
    const { attemptMs, firstTokenMs, idleMs } = this.timeouts;
    const ceilingMs = streamed ? left : Math.min(attemptMs, left);
    // Without a deadline a stream has no ceiling here (the adapter's own whole-call backstop remains).
    if (Number.isFinite(ceilingMs)) {
      const why = !streamed && left >= attemptMs
        ? 'the attempt timeout'
        : `the time left before the call's deadline${reserveMs ? `, less ${reserveMs} ms kept for the next model` : ''}`;
      abortAfter(this.clock, ceilingMs, disposed.signal, () => fire(
        new ModelTimeoutError(`${model} did not answer within ${Math.round(ceilingMs)} ms (${why})`, model, 'attempt', ceilingMs),
      ));
    }
    if (!streamed) return { signal: fired.signal, tokenArrived: () => undefined, waiting: () => undefined, dispose: () => disposed.abort() };

    let tokens = 0;
    let silence: AbortController | undefined;
    const waiting = (): void => {
      silence?.abort();
      if (disposed.signal.aborted) return;
      silence = new AbortController();
      const after = tokens;
      abortAfter(this.clock, after === 0 ? firstTokenMs : idleMs, silence.signal, () => fire(after === 0
        ? new ModelTimeoutError(`${model} sent no first token within ${firstTokenMs} ms (the first-token timeout)`, model, 'first-token', firstTokenMs)
        : new ModelTimeoutError(`${model} sent nothing for ${idleMs} ms after ${after} token(s) (the stream idle timeout)`, model, 'idle', idleMs)));
    };
    waiting();
    return {
      signal: fired.signal,
      tokenArrived: () => {
        tokens++;
        silence?.abort();
      },
      waiting,
      dispose: () => {
        disposed.abort();
        silence?.abort();
      },
    };
  }
}

/** Calls `fire` after `ms` on `clock`, unless `cancel` aborts first. */
function abortAfter(clock: Clock, ms: number, cancel: AbortSignal, fire: () => void): void {
  void clock.sleep(ms, cancel).then(() => {
    if (!cancel.aborted) fire();
  });
}

/**
 * `work`, or a rejection with the signal's reason as soon as `signal` aborts: a model that ignores its
 * signal does not hold the call (and the chain) past the limit.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** `value` without its undefined fields, so spreading it over defaults keeps them. */
function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Carries an error through the circuit breaker without counting it as the model's failure. */
class CallerAborted extends Error {
  constructor(readonly error: unknown) {
    super('caller aborted');
  }
}

function breakerState(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.HalfOpen:
      return 'half-open';
    case CircuitState.Open:
    case CircuitState.Isolated:
      return 'open';
  }
}

function promptChars(request: CompletionRequest): number {
  return request.messages.reduce((n, m) => n + m.content.length, 0) + (request.tools?.length ? JSON.stringify(request.tools).length : 0);
}

function exhausted(request: CompletionRequest, failures: Failure[]): FlotillaError {
  const summary = failures.map((f) => `${f.model}: ${f.reason}`).join('; ');
  const message = `no model of the ${request.tier} tier could answer (${summary})`;
  const waits = failures.flatMap((f) => (f.retryAfterMs !== undefined ? [f.retryAfterMs] : []));
  if (failures.some((f) => f.rateLimited)) {
    return new ModelRateLimitedError(message, waits.length ? Math.min(...waits) : undefined, { cause: failures.at(-1)?.error });
  }
  return new FlotillaError(ErrorCode.DependencyUnavailable, message, { retryable: true, cause: failures.at(-1)?.error });
}
