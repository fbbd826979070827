import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { AuditEntry, AuditLog, AuditRecord, AuditVerification, chainNext, verifyChain } from './audit-log';

interface Row {
  seq: number;
  at: string;
  tenant_id: string;
  actor: string;
  action: string;
  subject: string;
  details: string;
  prev_hash: string;
  hash: string;
}

const toRecord = (r: Row): AuditRecord => ({
  seq: r.seq, at: r.at, tenantId: r.tenant_id, actor: r.actor, action: r.action, subject: r.subject,
  details: JSON.parse(r.details) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash,
});

/** The audit chain in the embedded mode's SQLite file. */
export class SqliteAuditLog implements AuditLog {
  private db!: EmbeddedDb;
  constructor(private readonly file: string, private readonly now: () => Date = () => new Date()) {}

  async init(): Promise<void> {
    this.db = openEmbeddedDb(this.file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS audit_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, tenant_id TEXT NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, subject TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS audit_log_by_subject ON audit_log (subject, seq);
    `);
  }

  async append(entry: AuditEntry): Promise<AuditRecord> {
    const head = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    const insert = this.db.prepare(`INSERT INTO audit_log (seq, at, tenant_id, actor, action, subject, details, prev_hash, hash)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // IMMEDIATE takes the write lock before reading the head, so another connection to the file
    // (another process) cannot append between the read and the insert.
    return this.db.transaction(() => {
      const r = chainNext((head.get() as { seq: number; hash: string } | undefined) ?? null, entry, this.now().toISOString());
      insert.run(r.seq, r.at, r.tenantId, r.actor, r.action, r.subject, JSON.stringify(r.details), r.prevHash, r.hash);
      return r;
    }).immediate();
  }

  async list(q: { subject?: string; tenantId?: string; limit: number }): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.subject !== undefined) {
      where.push('subject = ?');
      params.push(q.subject);
    }
    if (q.tenantId !== undefined) {
      where.push('tenant_id = ?');
      params.push(q.tenantId);
    }
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, q.limit) as Row[]).map(toRecord);
  }

  async verify(): Promise<AuditVerification> {
    const rows = this.db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<Row>;
    return verifyChain((function* () {
      for (const r of rows) yield toRecord(r);
    })());
  }

  healthy(): boolean {
    return this.db?.open ?? false;
  }

  async close(): Promise<void> {
    // The shared embedded file is closed by the platform at shutdown.
  }
}
