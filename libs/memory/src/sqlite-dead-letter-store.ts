import { DeadLetterRecordedV1 } from '@flotilla/contracts';
import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import {
  DeadLetterEntry, DeadLetterListQuery, DeadLetterResolution, DeadLetterResolveOutcome, DeadLetterStatus, DeadLetterStore,
} from './dead-letter-store';

interface Row {
  id: string;
  tenant_id: string;
  status: DeadLetterStatus;
  recorded_at: string;
  data: string;
  resolution: string | null;
}

const toEntry = (r: Row): DeadLetterEntry => ({
  id: r.id, tenantId: r.tenant_id, status: r.status, data: JSON.parse(r.data) as DeadLetterRecordedV1,
  ...(r.resolution ? { resolution: JSON.parse(r.resolution) as DeadLetterResolution } : {}),
});

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** The dead-letter inbox in the embedded mode's SQLite file. One process owns the file, so a conditional UPDATE is atomic. */
export class SqliteDeadLetterStore implements DeadLetterStore {
  private db!: EmbeddedDb;
  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    this.db = openEmbeddedDb(this.file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS dead_letters (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, status TEXT NOT NULL, recorded_at TEXT NOT NULL,
        data TEXT NOT NULL, resolution TEXT);
      CREATE INDEX IF NOT EXISTS dead_letters_by_tenant ON dead_letters (tenant_id, recorded_at DESC, id DESC);
    `);
  }

  async record(e: { id: string; tenantId: string; data: DeadLetterRecordedV1 }): Promise<void> {
    this.db.prepare(`INSERT OR IGNORE INTO dead_letters (id, tenant_id, status, recorded_at, data) VALUES (?, ?, 'open', ?, ?)`)
      .run(e.id, e.tenantId, e.data.recordedAt, JSON.stringify(e.data));
  }

  async get(id: string, tenantIds: readonly string[]): Promise<DeadLetterEntry | null> {
    if (tenantIds.length === 0) return null;
    const row = this.db.prepare(`SELECT * FROM dead_letters WHERE id = ? AND tenant_id IN (${placeholders(tenantIds.length)})`).get(id, ...tenantIds) as Row | undefined;
    return row ? toEntry(row) : null;
  }

  async list(q: DeadLetterListQuery): Promise<DeadLetterEntry[]> {
    if (q.tenantIds.length === 0) return [];
    const params: unknown[] = [...q.tenantIds];
    let sql = `SELECT * FROM dead_letters WHERE tenant_id IN (${placeholders(q.tenantIds.length)})`;
    if (q.status) {
      sql += ' AND status = ?';
      params.push(q.status);
    }
    sql += ' ORDER BY recorded_at DESC, id DESC LIMIT ?';
    params.push(q.limit);
    return (this.db.prepare(sql).all(...params) as Row[]).map(toEntry);
  }

  async resolve(id: string, tenantIds: readonly string[], resolution: DeadLetterResolution): Promise<DeadLetterResolveOutcome> {
    const current = await this.get(id, tenantIds);
    if (!current) return { outcome: 'not-found' };
    const changed = this.db.prepare(`UPDATE dead_letters SET status = ?, resolution = ? WHERE id = ? AND status = 'open'`)
      .run(resolution.status, JSON.stringify(resolution), id).changes;
    const after = (await this.get(id, tenantIds))!;
    return changed === 1 ? { outcome: 'resolved', entry: after } : { outcome: 'not-open', entry: after };
  }

  async reopen(id: string, resolution: DeadLetterResolution): Promise<void> {
    this.db.prepare(`UPDATE dead_letters SET status = 'open', resolution = NULL WHERE id = ? AND resolution = ?`).run(id, JSON.stringify(resolution));
  }

  healthy(): boolean {
    return this.db?.open ?? false;
  }

  async close(): Promise<void> {
    // The shared embedded file is closed by the platform at shutdown.
  }
}
