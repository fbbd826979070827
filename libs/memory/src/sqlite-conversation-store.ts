import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import {
  ConversationSession, ConversationStore, ConversationStoreOptions, isSummarised, normaliseTurn, planFold, PreferenceValue, RecentContext,
  requireMaxTokens, requirePreference, requireScope, ResolvedConversationOptions, resolveConversationOptions, selectRecent, SummaryBoundary, Turn,
} from './conversation-store';

interface SessionRow {
  tenant_id: string;
  session_id: string;
  user_id: string | null;
  created_at: string;
  last_active_at: string;
  summary: string | null;
  summary_rev: number;
  through_at: string | null;
  through_turn_id: string | null;
}

interface TurnRow {
  tenant_id: string;
  session_id: string;
  turn_id: string;
  user_id: string | null;
  role: Turn['role'];
  text: string;
  workflow_id: string | null;
  facts: string | null;
  tokens: number;
  at: string;
}

function toTurn(r: TurnRow): Turn {
  const turn: Turn = { tenantId: r.tenant_id, sessionId: r.session_id, turnId: r.turn_id, role: r.role, text: r.text, tokens: r.tokens, at: r.at };
  if (r.user_id !== null) turn.userId = r.user_id;
  if (r.workflow_id !== null) turn.workflowId = r.workflow_id;
  if (r.facts !== null) turn.facts = JSON.parse(r.facts) as Record<string, unknown>;
  return turn;
}

function boundaryOf(s: SessionRow | undefined): SummaryBoundary | undefined {
  return s?.through_at && s.through_turn_id ? { at: s.through_at, turnId: s.through_turn_id } : undefined;
}

/**
 * Conversation memory in the embedded mode's SQLite file. Each write is one SQLite transaction, so
 * concurrent callers in the process (and other processes on the file) never see half a fold.
 */
export class SqliteConversationStore implements ConversationStore {
  private db!: EmbeddedDb;
  private readonly options: ResolvedConversationOptions;

  constructor(private readonly file: string, options: ConversationStoreOptions = {}) {
    this.options = resolveConversationOptions(options);
  }

  async init(): Promise<void> {
    this.db = openEmbeddedDb(this.file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS memory_sessions (tenant_id TEXT NOT NULL, session_id TEXT NOT NULL, user_id TEXT,
        created_at TEXT NOT NULL, last_active_at TEXT NOT NULL, summary TEXT, summary_rev INTEGER NOT NULL DEFAULT 0,
        through_at TEXT, through_turn_id TEXT, PRIMARY KEY (tenant_id, session_id)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS memory_sessions_idle ON memory_sessions (last_active_at);
      CREATE INDEX IF NOT EXISTS memory_sessions_user ON memory_sessions (tenant_id, user_id);
      CREATE TABLE IF NOT EXISTS memory_turns (tenant_id TEXT NOT NULL, session_id TEXT NOT NULL, turn_id TEXT NOT NULL, user_id TEXT,
        role TEXT NOT NULL, text TEXT NOT NULL, workflow_id TEXT, facts TEXT, tokens INTEGER NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (tenant_id, session_id, turn_id)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS memory_turns_order ON memory_turns (tenant_id, session_id, at, turn_id);
      CREATE INDEX IF NOT EXISTS memory_turns_user ON memory_turns (tenant_id, user_id);
      CREATE TABLE IF NOT EXISTS memory_preferences (tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,
        value TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, user_id, name)) WITHOUT ROWID;
    `);
  }

  async appendTurn(input: Turn): Promise<void> {
    const turn = normaliseTurn(input);
    const now = this.options.now().toISOString();
    this.db.transaction(() => {
      const session = this.session(turn.tenantId, turn.sessionId);
      // Only a turn after the summary's boundary is new: one at or before it is already folded in.
      if (!isSummarised(turn, boundaryOf(session))) {
        this.db.prepare(`INSERT OR IGNORE INTO memory_turns (tenant_id, session_id, turn_id, user_id, role, text, workflow_id, facts, tokens, at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(turn.tenantId, turn.sessionId, turn.turnId, turn.userId ?? null, turn.role, turn.text,
          turn.workflowId ?? null, turn.facts === undefined ? null : JSON.stringify(turn.facts), turn.tokens, turn.at);
      }
      // The first user to speak owns the session (an anonymous session is claimed by the first identified turn).
      this.db.prepare(`INSERT INTO memory_sessions (tenant_id, session_id, user_id, created_at, last_active_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (tenant_id, session_id) DO UPDATE SET user_id = coalesce(user_id, excluded.user_id),
          last_active_at = max(last_active_at, excluded.last_active_at)`).run(turn.tenantId, turn.sessionId, turn.userId ?? null, now, now);
    })();
    await this.compress(turn.tenantId, turn.sessionId);
  }

