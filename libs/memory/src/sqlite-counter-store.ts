import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { CounterStoreOptions, ManagedCounterStore, requireCounterArgs, ResolvedCounterOptions, resolveCounterOptions } from './counter-store';

/**
 * Counters in the embedded mode's SQLite file. Each add is one SQL statement (an upsert that
 * resets an expired window and returns the new value), so it is atomic for concurrent callers in
 * this process — better-sqlite3 runs it synchronously, nothing interleaves — and for other
 * processes on the same file.
 */
export class SqliteCounterStore implements ManagedCounterStore {
  private db?: EmbeddedDb;
  private readonly options: ResolvedCounterOptions;
  private lastPurge: number;

  constructor(private readonly file: string, options: CounterStoreOptions = {}) {
    this.options = resolveCounterOptions(options);
    this.lastPurge = this.options.now();
  }

  async init(): Promise<void> {
    this.open();
  }

  async add(key: string, amount: number, ttlMs: number): Promise<number> {
    requireCounterArgs(key, { amount, ttlMs });
    const db = this.open();
    const now = this.options.now();
    const row = db.prepare(`INSERT INTO memory_counters (key, value, expires_at) VALUES (@key, @amount, @expiresAt)
      ON CONFLICT (key) DO UPDATE SET
        value = CASE WHEN expires_at <= @now THEN excluded.value ELSE value + excluded.value END,
        expires_at = CASE WHEN expires_at <= @now THEN excluded.expires_at ELSE expires_at END
      RETURNING value`).get({ key, amount, expiresAt: now + ttlMs, now }) as { value: number };
    if (now - this.lastPurge >= this.options.purgeEveryMs) await this.purgeExpired();
    return row.value;
  }

  async get(key: string): Promise<number> {
    requireCounterArgs(key);
    const row = this.open().prepare('SELECT value FROM memory_counters WHERE key = ? AND expires_at > ?').get(key, this.options.now()) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  async getMany(keys: string[]): Promise<number[]> {
    for (const key of keys) requireCounterArgs(key);
    if (keys.length === 0) return [];
    const rows = this.open().prepare(`SELECT key, value FROM memory_counters WHERE expires_at > ? AND key IN (SELECT value FROM json_each(?))`)
      .all(this.options.now(), JSON.stringify(keys)) as { key: string; value: number }[];
    const values = new Map(rows.map((r) => [r.key, r.value]));
    return keys.map((k) => values.get(k) ?? 0);
  }

  async purgeExpired(): Promise<number> {
    const now = this.options.now();
    this.lastPurge = now;
    return this.open().prepare('DELETE FROM memory_counters WHERE expires_at < ?').run(now - this.options.graceMs).changes;
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
      CREATE TABLE IF NOT EXISTS memory_counters (key TEXT PRIMARY KEY, value REAL NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS memory_counters_expiry ON memory_counters (expires_at);
    `);
    this.db = db;
    return db;
  }
}
