import { circuitBreaker, CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, handleAll, IBreaker, isBrokenCircuitError, SamplingBreaker } from 'cockatiel';
import { ErrorCode, FlotillaError, Logger } from '@flotilla/common';

/** What a circuit is doing: letting calls through, refusing them, or letting one probe through. */
export type CircuitStateName = 'closed' | 'open' | 'half-open' | 'isolated';

/** One integration's circuit, as `ToolRegistry.status()` and health pages show it. */
export interface CircuitStatus {
  state: CircuitStateName;
  /** When the circuit last opened (ISO-8601), if it ever did. */
  openedAt?: string;
  /** While open: how long until the next call is let through as a probe. */
  probeInMs?: number;
  /** The failure that last opened the circuit. */
  lastFailure?: string;
  /** Calls refused without reaching the integration, since start. */
  refused: number;
  /** Times the circuit opened, since start. */
  opened: number;
}

/**
 * The per-integration circuit-breaker seam of {@link HttpConnector}. The connector runs each request
 * through `execute`; a breaker counts the request's retryable failures (5xx, 429, timeouts, refused
 * connections) and, once the integration looks down, refuses calls by throwing a
 * {@link CircuitOpenError} without running them. Errors that are the caller's fault (4xx,
 * cancellation) pass through and count as the dependency having answered.
 *
 * Wrap-style rather than before/after callbacks so that a half-open probe and its outcome are one
 * call, which is how resilience libraries (cockatiel) model it.
 */
export interface CircuitBreaker {
  /** Runs `request` through the circuit of `integration`, or throws a `CircuitOpenError` without running it. */
  execute<T>(integration: string, request: () => Promise<T>): Promise<T>;
  /** The circuit of `integration` (closed when it has seen no calls). */
  status(integration: string): CircuitStatus;
}

/** Lets every call through: for tests and callers that want no breaker at all. */
export const alwaysClosedBreaker: CircuitBreaker = {
  execute: (_integration, request) => request(),
  status: () => ({ state: 'closed', refused: 0, opened: 0 }),
};

/**
 * An integration's circuit is open: the call was refused without reaching it. Retryable — the
 * integration may be back by the time the step is tried again — but retrying within the same tool
 * call cannot help before `retryAfterMs`, so the registry does not.
 */
export class CircuitOpenError extends FlotillaError {
  constructor(
    readonly integration: string,
    readonly retryAfterMs: number,
    detail: string,
  ) {
    super(ErrorCode.DependencyUnavailable, `circuit open for ${integration}: ${detail}`, { retryable: true });
    this.name = 'CircuitOpenError';
  }
}

/** When a circuit opens: after N consecutive failures, or when a share of calls in a time window fail. */
export type BreakerStrategy =
  | { kind: 'consecutive'; failures: number }
  /** Opens when more than `threshold` (0..1) of the calls in the last `durationMs` failed, given at least `minimumRps` (default: 5 failures a second). */
  | { kind: 'sampling'; threshold: number; durationMs: number; minimumRps?: number };

export interface CircuitBreakerOptions {
  /** How long an open circuit refuses calls before letting one probe through. Default 10 s. */
  halfOpenAfterMs?: number;
  /** Default: open after 5 consecutive failures. */
  strategy?: BreakerStrategy;
  /** Logs every state change (open is a warning). */
  logger?: Logger;
}

const DEFAULT_HALF_OPEN_AFTER_MS = 10_000;
const DEFAULT_STRATEGY: BreakerStrategy = { kind: 'consecutive', failures: 5 };

interface Circuit {
  policy: CircuitBreakerPolicy;
  openedAt?: number;
  lastFailure?: string;
  refused: number;
  opened: number;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function stateName(state: CircuitState): CircuitStateName {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.Open:
      return 'open';
    case CircuitState.HalfOpen:
      return 'half-open';
    case CircuitState.Isolated:
      return 'isolated';
  }
}

function countsAsFailure(err: unknown): boolean {
  // Anything that is not a FlotillaError is a bug on our side, not the dependency being down.
  return err instanceof FlotillaError && err.retryable;
}

function describeFailure(reason: { error: Error } | { value: unknown } | { isolated: true }): string {
  if ('error' in reason) return reason.error.message;
  if ('isolated' in reason) return 'isolated by an operator';
  return String(reason.value);
}

/**
 * One cockatiel circuit breaker per integration (a connector's integration name, which defaults to
 * its base URL's host), created on first use. Share one instance between connectors: each
 * integration still gets its own circuit, so a degraded dependency fails fast without slowing tools
 * that call healthy ones.
 *
 * While a circuit is half-open, cockatiel would queue every other call behind the probe; this class
 * refuses them instead, so a hanging probe cannot hold callers for its whole timeout.
 */
