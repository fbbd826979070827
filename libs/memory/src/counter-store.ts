import { ErrorCode, FieldError, FlotillaError } from '@flotilla/common';

/**
 * A shared counter for budgets that must hold across replicas (requests and tokens per minute,
 * tokens per tenant per day). libs/llm declares the same interface; structural typing joins them.
 */
export interface CounterStore {
  /** Atomically adds `amount` to counter `key` (created with expiry ttlMs if new) and returns the new total. */
  add(key: string, amount: number, ttlMs: number): Promise<number>;
  get(key: string): Promise<number>;
}

/**
 * A CounterStore with its lifecycle. A counter's window starts at its first add and lasts `ttlMs`
 * (later adds do not extend it); once it has passed, the counter reads 0 and the next add starts a
 * new window. Every method initialises the store on first use, so it can be handed out as a plain
 * CounterStore; calling `init()` at boot surfaces a bad connection there instead.
 */
export interface ManagedCounterStore extends CounterStore {
  /** Several counters at once, in the order of `keys` (0 for absent or expired ones); libs/llm uses it when present. */
  getMany(keys: string[]): Promise<number[]>;
  init(): Promise<void>;
  /** Deletes counters whose window ended more than `graceMs` ago; returns how many records went. Also runs by itself every `purgeEveryMs`. */
  purgeExpired(): Promise<number>;
  healthy(): boolean;
  close(): Promise<void>;
}

export interface CounterStoreOptions {
  /** The clock windows are measured with, in epoch milliseconds (injected in tests). */
  now?: () => number;
  /** How long an expired counter's records are kept before purgeExpired deletes them. Default 10 minutes (more than any clock skew between replicas). */
  graceMs?: number;
  /** How often adds trigger purgeExpired by themselves. Default one minute. */
  purgeEveryMs?: number;
}

export interface ResolvedCounterOptions {
  now: () => number;
  graceMs: number;
  purgeEveryMs: number;
}

export function resolveCounterOptions(options: CounterStoreOptions = {}): ResolvedCounterOptions {
  return { now: options.now ?? Date.now, graceMs: options.graceMs ?? 600_000, purgeEveryMs: options.purgeEveryMs ?? 60_000 };
}

/** Rejects what no budget means: an empty key, a non-finite amount, a window that is not a positive number of milliseconds. */
export function requireCounterArgs(key: string, add?: { amount: number; ttlMs: number }): void {
  const fields: FieldError[] = [];
  if (typeof key !== 'string' || key.length === 0) fields.push({ field: 'key', reasons: ['must be a non-empty string'] });
  if (add && (typeof add.amount !== 'number' || !Number.isFinite(add.amount))) fields.push({ field: 'amount', reasons: ['must be a finite number'] });
  if (add && (typeof add.ttlMs !== 'number' || !Number.isFinite(add.ttlMs) || add.ttlMs <= 0)) {
    fields.push({ field: 'ttlMs', reasons: ['must be a positive number of milliseconds'] });
  }
  if (fields.length) throw new FlotillaError(ErrorCode.ValidationFailed, 'invalid counter operation', { fields });
}
