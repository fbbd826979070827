import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { DEFAULT_SNAPSHOTS_KEPT, sha256Hex, SnapshotStore, StoredSnapshot } from './snapshot-store';

interface Row {
  stream: string;
  format: string;
  taken_at: string;
  sha256: string;
  bytes: Buffer;
}

/** Snapshots in the embedded mode's SQLite file, beside the log they were taken from. */
export class SqliteSnapshotStore implements SnapshotStore {
  private db?: EmbeddedDb;

  constructor(private readonly file: string, private readonly keep = DEFAULT_SNAPSHOTS_KEPT) {}

  async init(): Promise<void> {
    this.open();
  }

  async save(s: { stream: string; format: string; bytes: Buffer; takenAt?: Date }): Promise<void> {
    const db = this.open();
    db.transaction(() => {
      db.prepare('INSERT INTO snapshots (stream, format, taken_at, sha256, bytes) VALUES (?, ?, ?, ?, ?)')
        .run(s.stream, s.format, (s.takenAt ?? new Date()).toISOString(), sha256Hex(s.bytes), s.bytes);
      db.prepare('DELETE FROM snapshots WHERE stream = ? AND seq NOT IN (SELECT seq FROM snapshots WHERE stream = ? ORDER BY seq DESC LIMIT ?)')
        .run(s.stream, s.stream, this.keep);
    })();
  }

  async latest(stream: string): Promise<StoredSnapshot | undefined> {
    const rows = this.open().prepare('SELECT stream, format, taken_at, sha256, bytes FROM snapshots WHERE stream = ? ORDER BY seq DESC').all(stream) as Row[];
    const intact = rows.find((r) => sha256Hex(r.bytes) === r.sha256);
    return intact && { stream: intact.stream, format: intact.format, takenAt: new Date(intact.taken_at), bytes: intact.bytes };
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
      CREATE TABLE IF NOT EXISTS snapshots (seq INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, format TEXT NOT NULL, taken_at TEXT NOT NULL,
        sha256 TEXT NOT NULL, bytes BLOB NOT NULL);
      CREATE INDEX IF NOT EXISTS snapshots_by_stream ON snapshots (stream, seq);
    `);
    this.db = db;
    return db;
  }
}
