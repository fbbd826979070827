import { ScoredChunk } from './vector-store';

export interface SearchCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 1000. */
  maxEntries?: number;
  /** How long a result is served from the cache, in ms. Default 60 s. */
  ttlMs?: number;
  /** The clock (tests inject one). */
  now?: () => number;
}

interface Entry {
  tenantId: string;
  value: readonly ScoredChunk[];
  expiresAt: number;
}

/** The normalised form of a query for caching: Unicode NFKC, lower case, single spaces, trimmed. */
export function normaliseQuery(query: string): string {
  return query.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * An in-memory LRU of search results, bounded in size and age, so popular questions skip the
 * embedding and the vector scan. Keys are per tenant; `invalidateTenant` drops a tenant's entries when
 * its documents change. A search that was already running when its tenant was invalidated must not
 * put its (possibly stale) result back: callers take `generation(tenant)` before searching and pass
 * it to `set`, which ignores results from an older generation.
 */
export class SearchCache {
  private readonly entries = new Map<string, Entry>();
  private readonly byTenant = new Map<string, Set<string>>();
  private readonly generations = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private counters = { hits: 0, misses: 0, evictions: 0, invalidations: 0 };

  constructor(options: SearchCacheOptions = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 1000);
    this.ttlMs = Math.max(0, options.ttlMs ?? 60_000);
    this.now = options.now ?? Date.now;
  }

  /** The cache key of a search; `minScore` is part of it because it changes the result. */
  static key(tenantId: string, query: string, topK: number, minScore: number): string {
    return JSON.stringify([tenantId, normaliseQuery(query), topK, minScore]);
  }

  get(key: string): ScoredChunk[] | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= this.now()) {
      if (entry) this.remove(key, entry.tenantId);
      this.counters.misses++;
      return undefined;
    }
    // Re-inserting moves the key to the most recently used end of the Map's order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.counters.hits++;
    return [...entry.value];
  }

  /** The tenant's current generation; it changes on every invalidation of the tenant. */
  generation(tenantId: string): number {
    return this.generations.get(tenantId) ?? 0;
  }

  set(tenantId: string, key: string, value: readonly ScoredChunk[], generation: number): void {
    if (this.ttlMs === 0 || generation !== this.generation(tenantId)) return;
    this.entries.delete(key);
    this.entries.set(key, { tenantId, value: [...value], expiresAt: this.now() + this.ttlMs });
    let keys = this.byTenant.get(tenantId);
    if (!keys) this.byTenant.set(tenantId, (keys = new Set()));
    keys.add(key);
    while (this.entries.size > this.maxEntries) {
      const [oldest, entry] = this.entries.entries().next().value as [string, Entry];
      this.remove(oldest, entry.tenantId);
      this.counters.evictions++;
    }
  }

  /** Forgets every cached result of a tenant (its documents changed). */
  invalidateTenant(tenantId: string): void {
    this.generations.set(tenantId, this.generation(tenantId) + 1);
    for (const key of this.byTenant.get(tenantId) ?? []) this.entries.delete(key);
    this.byTenant.delete(tenantId);
    this.counters.invalidations++;
  }

  stats(): { size: number; hits: number; misses: number; evictions: number; invalidations: number } {
    return { size: this.entries.size, ...this.counters };
  }

  private remove(key: string, tenantId: string): void {
    this.entries.delete(key);
    const keys = this.byTenant.get(tenantId);
    keys?.delete(key);
    if (keys?.size === 0) this.byTenant.delete(tenantId);
  }
}