export class CircuitBreakers implements CircuitBreaker {
  private readonly circuits = new Map<string, Circuit>();
  private readonly halfOpenAfterMs: number;
  private readonly strategy: BreakerStrategy;
  private readonly log: Logger | undefined;

  constructor(options: CircuitBreakerOptions = {}) {
    this.halfOpenAfterMs = options.halfOpenAfterMs ?? DEFAULT_HALF_OPEN_AFTER_MS;
    this.strategy = options.strategy ?? DEFAULT_STRATEGY;
    this.log = options.logger;
    const invalid = (why: string): FlotillaError => new FlotillaError(ErrorCode.ConfigInvalid, `circuit breaker: ${why}`, { retryable: false });
    if (!Number.isFinite(this.halfOpenAfterMs) || this.halfOpenAfterMs < 0) throw invalid('halfOpenAfterMs must be a number >= 0');
    switch (this.strategy.kind) {
      case 'consecutive':
        if (!Number.isInteger(this.strategy.failures) || this.strategy.failures < 1) throw invalid('failures must be a whole number >= 1');
        break;
      case 'sampling':
        if (!(this.strategy.threshold > 0 && this.strategy.threshold < 1)) throw invalid('threshold must be in (0, 1)');
        if (!(this.strategy.durationMs > 0)) throw invalid('durationMs must be > 0');
        break;
    }
  }

  async execute<T>(integration: string, request: () => Promise<T>): Promise<T> {
    const circuit = this.circuit(integration);
    if (circuit.policy.state === CircuitState.HalfOpen) throw this.refuse(integration, circuit, 'a probe call is in flight');
    let outcome: Outcome<T> | undefined;
    try {
      await circuit.policy.execute(async () => {
        try {
          outcome = { ok: true, value: await request() };
        } catch (err) {
          outcome = { ok: false, error: err };
          if (countsAsFailure(err)) throw err;
        }
      });
    } catch (err) {
      if (isBrokenCircuitError(err)) throw this.refuse(integration, circuit, this.openDetail(circuit));
      // Otherwise it is the request's own failure, already counted and kept in `outcome`.
    }
    if (!outcome) throw new FlotillaError(ErrorCode.Internal, `circuit ${integration}: the request neither ran nor was refused`);
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  status(integration: string): CircuitStatus {
    const circuit = this.circuits.get(integration);
    if (!circuit) return { state: 'closed', refused: 0, opened: 0 };
    const state = stateName(circuit.policy.state);
    return {
      state,
      ...(circuit.openedAt === undefined ? {} : { openedAt: new Date(circuit.openedAt).toISOString() }),
      ...(state === 'open' ? { probeInMs: this.probeInMs(circuit) } : {}),
      ...(circuit.lastFailure === undefined ? {} : { lastFailure: circuit.lastFailure }),
      refused: circuit.refused,
      opened: circuit.opened,
    };
  }

  private circuit(integration: string): Circuit {
    const existing = this.circuits.get(integration);
    if (existing) return existing;
    const policy = circuitBreaker(handleAll, { halfOpenAfter: this.halfOpenAfterMs, breaker: this.newBreaker() });
    const created: Circuit = { policy, refused: 0, opened: 0 };
    policy.onBreak((reason) => {
      created.openedAt = Date.now();
      created.opened += 1;
      created.lastFailure = describeFailure(reason);
      this.log?.warn('circuit opened: failing fast', { integration, lastFailure: created.lastFailure, probeInMs: this.halfOpenAfterMs });
    });
    policy.onHalfOpen(() => this.log?.info('circuit half-open: probing', { integration }));
    policy.onReset(() => this.log?.info('circuit closed: integration recovered', { integration }));
    this.circuits.set(integration, created);
    return created;
  }

  private newBreaker(): IBreaker {
    switch (this.strategy.kind) {
      case 'consecutive':
        return new ConsecutiveBreaker(this.strategy.failures);
      case 'sampling':
        return new SamplingBreaker({ threshold: this.strategy.threshold, duration: this.strategy.durationMs, minimumRps: this.strategy.minimumRps });
    }
  }

  private probeInMs(circuit: Circuit): number {
    return Math.max(0, (circuit.openedAt ?? Date.now()) + this.halfOpenAfterMs - Date.now());
  }

  private openDetail(circuit: Circuit): string {
    return `calls are refused for ${this.probeInMs(circuit)} ms more (last failure: ${circuit.lastFailure ?? 'unknown'})`;
  }

  private refuse(integration: string, circuit: Circuit, detail: string): CircuitOpenError {
    circuit.refused += 1;
    return new CircuitOpenError(integration, circuit.policy.state === CircuitState.HalfOpen ? 0 : this.probeInMs(circuit), detail);
  }
}
