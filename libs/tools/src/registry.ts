import { ErrorCode, FlotillaError, Logger } from '@flotilla/common';
import { CircuitOpenError, CircuitStatus } from './breaker';
import { HttpConnector } from './http';
import { ArgsSchema, validateArgs } from './schema';

/** How often a tool is tried (`attempts` counts the first try) and the base of its exponential backoff. */
export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  /** Cap on one backoff delay; defaults to 2 s. */
  maxDelayMs?: number;
}

export interface ToolContext {
  /** Stable across retries of one call; side-effecting tools send it as `Idempotency-Key`. */
  idempotencyKey: string;
  /** Aborts at the call's deadline (reason: a `Timeout` FlotillaError) or when the caller cancels. */
  signal: AbortSignal;
  http: HttpConnector;
}

export interface ToolDefinition<A extends Record<string, unknown> = Record<string, unknown>> {
  /** Dotted, e.g. `order.lookup`. */
  name: string;
  /** What the tool does, written for the LLM choosing tools. */
  description: string;
  /** Validates arguments before the call and is published to LLMs as the tool's parameters. */
  argsSchema: ArgsSchema;
  /** Budget for the whole call, retries and backoff included. */
  timeoutMs: number;
  retry: RetryPolicy;
  /** Changes something outside (creates a refund): requires an idempotency key. */
  sideEffect: boolean;
  /**
   * The integration (connector) the tool calls, by its name; defaults to the registry's first
   * connector. Each integration has its own circuit, so one that is down does not hold up the others.
   */
  integration?: string;
  /** Receives arguments that already passed `argsSchema`. */
  execute(args: A, ctx: ToolContext): Promise<Record<string, unknown>>;
}

/** What `list()` publishes about a tool. */
export interface ToolDescriptor {
  name: string;
  description: string;
  argsSchema: ArgsSchema;
  sideEffect: boolean;
}

export interface ExecuteOptions {
  idempotencyKey: string;
  /** Overrides the tool's own `timeoutMs`. */
  timeoutMs?: number;
  /** Cancels the call (e.g. the workflow was cancelled). */
  signal?: AbortSignal;
}

/** One integration the registry calls, its circuit, and the tools that use it. */
export interface IntegrationStatus {
  integration: string;
  baseUrl: string;
  circuit: CircuitStatus;
  tools: string[];
}

export interface ToolRegistryOptions {
  /** The connector(s) tools call; with several, each tool names its `integration`. */
  http: HttpConnector | readonly HttpConnector[];
  logger?: Logger;
  /** Source of jitter in [0, 1); injectable for tests. */
  random?: () => number;
}

const DEFAULT_MAX_DELAY_MS = 2_000;

/** Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^(attempt-1))). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs ?? DEFAULT_MAX_DELAY_MS, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

function abortError(name: string, signal: AbortSignal): FlotillaError {
  const reason: unknown = signal.reason;
  return reason instanceof FlotillaError ? reason : new FlotillaError(ErrorCode.ToolFailed, `${name}: cancelled`, { retryable: false, cause: reason });
}

/** Settles with `promise`, or rejects as soon as `signal` aborts — a tool that ignores its signal still cannot overrun. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, name: string): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(name, signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(name, signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

function sleep(ms: number, signal: AbortSignal, name: string): Promise<void> {
  return untilAborted(new Promise<void>((resolve) => setTimeout(resolve, ms).unref()), signal, name);
}

/**
 * The tool agent's tools: validates arguments, enforces each call's time budget, and retries errors
 * that say retrying can help, with backoff, within the tool's retry policy and budget. Errors leave as
 * FlotillaErrors whose `retryable` tells the worker whether a later redelivery may succeed.
 */
export class ToolRegistry {
  private readonly tools = new Map<string, ToolDefinition>();
  private readonly connectors = new Map<string, HttpConnector>();
  private readonly defaultIntegration: string;
  private readonly log: Logger | undefined;
  private readonly random: () => number;

