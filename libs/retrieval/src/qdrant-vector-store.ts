import { createHash } from 'node:crypto';
import type * as Qdrant from '@qdrant/js-client-rest' with { 'resolution-mode': 'import' };
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { ChunkPayload, dimensionMismatch, ScoredChunk, VectorPoint, VectorSearchOptions, VectorStore } from './vector-store';

/*
 * The client package is "type": "module" with one set of typings, so TypeScript (module node16) takes
 * it for ESM-only and refuses a static import from this CommonJS lib. It also ships a CommonJS build
 * under its "require" export condition, which is what this loads; the types are the same API.
 */
const { QdrantClient, QdrantClientResourceExhaustedError, QdrantClientTimeoutError, QdrantClientUnexpectedResponseError } = require('@qdrant/js-client-rest') as typeof Qdrant;

export interface QdrantVectorStoreOptions {
  /** Qdrant's REST endpoint, e.g. `http://qdrant:6333`. */
  url: string;
  /** The collection; see `collectionNameFor(embedder)`. */
  collection: string;
  apiKey?: string;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  /** Points per upsert request (bounds request size for large documents). Default 128. */
  upsertBatchSize?: number;
}

/** The oldest Qdrant this adapter supports: the Query API (1.10) and tenant-optimised keyword indexes (1.11). */
export const MIN_QDRANT_VERSION: readonly [number, number] = [1, 11];

/** Payload indexes every collection gets: tenant filtering, document lookups and version ordering. */
const PAYLOAD_INDEXES = [
  { field: 'tenantId', schema: { type: 'keyword', is_tenant: true }, dataType: 'keyword' },
  { field: 'docId', schema: { type: 'keyword' }, dataType: 'keyword' },
  { field: 'docVersion', schema: { type: 'integer', lookup: true, range: true }, dataType: 'integer' },
] as const;

/** The namespace of chunk point ids (a fixed, random UUID: changing it would orphan every stored point). */
const CHUNK_ID_NAMESPACE = '3f1c8e52-5a7b-4d0e-9b6a-2c4f7e9d1a03';

/** RFC 9562 UUID version 5 (SHA-1, name-based) of `name` in `namespace`. */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Qdrant point ids must be UUIDs or unsigned integers: a chunk's point id is derived from its chunk id, deterministically. */
export function pointIdFor(chunkId: string): string {
  return uuidV5(chunkId, CHUNK_ID_NAMESPACE);
}

type Condition = { key: string; match: { value: string | number } };
interface Filter {
  must: Condition[];
  must_not?: Condition[];
}

const match = (key: string, value: string | number): Condition => ({ key, match: { value } });
const tenantFilter = (tenantId: string): Filter => ({ must: [match('tenantId', tenantId)] });

/** The chunk payload out of a Qdrant point's payload (which also carries `chunkId`). */
function toChunkPayload(p: Record<string, unknown>): ChunkPayload {
  const payload: ChunkPayload = {
    tenantId: String(p['tenantId']), docId: String(p['docId']), docVersion: Number(p['docVersion']), chunkIndex: Number(p['chunkIndex']),
    title: String(p['title']), text: String(p['text']),
  };
  if (typeof p['uri'] === 'string') payload.uri = p['uri'];
  return payload;
}

/**
 * Maps what the Qdrant client throws to a `FlotillaError` that says whether retrying can help:
 * unreachable, overloaded, timed out or 5xx → retryable; a refused request (4xx) → not.
 */
export function qdrantError(err: unknown, operation: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : undefined;
  const detail = (err as { data?: { status?: { error?: unknown } } })?.data?.status?.error;
  const message = `Qdrant ${operation} failed: ${typeof detail === 'string' ? detail : err instanceof Error ? err.message : String(err)}`;
  // fetch reports a refused connection as "fetch failed" with the reason in its cause.
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  const reason = why ? `${message} (${why})` : message;
  if (err instanceof QdrantClientTimeoutError || status === 408) return new FlotillaError(ErrorCode.Timeout, reason, { cause: err });
  if (err instanceof QdrantClientResourceExhaustedError || status === 429) return new FlotillaError(ErrorCode.RateLimited, reason, { cause: err });
  if (err instanceof QdrantClientUnexpectedResponseError || status === undefined || status >= 500) {
    return new FlotillaError(ErrorCode.DependencyUnavailable, reason, { cause: err });
  }
  if (status === 404) return new FlotillaError(ErrorCode.NotFound, reason, { cause: err, retryable: false });
  return new FlotillaError(ErrorCode.ValidationFailed, reason, { cause: err, retryable: false });
}

/**
 * The vector store on Qdrant (`@qdrant/js-client-rest`; only this lib imports it). One collection per
 * embedder, Cosine distance, payload indexes on tenantId (tenant-optimised keyword), docId (keyword)
 * and docVersion (integer); every read is filtered by tenant, every write waits until applied.
 */
export class QdrantVectorStore implements VectorStore {
  readonly name = 'qdrant';
  private readonly client: Qdrant.QdrantClient;
  private readonly collection: string;
  private readonly upsertBatchSize: number;
  private dimension = 0;

