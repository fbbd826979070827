import { Clock, systemClock } from './clock';

/**
 * Shared counters with expiry: what model budgets and tenant budgets are kept on, so every replica
 * counts against the same totals. Implementations: {@link InMemoryCounterStore} (one process), and
 * SQLite / MongoDB ones in the memory lib for embedded and distributed mode.
 */
export interface CounterStore {
  /** Atomically adds `amount` to counter `key` (created with expiry ttlMs if new) and returns the new total. */
  add(key: string, amount: number, ttlMs: number): Promise<number>;
  get(key: string): Promise<number>;
  /**
   * Optional batch read, in the order of `keys` (0 for absent ones). A store that has it saves the
   * rate budgets one round trip per key; without it they read the keys in parallel with `get`.
   */
  getMany?(keys: string[]): Promise<number[]>;
}

/** Reads several counters, in one round trip when the store supports it. */
export function getCounters(store: CounterStore, keys: string[]): Promise<number[]> {
  if (keys.length === 0) return Promise.resolve([]);
  return store.getMany ? store.getMany(keys) : Promise.all(keys.map((k) => store.get(k)));
}

/**
 * Counters in this process's memory: for one replica, tests and the budget simulation. Expired
 * counters read as 0 and are swept as the map grows, so memory stays bounded by the live windows.
 */
export class InMemoryCounterStore implements CounterStore {
  private readonly counters = new Map<string, { value: number; expiresAt: number }>();
  private sweepAt = 1024;

  constructor(private readonly clock: Clock = systemClock) {}

  add(key: string, amount: number, ttlMs: number): Promise<number> {
    const now = this.clock.now();
    let entry = this.counters.get(key);
    if (!entry || entry.expiresAt <= now) {
      entry = { value: 0, expiresAt: now + ttlMs };
      this.counters.set(key, entry);
      if (this.counters.size >= this.sweepAt) this.sweep(now);
    }
    entry.value += amount;
    return Promise.resolve(entry.value);
  }

  get(key: string): Promise<number> {
    return Promise.resolve(this.read(key, this.clock.now()));
  }

  getMany(keys: string[]): Promise<number[]> {
    const now = this.clock.now();
    return Promise.resolve(keys.map((k) => this.read(k, now)));
  }

  /** Live counters (for tests). */
  get size(): number {
    const now = this.clock.now();
    return [...this.counters.values()].filter((e) => e.expiresAt > now).length;
  }

  private read(key: string, now: number): number {
    const entry = this.counters.get(key);
    return entry && entry.expiresAt > now ? entry.value : 0;
  }

  private sweep(now: number): void {
    for (const [k, e] of this.counters) if (e.expiresAt <= now) this.counters.delete(k);
    this.sweepAt = Math.max(1024, this.counters.size * 2);
  }
}
