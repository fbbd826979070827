import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { ChunkPayload, ScoredChunk, VectorPoint, VectorStore } from './vector-store';

interface Cached {
  id: string;
  vector: Float32Array;
  payload: ChunkPayload;
}

/**
 * Vectors in the embedded SQLite file, searched exactly (brute-force cosine over the tenant's
 * chunks, held in memory per tenant). Right for one machine and small knowledge bases.
 */
export class EmbeddedVectorStore implements VectorStore {
  readonly name = 'embedded';
  private db!: EmbeddedDb;
  private readonly cache = new Map<string, Cached[]>();

  constructor(private readonly file: string) {}

  async ensureCollection(_dimension: number): Promise<void> {
    this.db = openEmbeddedDb(this.file);
    this.db.exec(`CREATE TABLE IF NOT EXISTS vec_chunks (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, doc_id TEXT NOT NULL,
      doc_version INTEGER NOT NULL, payload TEXT NOT NULL, vector BLOB NOT NULL);
      CREATE INDEX IF NOT EXISTS vec_chunks_tenant ON vec_chunks (tenant_id, doc_id);`);
  }

  async upsert(points: VectorPoint[]): Promise<void> {
    const stmt = this.db.prepare(`INSERT INTO vec_chunks (id, tenant_id, doc_id, doc_version, payload, vector) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET doc_version = excluded.doc_version, payload = excluded.payload, vector = excluded.vector`);
    this.db.transaction(() => {
      for (const p of points) {
        stmt.run(p.id, p.payload.tenantId, p.payload.docId, p.payload.docVersion, JSON.stringify(p.payload), Buffer.from(new Float32Array(p.vector).buffer));
        this.cache.delete(p.payload.tenantId);
      }
    })();
  }

  async deleteDocument(tenantId: string, docId: string, keepVersion?: number): Promise<void> {
    this.db.prepare('DELETE FROM vec_chunks WHERE tenant_id = ? AND doc_id = ? AND doc_version != ?').run(tenantId, docId, keepVersion ?? -1);
    this.cache.delete(tenantId);
  }

  async documentVersion(tenantId: string, docId: string): Promise<number | undefined> {
    const row = this.db.prepare('SELECT MAX(doc_version) AS v FROM vec_chunks WHERE tenant_id = ? AND doc_id = ?').get(tenantId, docId) as { v: number | null };
    return row.v ?? undefined;
  }

  async count(tenantId: string): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM vec_chunks WHERE tenant_id = ?').get(tenantId) as { n: number }).n;
  }

  async search(vector: number[], options: { tenantId: string; topK: number; minScore?: number }): Promise<ScoredChunk[]> {
    const chunks = this.load(options.tenantId);
    const q = Float32Array.from(vector);
    const scored: ScoredChunk[] = [];
    for (const c of chunks) {
      let dot = 0;
      for (let i = 0; i < q.length; i++) dot += q[i]! * c.vector[i]!;
      if (dot >= (options.minScore ?? 0)) scored.push({ id: c.id, score: dot, payload: c.payload });
    }
    return scored.sort((a, b) => b.score - a.score).slice(0, options.topK);
  }

  private load(tenantId: string): Cached[] {
    const hit = this.cache.get(tenantId);
    if (hit) return hit;
    const rows = this.db.prepare('SELECT id, payload, vector FROM vec_chunks WHERE tenant_id = ?').all(tenantId) as { id: string; payload: string; vector: Buffer }[];
    const loaded = rows.map((r) => ({
      id: r.id,
      payload: JSON.parse(r.payload) as ChunkPayload,
      vector: new Float32Array(r.vector.buffer.slice(r.vector.byteOffset, r.vector.byteOffset + r.vector.byteLength)),
    }));
    this.cache.set(tenantId, loaded);
    return loaded;
  }
}
