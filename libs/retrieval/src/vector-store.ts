import { ErrorCode, FlotillaError } from '@flotilla/common';

/** A chunk of a document as stored for retrieval. */
export interface ChunkPayload {
  tenantId: string;
  docId: string;
  docVersion: number;
  chunkIndex: number;
  title: string;
  text: string;
  uri?: string;
}

export interface VectorPoint {
  /** The chunk id (`chunk_…`); stores that need another id format derive it from this one. */
  id: string;
  vector: number[];
  payload: ChunkPayload;
}

export interface ScoredChunk {
  /** The chunk id as upserted, whatever id the store uses internally. */
  id: string;
  /** Cosine similarity of the query and the chunk, in [-1, 1]. */
  score: number;
  payload: ChunkPayload;
}

export interface VectorSearchOptions {
  tenantId: string;
  topK: number;
  /** Only chunks scoring at least this; no threshold when absent. */
  minScore?: number;
}

/**
 * The vector store port: the embedded SQLite store for one machine, Qdrant in distributed
 * deployments; `testing/vector-store-conformance.ts` is the behaviour both share. Every search is
 * filtered by tenant; there is no unfiltered search. Scores are cosine similarity, so vectors need
 * not be normalised. A vector of the wrong dimension is refused with a non-retryable error.
 */
export interface VectorStore {
  readonly name: string;
  /**
   * Creates the collection (and its indexes) if missing; fails with `CONFIG_INVALID` when it exists
   * with another dimension (vectors of different embedders must never be mixed). Idempotent.
   */
  ensureCollection(dimension: number): Promise<void>;
  /** Inserts or replaces points by id; durable and visible to search when it resolves. */
  upsert(points: VectorPoint[]): Promise<void>;
  /** Removes a document's chunks from versions other than `keepVersion` (all of them without it). */
  deleteDocument(tenantId: string, docId: string, keepVersion?: number): Promise<void>;
  /** The highest stored version of a document, or undefined. */
  documentVersion(tenantId: string, docId: string): Promise<number | undefined>;
  /** The tenant's `topK` chunks most similar to `vector`, best first. */
  search(vector: number[], options: VectorSearchOptions): Promise<ScoredChunk[]>;
  count(tenantId: string): Promise<number>;
}

/** The error for a vector whose length is not the collection's dimension (a bug: retrying cannot help). */
export function dimensionMismatch(expected: number, got: number): FlotillaError {
  return new FlotillaError(ErrorCode.ValidationFailed, `vector dimension ${got} does not match the collection's ${expected}`, { retryable: false });
}
