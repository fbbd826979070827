import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * The embedded mode's single SQLite file: the message log, the read models, memory and vectors all
 * live in it. Only this lib imports `better-sqlite3`; others get the handle through `openEmbeddedDb`.
 */
export type EmbeddedDb = Database.Database;
export type EmbeddedStatement = Database.Statement;

const open = new Map<string, EmbeddedDb>();

/** Opens (once per process and path) the embedded database in WAL mode. `:memory:` is allowed for tests. */
export function openEmbeddedDb(file: string): EmbeddedDb {
  const key = file === ':memory:' ? file : resolve(file);
  const existing = open.get(key);
  if (existing?.open) return existing;
  if (key !== ':memory:') mkdirSync(dirname(key), { recursive: true });
  const db = new Database(key);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode survives a process crash (kill -9); only an OS crash can lose the last commit.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  if (key !== ':memory:') open.set(key, db);
  return db;
}

/** Closes every database this process opened (graceful shutdown). */
export function closeEmbeddedDbs(): void {
  for (const db of open.values()) if (db.open) db.close();
  open.clear();
}
