import { ErrorCode, FlotillaError } from '@flotilla/common';
import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { ChunkPayload, dimensionMismatch, ScoredChunk, VectorPoint, VectorSearchOptions, VectorStore } from './vector-store';

/** One tenant's chunks in memory, ready to scan. */
interface TenantIndex {
  ids: string[];
  /** Payloads as stored (JSON); only the top results are parsed. */
  payloads: string[];
  /**
   * The L2-normalised vectors as one column-major matrix (component i of row r at `i * rows + r`):
   * scoring walks whole columns sequentially, and a sparse query reads only its non-zero columns.
   */
  columns: Float32Array;
}

/**
 * Memory for tenants' vectors kept loaded (10,000 chunks of 1024 dimensions take 40 MB); past it the
 * least recently searched tenants are dropped, and loaded again from SQLite when next searched.
 */
const MAX_LOADED_BYTES = 512 * 1024 * 1024;

/** Scales to unit length (a zero vector stays zero: it is similar to nothing). */
function normalised(vector: readonly number[]): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i]! * scale;
  return out;
}

/**
 * Vectors in the embedded SQLite file, searched exactly: a scan of the tenant's chunks, held in
 * memory per tenant as one normalised, column-major Float32 matrix, with top-k selection instead of a
 * full sort. A query with few non-zero components (the local lexical embedder's) reads only those
 * columns.
 * Right for one machine and knowledge bases of tens of thousands of chunks per tenant; `collection`
 * keeps the vectors of different embedders apart in the one file.
 */
export class EmbeddedVectorStore implements VectorStore {
  readonly name = 'embedded';
  private db?: EmbeddedDb;
  private dimension = 0;
  private readonly loaded = new Map<string, TenantIndex>();

  constructor(private readonly file: string, private readonly collection = 'default') {}

  async ensureCollection(dimension: number): Promise<void> {
    if (!Number.isInteger(dimension) || dimension < 1) throw new FlotillaError(ErrorCode.ConfigInvalid, `invalid vector dimension ${dimension}`, { retryable: false });
    const db = openEmbeddedDb(this.file);
    db.exec(`
      CREATE TABLE IF NOT EXISTS kb_collections (name TEXT PRIMARY KEY, dimension INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS kb_chunks (collection TEXT NOT NULL, id TEXT NOT NULL, tenant_id TEXT NOT NULL, doc_id TEXT NOT NULL,
        doc_version INTEGER NOT NULL, payload TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (collection, id));
      CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks (collection, tenant_id, doc_id, doc_version);
      -- The layout before collections held only the sample documents, which are ingested again at start.
      DROP TABLE IF EXISTS vec_chunks;`);
    db.prepare('INSERT OR IGNORE INTO kb_collections (name, dimension) VALUES (?, ?)').run(this.collection, dimension);
    const stored = (db.prepare('SELECT dimension FROM kb_collections WHERE name = ?').get(this.collection) as { dimension: number }).dimension;
    if (stored !== dimension) {
      throw new FlotillaError(ErrorCode.ConfigInvalid, `collection ${this.collection} holds vectors of dimension ${stored}, not ${dimension}`, { retryable: false });
    }
    this.db = db;
    this.dimension = dimension;
  }