  /** Folds the oldest turns into the summary when the session is over budget (see planFold). */
  private async compress(tenantId: string, sessionId: string): Promise<void> {
    const session = this.session(tenantId, sessionId);
    if (!session) return;
    const fold = planFold(this.turns(tenantId, sessionId), this.options);
    if (fold.length === 0) return;
    // The summariser may be asynchronous (a model), so it runs outside the transaction; the
    // revision check below makes a concurrent fold of the same session win once, not twice.
    const summary = await this.options.summarise({ previous: session.summary ?? undefined, turns: fold });
    const last = fold[fold.length - 1]!;
    this.db.transaction(() => {
      const applied = this.db.prepare(`UPDATE memory_sessions SET summary = ?, summary_rev = summary_rev + 1, through_at = ?, through_turn_id = ?
        WHERE tenant_id = ? AND session_id = ? AND summary_rev = ?`).run(summary, last.at, last.turnId, tenantId, sessionId, session.summary_rev);
      if (applied.changes === 0) return;
      this.db.prepare('DELETE FROM memory_turns WHERE tenant_id = ? AND session_id = ? AND (at < ? OR (at = ? AND turn_id <= ?))')
        .run(tenantId, sessionId, last.at, last.at, last.turnId);
    })();
  }

  async recentContext(tenantId: string, sessionId: string, options: { maxTokens: number }): Promise<RecentContext> {
    requireScope(tenantId, 'sessionId', sessionId);
    requireMaxTokens(options.maxTokens);
    const read = this.db.transaction(() => ({ session: this.session(tenantId, sessionId), turns: this.turns(tenantId, sessionId) }));
    const { session, turns } = read();
    const context: RecentContext = { turns: selectRecent(turns, options.maxTokens) };
    if (session?.summary) context.summary = session.summary;
    return context;
  }

  async getSession(tenantId: string, sessionId: string): Promise<ConversationSession | null> {
    requireScope(tenantId, 'sessionId', sessionId);
    const s = this.session(tenantId, sessionId);
    if (!s) return null;
    const session: ConversationSession = { tenantId: s.tenant_id, sessionId: s.session_id, createdAt: s.created_at, lastActiveAt: s.last_active_at };
    if (s.user_id !== null) session.userId = s.user_id;
    return session;
  }

  async setPreference(tenantId: string, userId: string, name: string, value: PreferenceValue): Promise<void> {
    requireScope(tenantId, 'userId', userId);
    requirePreference(name, value);
    this.db.prepare(`INSERT INTO memory_preferences (tenant_id, user_id, name, value, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (tenant_id, user_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`)
      .run(tenantId, userId, name, JSON.stringify(value), this.options.now().toISOString());
  }

  async getPreferences(tenantId: string, userId: string): Promise<Record<string, PreferenceValue>> {
    requireScope(tenantId, 'userId', userId);
    const rows = this.db.prepare('SELECT name, value FROM memory_preferences WHERE tenant_id = ? AND user_id = ? ORDER BY name')
      .all(tenantId, userId) as { name: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.name, JSON.parse(r.value) as PreferenceValue]));
  }

  async purgeIdle(olderThan: Date): Promise<number> {
    const cutoff = olderThan.toISOString();
    return this.db.transaction(() => {
      this.db.prepare(`DELETE FROM memory_turns WHERE (tenant_id, session_id) IN
        (SELECT tenant_id, session_id FROM memory_sessions WHERE last_active_at < ?)`).run(cutoff);
      return this.db.prepare('DELETE FROM memory_sessions WHERE last_active_at < ?').run(cutoff).changes;
    })();
  }

  async forgetUser(tenantId: string, userId: string): Promise<void> {
    requireScope(tenantId, 'userId', userId);
    this.db.transaction(() => {
      // Every session the user owns or spoke in goes, whole: its summary may carry their words.
      const sessions = this.db.prepare(`SELECT session_id FROM memory_sessions WHERE tenant_id = ? AND user_id = ?
        UNION SELECT session_id FROM memory_turns WHERE tenant_id = ? AND user_id = ?`).all(tenantId, userId, tenantId, userId) as { session_id: string }[];
      const deleteTurns = this.db.prepare('DELETE FROM memory_turns WHERE tenant_id = ? AND session_id = ?');
      const deleteSession = this.db.prepare('DELETE FROM memory_sessions WHERE tenant_id = ? AND session_id = ?');
      for (const { session_id } of sessions) {
        deleteTurns.run(tenantId, session_id);
        deleteSession.run(tenantId, session_id);
      }
      this.db.prepare('DELETE FROM memory_preferences WHERE tenant_id = ? AND user_id = ?').run(tenantId, userId);
    })();
  }

  healthy(): boolean {
    return this.db?.open ?? false;
  }

  async close(): Promise<void> {
    // The shared embedded file is closed by the platform at shutdown.
  }

  private session(tenantId: string, sessionId: string): SessionRow | undefined {
    return this.db.prepare('SELECT * FROM memory_sessions WHERE tenant_id = ? AND session_id = ?').get(tenantId, sessionId) as SessionRow | undefined;
  }

  /** The session's un-summarised turns, oldest first. */
  private turns(tenantId: string, sessionId: string): Turn[] {
    return (this.db.prepare('SELECT * FROM memory_turns WHERE tenant_id = ? AND session_id = ? ORDER BY at, turn_id')
      .all(tenantId, sessionId) as TurnRow[]).map(toTurn);
  }
}
