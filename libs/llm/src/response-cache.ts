import { createHash } from 'node:crypto';
import { Clock, systemClock } from './clock';
import { CompletionRequest, CompletionResult } from './port';

/**
 * Answers to identical model calls, reused for a while. Async so an implementation may be shared
 * between replicas; the in-memory one is per process.
 */
export interface ResponseCache {
  get(key: string): Promise<CompletionResult | undefined>;
  set(key: string, value: CompletionResult, ttlMs: number): Promise<void>;
}

/**
 * The cache key of a call to `model`: a hash of exactly what determines the answer — the model, the
 * messages, the tools, the forced tool, the temperature and the token limit. Object keys are sorted
 * first, so two requests that differ only in property order share a key.
 */
export function cacheKey(model: string, request: CompletionRequest): string {
  const material = canonicalJson({
    model,
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
    tools: request.tools ?? null,
    toolChoice: request.toolChoice ?? null,
    temperature: request.temperature ?? null,
    maxTokens: request.maxTokens ?? null,
  });
  return `llm:cache:${createHash('sha256').update(material).digest('hex')}`;
}

/** Whether a request may be answered from the cache: explicitly allowed, or by default at temperature 0. */
export function isCacheable(request: CompletionRequest): boolean {
  return request.cache ?? request.temperature === 0;
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const record = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(record).sort().map((k) => [k, record[k]]));
  });
}

export interface InMemoryResponseCacheOptions {
  /** Most entries kept (default 1000); the least recently used go first. */
  maxEntries?: number;
  clock?: Clock;
}

/** A per-process TTL + LRU cache, bounded in entries. */
export class InMemoryResponseCache implements ResponseCache {
  /** Map order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, { value: CompletionResult; expiresAt: number }>();
  private readonly maxEntries: number;
  private readonly clock: Clock;

  constructor(options: InMemoryResponseCacheOptions = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 1000);
    this.clock = options.clock ?? systemClock;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Promise<CompletionResult | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return Promise.resolve(undefined);
    this.entries.delete(key);
    if (entry.expiresAt <= this.clock.now()) return Promise.resolve(undefined);
    this.entries.set(key, entry);
    return Promise.resolve(structuredClone(entry.value));
  }

  set(key: string, value: CompletionResult, ttlMs: number): Promise<void> {
    if (ttlMs <= 0) return Promise.resolve();
    this.entries.delete(key);
    // Cloned in and out, so a caller mutating its result cannot change what others are served.
    this.entries.set(key, { value: structuredClone(value), expiresAt: this.clock.now() + ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return Promise.resolve();
  }
}