  async upsert(points: VectorPoint[]): Promise<void> {
    const db = this.open();
    for (const p of points) if (p.vector.length !== this.dimension) throw dimensionMismatch(this.dimension, p.vector.length);
    const stmt = db.prepare(`INSERT INTO kb_chunks (collection, id, tenant_id, doc_id, doc_version, payload, vector) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (collection, id) DO UPDATE SET tenant_id = excluded.tenant_id, doc_id = excluded.doc_id, doc_version = excluded.doc_version,
      payload = excluded.payload, vector = excluded.vector`);
    db.transaction(() => {
      for (const p of points) {
        const v = normalised(p.vector);
        stmt.run(this.collection, p.id, p.payload.tenantId, p.payload.docId, p.payload.docVersion, JSON.stringify(p.payload), Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      }
    })();
    for (const p of points) this.loaded.delete(p.payload.tenantId);
  }

  async deleteDocument(tenantId: string, docId: string, keepVersion?: number): Promise<void> {
    const { changes } = this.open()
      .prepare('DELETE FROM kb_chunks WHERE collection = ? AND tenant_id = ? AND doc_id = ? AND (? IS NULL OR doc_version != ?)')
      .run(this.collection, tenantId, docId, keepVersion ?? null, keepVersion ?? null);
    if (changes > 0) this.loaded.delete(tenantId);
  }

  async documentVersion(tenantId: string, docId: string): Promise<number | undefined> {
    const row = this.open().prepare('SELECT MAX(doc_version) AS v FROM kb_chunks WHERE collection = ? AND tenant_id = ? AND doc_id = ?')
      .get(this.collection, tenantId, docId) as { v: number | null };
    return row.v ?? undefined;
  }

  async count(tenantId: string): Promise<number> {
    return (this.open().prepare('SELECT COUNT(*) AS n FROM kb_chunks WHERE collection = ? AND tenant_id = ?').get(this.collection, tenantId) as { n: number }).n;
  }

  async search(vector: number[], options: VectorSearchOptions): Promise<ScoredChunk[]> {
    this.open();
    if (vector.length !== this.dimension) throw dimensionMismatch(this.dimension, vector.length);
    const k = Math.floor(options.topK);
    if (k < 1) return [];
    const index = this.index(options.tenantId);
    const rows = index.ids.length;
    const q = normalised(vector);
    const minScore = options.minScore ?? -Infinity;

    // Cosine scores of every row: one sequential pass per non-zero query component.
    const scores = new Float64Array(rows);
    const cols = index.columns;
    for (let i = 0; i < this.dimension; i++) {
      const w = q[i]!;
      if (w === 0) continue;
      const base = i * rows;
      for (let r = 0; r < rows; r++) scores[r] += w * cols[base + r]!;
    }

    // The best k, best first, without sorting all rows: a score enters only if it beats the current k-th.
    const bestScores = new Float64Array(k);
    const bestRows = new Int32Array(k);
    let found = 0;
    for (let r = 0; r < rows; r++) {
      const s = scores[r]!;
      if (s < minScore || (found === k && s <= bestScores[k - 1]!)) continue;
      let at = found < k ? found++ : k - 1;
      while (at > 0 && bestScores[at - 1]! < s) {
        bestScores[at] = bestScores[at - 1]!;
        bestRows[at] = bestRows[at - 1]!;
        at--;
      }
      bestScores[at] = s;
      bestRows[at] = r;
    }
    const out: ScoredChunk[] = [];
    for (let i = 0; i < found; i++) {
      const r = bestRows[i]!;
      out.push({ id: index.ids[r]!, score: bestScores[i]!, payload: JSON.parse(index.payloads[r]!) as ChunkPayload });
    }
    return out;
  }

  private open(): EmbeddedDb {
    if (!this.db) throw new FlotillaError(ErrorCode.Internal, 'EmbeddedVectorStore used before ensureCollection', { retryable: false });
    return this.db;
  }

  private index(tenantId: string): TenantIndex {
    const hit = this.loaded.get(tenantId);
    if (hit) {
      this.loaded.delete(tenantId);
      this.loaded.set(tenantId, hit);
      return hit;
    }
    const rows = this.open().prepare('SELECT id, payload, vector FROM kb_chunks WHERE collection = ? AND tenant_id = ?')
      .all(this.collection, tenantId) as { id: string; payload: string; vector: Buffer }[];
    const dim = this.dimension;
    const n = rows.length;
    const columns = new Float32Array(n * dim);
    rows.forEach((row, r) => {
      const b = row.vector;
      // A Float32Array view needs a 4-aligned offset; blobs usually are, otherwise copy.
      const v = b.byteOffset % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, dim) : new Float32Array(new Uint8Array(b.subarray(0, dim * 4)).buffer);
      // Zeros are already there: a lexical vector has only a few dozen non-zero components to place.
      for (let i = 0; i < dim; i++) if (v[i] !== 0) columns[i * n + r] = v[i]!;
    });
    const index: TenantIndex = { ids: rows.map((r) => r.id), payloads: rows.map((r) => r.payload), columns };
    this.loaded.set(tenantId, index);
    let bytes = 0;
    for (const loaded of this.loaded.values()) bytes += loaded.columns.byteLength;
    for (const [tenant, loaded] of this.loaded) {
      if (bytes <= MAX_LOADED_BYTES || tenant === tenantId) break;
      this.loaded.delete(tenant);
      bytes -= loaded.columns.byteLength;
    }
    return index;
  }
}