  constructor(options: ToolRegistryOptions) {
    const connectors: readonly HttpConnector[] = Array.isArray(options.http) ? options.http : [options.http as HttpConnector];
    if (connectors.length === 0) throw new FlotillaError(ErrorCode.ConfigInvalid, 'a tool registry needs at least one connector', { retryable: false });
    for (const c of connectors) {
      if (this.connectors.has(c.integration)) throw new FlotillaError(ErrorCode.ConfigInvalid, `two connectors are named ${c.integration}`, { retryable: false });
      this.connectors.set(c.integration, c);
    }
    this.defaultIntegration = connectors[0]!.integration;
    this.log = options.logger;
    this.random = options.random ?? Math.random;
  }

  register<A extends Record<string, unknown>>(def: ToolDefinition<A>): this {
    if (this.tools.has(def.name)) throw new FlotillaError(ErrorCode.Conflict, `tool ${def.name} is already registered`, { retryable: false });
    if (def.retry.attempts < 1 || !Number.isInteger(def.retry.attempts)) throw new FlotillaError(ErrorCode.ConfigInvalid, `${def.name}: retry.attempts must be a whole number >= 1`, { retryable: false });
    if (def.integration !== undefined && !this.connectors.has(def.integration)) {
      throw new FlotillaError(ErrorCode.ConfigInvalid, `${def.name}: no connector for integration ${def.integration} (known: ${[...this.connectors.keys()].join(', ')})`, { retryable: false });
    }
    // Arguments reach `execute` only after `argsSchema` accepted them; that is what makes A honest.
    this.tools.set(def.name, def as unknown as ToolDefinition);
    return this;
  }

  list(): ToolDescriptor[] {
    return [...this.tools.values()].map(({ name, description, argsSchema, sideEffect }) => ({ name, description, argsSchema, sideEffect }));
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  /** Every integration with the state of its circuit breaker and the tools that call it. */
  status(): IntegrationStatus[] {
    return [...this.connectors.values()].map((c) => ({
      ...c.status(),
      tools: [...this.tools.values()].filter((t) => (t.integration ?? this.defaultIntegration) === c.integration).map((t) => t.name),
    }));
  }

  async execute(name: string, args: unknown, options: ExecuteOptions): Promise<Record<string, unknown>> {
    const def = this.tools.get(name);
    if (!def) {
      throw new FlotillaError(ErrorCode.ValidationFailed, `unknown tool "${name}" (known: ${[...this.tools.keys()].join(', ')})`, {
        retryable: false,
        fields: [{ field: 'tool', reasons: [`unknown tool "${name}"`] }],
      });
    }
    if (def.sideEffect && !options.idempotencyKey) {
      throw new FlotillaError(ErrorCode.ValidationFailed, `${name}: changes state, so it needs an idempotency key`, {
        retryable: false,
        fields: [{ field: 'idempotencyKey', reasons: ['is required for a side-effecting tool'] }],
      });
    }
    validateArgs(name, def.argsSchema, args);

    const budgetMs = options.timeoutMs ?? def.timeoutMs;
    const deadline = Date.now() + budgetMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new FlotillaError(ErrorCode.Timeout, `${name} timed out after ${budgetMs} ms`)), budgetMs);
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    const ctx: ToolContext = { idempotencyKey: options.idempotencyKey, signal, http: this.connectors.get(def.integration ?? this.defaultIntegration)! };

    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await untilAborted(def.execute(args, ctx), signal, name);
        } catch (err) {
          const error = this.normalise(name, err);
          // An open circuit refuses every attempt until it probes again: fail fast, let a later redelivery retry.
          if (!error.retryable || error instanceof CircuitOpenError || attempt >= def.retry.attempts || signal.aborted) throw error;
          const delayMs = backoffDelay(attempt, def.retry, this.random);
          // A retry that cannot start before the deadline only turns a clear error into a timeout.
          if (Date.now() + delayMs >= deadline) throw error;
          this.log?.warn('tool attempt failed; retrying', { tool: name, attempt, delayMs, code: error.code, error: error.message });
          await sleep(delayMs, signal, name);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connectors' pooled sockets. */
  close(): void {
    for (const c of this.connectors.values()) c.close();
  }

  /** Errors that are not FlotillaErrors are bugs in the tool: retrying the same code will not fix them. */
  private normalise(name: string, err: unknown): FlotillaError {
    if (err instanceof FlotillaError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new FlotillaError(ErrorCode.ToolFailed, `${name}: ${message}`, { retryable: false, cause: err });
  }
}
