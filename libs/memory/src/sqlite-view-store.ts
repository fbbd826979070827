import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { StoredEvent, StoredStreamToken, WorkflowViewStore } from './workflow-view-store';

/** The embedded read model, in the embedded mode's SQLite file. */
export class SqliteWorkflowViewStore implements WorkflowViewStore {
  private db!: EmbeddedDb;
  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    this.db = openEmbeddedDb(this.file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS view_workflow_events (workflow_id TEXT NOT NULL, sequence INTEGER NOT NULL, tenant_id TEXT NOT NULL,
        type TEXT NOT NULL, version INTEGER NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, occurred_at TEXT NOT NULL,
        PRIMARY KEY (workflow_id, sequence)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS view_workflow_accepted (workflow_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, request_id TEXT NOT NULL,
        question TEXT NOT NULL, accepted_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS view_stream_tokens (workflow_id TEXT NOT NULL, task_id TEXT NOT NULL, seq INTEGER NOT NULL, tenant_id TEXT NOT NULL,
        text TEXT NOT NULL, occurred_at TEXT NOT NULL, PRIMARY KEY (workflow_id, task_id, seq)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS view_stream_tokens_by_time ON view_stream_tokens (occurred_at);
    `);
  }

  async appendEvent(e: StoredEvent): Promise<void> {
    await this.appendEvents([e]);
  }

  /** One transaction for the batch: one fsync instead of one per event, and all of it or none. */
  async appendEvents(events: readonly StoredEvent[]): Promise<void> {
    const insert = this.db.prepare(`INSERT OR IGNORE INTO view_workflow_events (workflow_id, sequence, tenant_id, type, version, id, data, occurred_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.db.transaction(() => {
      for (const e of events) insert.run(e.workflowId, e.sequence, e.tenantId, e.type, e.version, e.id, JSON.stringify(e.data), e.occurredAt);
    })();
  }

  async recordAccepted(a: { workflowId: string; tenantId: string; requestId: string; question: string; acceptedAt: string }): Promise<void> {
    this.db.prepare('INSERT OR IGNORE INTO view_workflow_accepted (workflow_id, tenant_id, request_id, question, accepted_at) VALUES (?, ?, ?, ?, ?)')
      .run(a.workflowId, a.tenantId, a.requestId, a.question, a.acceptedAt);
  }

  async load(workflowId: string, tenantId: string): Promise<{ accepted?: { requestId: string; question: string; acceptedAt: string }; events: StoredEvent[] } | null> {
    const accepted = this.db.prepare('SELECT request_id, question, accepted_at FROM view_workflow_accepted WHERE workflow_id = ? AND tenant_id = ?')
      .get(workflowId, tenantId) as { request_id: string; question: string; accepted_at: string } | undefined;
    const rows = this.db.prepare('SELECT * FROM view_workflow_events WHERE workflow_id = ? AND tenant_id = ? ORDER BY sequence')
      .all(workflowId, tenantId) as { workflow_id: string; sequence: number; tenant_id: string; type: string; version: number; id: string; data: string; occurred_at: string }[];
    if (!accepted && rows.length === 0) return null;
    return {
      accepted: accepted ? { requestId: accepted.request_id, question: accepted.question, acceptedAt: accepted.accepted_at } : undefined,
      events: rows.map((r) => ({ workflowId: r.workflow_id, sequence: r.sequence, tenantId: r.tenant_id, type: r.type, version: r.version, id: r.id, data: JSON.parse(r.data) as unknown, occurredAt: r.occurred_at })),
    };
  }

  async appendStreamToken(t: StoredStreamToken): Promise<void> {
    await this.appendStreamTokens([t]);
  }

  async appendStreamTokens(tokens: readonly StoredStreamToken[]): Promise<void> {
    const insert = this.db.prepare(`INSERT OR IGNORE INTO view_stream_tokens (workflow_id, task_id, seq, tenant_id, text, occurred_at) VALUES (?, ?, ?, ?, ?, ?)`);
    this.db.transaction(() => {
      for (const t of tokens) insert.run(t.workflowId, t.taskId, t.seq, t.tenantId, t.text, t.occurredAt);
    })();
  }

  async loadStreamTokens(workflowId: string, tenantId: string): Promise<StoredStreamToken[]> {
    const rows = this.db.prepare('SELECT * FROM view_stream_tokens WHERE workflow_id = ? AND tenant_id = ? ORDER BY task_id, seq')
      .all(workflowId, tenantId) as { workflow_id: string; task_id: string; seq: number; tenant_id: string; text: string; occurred_at: string }[];
    return rows.map((r) => ({ workflowId: r.workflow_id, tenantId: r.tenant_id, taskId: r.task_id, seq: r.seq, text: r.text, occurredAt: r.occurred_at }));
  }

  async purgeStreamTokens(olderThan: Date): Promise<number> {
    return this.db.prepare('DELETE FROM view_stream_tokens WHERE occurred_at < ?').run(olderThan.toISOString()).changes;
  }

  healthy(): boolean {
    return this.db?.open ?? false;
  }

  async close(): Promise<void> {
    // The shared embedded file is closed by the platform at shutdown.
  }
}
