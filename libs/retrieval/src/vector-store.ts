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
  id: string;
  vector: number[];
  payload: ChunkPayload;
}

export interface ScoredChunk {
  id: string;
  score: number;
  payload: ChunkPayload;
}

/**
 * The vector store port: the embedded SQLite store here, Qdrant in distributed deployments. Every
 * search is filtered by tenant; there is no unfiltered search.
 */
export interface VectorStore {
  readonly name: string;
  ensureCollection(dimension: number): Promise<void>;
  upsert(points: VectorPoint[]): Promise<void>;
  /** Removes a document's chunks from versions other than `keepVersion`. */
  deleteDocument(tenantId: string, docId: string, keepVersion?: number): Promise<void>;
  /** The stored version of a document, or undefined. */
  documentVersion(tenantId: string, docId: string): Promise<number | undefined>;
  search(vector: number[], options: { tenantId: string; topK: number; minScore?: number }): Promise<ScoredChunk[]>;
  count(tenantId: string): Promise<number>;
}
