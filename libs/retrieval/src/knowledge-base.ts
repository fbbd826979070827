import { deriveId, ErrorCode, FlotillaError } from '@flotilla/common';
import { Embedder } from './embedder';
import { SearchCache } from './search-cache';
import { ScoredChunk, VectorPoint, VectorStore } from './vector-store';

export interface KnowledgeDocument {
  tenantId: string;
  docId: string;
  version: number;
  title: string;
  text: string;
  uri?: string;
}

/**
 * Splits a document into passages of whole sentences of at most about `maxChars`, keeping
 * paragraphs together where they fit so that a passage carries its context.
 */
export function chunk(text: string, maxChars = 500): string[] {
  const sentences: string[] = [];
  const paragraphs = text.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim()).filter(Boolean);
  const out: string[] = [];
  let cur = '';
  const push = (piece: string): void => {
    if (cur && cur.length + 1 + piece.length > maxChars) {
      out.push(cur);
      cur = piece;
    } else cur = cur ? `${cur} ${piece}` : piece;
  };
  for (const para of paragraphs) {
    if (para.length <= maxChars) {
      push(para);
      continue;
    }
    // A long paragraph is cut between sentences (a period followed by white space, so "$5.95" stays whole).
    sentences.splice(0, sentences.length, ...para.split(/(?<=[.!?])\s+/));
    for (const s of sentences) push(s);
  }
  // A short tail would outrank its context on shared words alone: keep it with the passage before.
  if (cur && out.length > 0 && cur.length < maxChars / 3) out[out.length - 1] = `${out[out.length - 1]} ${cur}`;
  else if (cur) out.push(cur);
  return out;
}

/** What became of an ingested document; failures are thrown as `FlotillaError`. */
export interface IngestResult {
  status: 'ingested' | 'skipped';
  /** Chunks written (0 when skipped). */
  chunks: number;
  /** Why a document was skipped. */
  reason?: string;
}

export interface KnowledgeBaseOptions {
  /** Caches search results per tenant; invalidated whenever this knowledge base changes a tenant. */
  cache?: SearchCache;
  /** Passages embedded per embedder call (embedding APIs bound the inputs of one request). */
  embedBatchSize?: number;
}

/**
 * Ingest and search over a vector store. Ingestion is idempotent by (tenant, document id, version):
 * the same version again writes nothing, a newer version replaces the older one's chunks, and an
 * older version arriving after a newer one is skipped.
 */
export class KnowledgeBase {
  private readonly cache?: SearchCache;
  private readonly embedBatchSize: number;

  constructor(private readonly store: VectorStore, private readonly embedder: Embedder, options: KnowledgeBaseOptions = {}) {
    this.cache = options.cache;
    this.embedBatchSize = Math.max(1, options.embedBatchSize ?? 64);
  }

  /** `embedded` or `qdrant`, and the embedder's name: for logs. */
  describe(): { store: string; embedder: string; dimension: number; cache: boolean } {
    return { store: this.store.name, embedder: this.embedder.name, dimension: this.embedder.dimension, cache: this.cache !== undefined };
  }

  async init(): Promise<void> {
    await this.store.ensureCollection(this.embedder.dimension);
  }

  async ingest(doc: KnowledgeDocument): Promise<IngestResult> {
    const current = await this.store.documentVersion(doc.tenantId, doc.docId);
    if (current !== undefined && current >= doc.version) {
      if (current === doc.version) {
        // Finishes a replacement interrupted between writing this version and deleting the older
        // one (a crash, then redelivery); a no-op otherwise.
        await this.store.deleteDocument(doc.tenantId, doc.docId, current);
        this.invalidate(doc.tenantId);
      }
      const reason = current === doc.version ? `version ${doc.version} is already ingested` : `version ${current} is newer than ${doc.version}`;
      return { status: 'skipped', chunks: 0, reason };
    }
    const passages = chunk(doc.text);
    if (passages.length === 0) throw new FlotillaError(ErrorCode.ValidationFailed, `document ${doc.docId} has no text to index`, { retryable: false });
    const points: VectorPoint[] = [];
    for (let start = 0; start < passages.length; start += this.embedBatchSize) {
      const batch = passages.slice(start, start + this.embedBatchSize);
      const vectors = await this.embedder.embed(batch.map((p) => `${doc.title}. ${p}`));
      if (vectors.length !== batch.length) {
        throw new FlotillaError(ErrorCode.Internal, `embedder ${this.embedder.name} returned ${vectors.length} vectors for ${batch.length} texts`);
      }
      batch.forEach((text, j) => {
        const i = start + j;
        points.push({
          id: deriveId('chunk', doc.tenantId, doc.docId, String(doc.version), String(i)),
          vector: vectors[j]!,
          payload: { tenantId: doc.tenantId, docId: doc.docId, docVersion: doc.version, chunkIndex: i, title: doc.title, text, uri: doc.uri },
        });
      });
      // A large document is CPU work for a local embedder: let other work (searches) run between batches.
      if (start + this.embedBatchSize < passages.length) await new Promise((resolve) => setImmediate(resolve));
    }
    // New chunks first, then the old version's: a search in between sees both, never neither.
    await this.store.upsert(points);
    await this.store.deleteDocument(doc.tenantId, doc.docId, doc.version);
    this.invalidate(doc.tenantId);
    return { status: 'ingested', chunks: points.length };
  }

  /**
   * The tenant's passages most similar to the query, best first. With a cache, results are kept per
   * (tenant, normalised query, topK, minScore): questions differing only in case or spacing share one.
   */
  async search(query: string, tenantId: string, topK = 3, minScore = 0.1): Promise<ScoredChunk[]> {
    if (!this.cache) return this.searchStore(query, tenantId, topK, minScore);
    const key = SearchCache.key(tenantId, query, topK, minScore);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const generation = this.cache.generation(tenantId);
    const result = await this.searchStore(query, tenantId, topK, minScore);
    this.cache.set(tenantId, key, result, generation);
    return result;
  }

  /**
   * Drops the tenant's cached searches. Called on every change made here; other replicas call it when
   * they learn of a change (the ingestion report), since they share the store but not the cache.
   */
  invalidate(tenantId: string): void {
    this.cache?.invalidateTenant(tenantId);
  }

  private async searchStore(query: string, tenantId: string, topK: number, minScore: number): Promise<ScoredChunk[]> {
    const [vector] = await this.embedder.embed([query]);
    if (!vector) throw new FlotillaError(ErrorCode.Internal, `embedder ${this.embedder.name} returned no vector for the query`);
    return this.store.search(vector, { tenantId, topK, minScore });
  }
}
