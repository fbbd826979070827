import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { ClaimCheckStore, claimIdFor, claimMatches, ClaimMeta } from './claim-check-store';

/** Claim-check payloads in the embedded mode's SQLite file, one row per payload. */
export class SqliteClaimCheckStore implements ClaimCheckStore {
  private db?: EmbeddedDb;

  constructor(private readonly file: string, private readonly now: () => Date = () => new Date()) {}

  async init(): Promise<void> {
    this.open();
  }

  async put(bytes: Buffer, meta: ClaimMeta = {}): Promise<string> {
    const id = claimIdFor(bytes);
    const at = this.now().toISOString();
    // Storing the same bytes again keeps them and only moves their age forward (and their owner to the latest).
    this.open().prepare(`INSERT INTO claim_checks (id, bytes, size, topic, tenant_id, workflow_id, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET stored_at = excluded.stored_at, topic = excluded.topic, tenant_id = excluded.tenant_id, workflow_id = excluded.workflow_id`)
      .run(id, bytes, bytes.length, meta.topic ?? null, meta.tenantId ?? null, meta.workflowId ?? null, at);
    return id;
  }

  async get(id: string): Promise<Buffer | undefined> {
    const row = this.open().prepare('SELECT bytes FROM claim_checks WHERE id = ?').get(id) as { bytes: Buffer } | undefined;
    return row && claimMatches(id, row.bytes) ? row.bytes : undefined;
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    return this.open().prepare('DELETE FROM claim_checks WHERE stored_at < ?').run(cutoff.toISOString()).changes;
  }

  async purgeTenant(tenantId: string): Promise<number> {
    return this.open().prepare('DELETE FROM claim_checks WHERE tenant_id = ?').run(tenantId).changes;
  }

  healthy(): boolean {
    return this.db?.open ?? false;
  }

  async close(): Promise<void> {
    // The shared embedded file is closed by the platform at shutdown.
  }

  private open(): EmbeddedDb {
    if (this.db?.open) return this.db;
    const db = openEmbeddedDb(this.file);
    db.exec(`
      CREATE TABLE IF NOT EXISTS claim_checks (id TEXT PRIMARY KEY, bytes BLOB NOT NULL, size INTEGER NOT NULL, topic TEXT, tenant_id TEXT, workflow_id TEXT,
        stored_at TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS claim_checks_by_age ON claim_checks (stored_at);
      CREATE INDEX IF NOT EXISTS claim_checks_by_tenant ON claim_checks (tenant_id);
    `);
    this.db = db;
    return db;
  }
}