  constructor(options: QdrantVectorStoreOptions) {
    this.collection = options.collection;
    this.upsertBatchSize = Math.max(1, options.upsertBatchSize ?? 128);
    // The client's own compatibility check only warns on the console; ensureCollection checks instead.
    this.client = new QdrantClient({ url: options.url, apiKey: options.apiKey, timeout: options.timeoutMs ?? 10_000, checkCompatibility: false });
  }

  async ensureCollection(dimension: number): Promise<void> {
    if (!Number.isInteger(dimension) || dimension < 1) throw new FlotillaError(ErrorCode.ConfigInvalid, `invalid vector dimension ${dimension}`, { retryable: false });
    const { version } = await this.call('version check', () => this.client.versionInfo());
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major < MIN_QDRANT_VERSION[0] || (major === MIN_QDRANT_VERSION[0] && minor < MIN_QDRANT_VERSION[1])) {
      throw new FlotillaError(ErrorCode.ConfigInvalid, `Qdrant ${version} is too old: ${MIN_QDRANT_VERSION.join('.')} or later is required`, { retryable: false });
    }

    if (!(await this.call('collection check', () => this.client.collectionExists(this.collection))).exists) {
      try {
        await this.client.createCollection(this.collection, { vectors: { size: dimension, distance: 'Cosine' } });
      } catch (err) {
        // Another replica may have created it in the meantime (409); anything else is a real failure.
        if (!(await this.call('collection check', () => this.client.collectionExists(this.collection))).exists) throw qdrantError(err, 'create collection');
      }
    }

    const info = await this.call('collection info', () => this.client.getCollection(this.collection));
    const vectors = info.config.params.vectors as { size?: unknown; distance?: unknown } | undefined;
    if (vectors?.size !== dimension || vectors.distance !== 'Cosine') {
      throw new FlotillaError(ErrorCode.ConfigInvalid,
        `Qdrant collection ${this.collection} has vectors ${JSON.stringify(vectors)}, not ${dimension} with Cosine distance`, { retryable: false });
    }
    const existing = (info.payload_schema ?? {}) as Record<string, { data_type?: string } | undefined>;
    for (const index of PAYLOAD_INDEXES) {
      if (existing[index.field]?.data_type === index.dataType) continue;
      await this.call(`create index on ${index.field}`, () => this.client.createPayloadIndex(this.collection, { field_name: index.field, field_schema: index.schema, wait: true }));
    }
    this.dimension = dimension;
  }

  async upsert(points: VectorPoint[]): Promise<void> {
    this.requireCollection();
    for (const p of points) if (p.vector.length !== this.dimension) throw dimensionMismatch(this.dimension, p.vector.length);
    for (let i = 0; i < points.length; i += this.upsertBatchSize) {
      const batch = points.slice(i, i + this.upsertBatchSize).map((p) => ({ id: pointIdFor(p.id), vector: p.vector, payload: { ...p.payload, chunkId: p.id } }));
      await this.call('upsert', () => this.client.upsert(this.collection, { wait: true, points: batch }));
    }
  }

  async deleteDocument(tenantId: string, docId: string, keepVersion?: number): Promise<void> {
    this.requireCollection();
    const filter: Filter = { must: [match('tenantId', tenantId), match('docId', docId)] };
    if (keepVersion !== undefined) filter.must_not = [match('docVersion', keepVersion)];
    await this.call('delete document', () => this.client.delete(this.collection, { wait: true, filter }));
  }

  async documentVersion(tenantId: string, docId: string): Promise<number | undefined> {
    this.requireCollection();
    const { points } = await this.call('document version', () => this.client.scroll(this.collection, {
      filter: { must: [match('tenantId', tenantId), match('docId', docId)] },
      order_by: { key: 'docVersion', direction: 'desc' },
      limit: 1,
      with_payload: ['docVersion'],
      with_vector: false,
    }));
    const version = points[0]?.payload?.['docVersion'];
    return typeof version === 'number' ? version : undefined;
  }

  async count(tenantId: string): Promise<number> {
    this.requireCollection();
    return (await this.call('count', () => this.client.count(this.collection, { filter: tenantFilter(tenantId), exact: true }))).count;
  }

  async search(vector: number[], options: VectorSearchOptions): Promise<ScoredChunk[]> {
    this.requireCollection();
    if (vector.length !== this.dimension) throw dimensionMismatch(this.dimension, vector.length);
    const limit = Math.floor(options.topK);
    if (limit < 1) return [];
    const { points } = await this.call('search', () => this.client.query(this.collection, {
      query: vector,
      filter: tenantFilter(options.tenantId),
      limit,
      score_threshold: options.minScore,
      with_payload: true,
      with_vector: false,
    }));
    return points.map((p) => {
      const payload = (p.payload ?? {}) as Record<string, unknown>;
      return { id: typeof payload['chunkId'] === 'string' ? payload['chunkId'] : String(p.id), score: p.score, payload: toChunkPayload(payload) };
    });
  }

  private requireCollection(): void {
    if (this.dimension === 0) throw new FlotillaError(ErrorCode.Internal, 'QdrantVectorStore used before ensureCollection', { retryable: false });
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw qdrantError(err, operation);
    }
  }
}
