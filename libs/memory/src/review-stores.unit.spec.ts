import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { SqliteAuditLog } from './sqlite-audit-log';
import { SqliteDeadLetterStore } from './sqlite-dead-letter-store';
import { runReviewStoresConformance } from './testing/review-stores-conformance';

runReviewStoresConformance('SQLite (embedded)', async (count) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-review-'));
  const file = join(dir, 'flotilla.db');
  return {
    deadLetters: Array.from({ length: count }, () => new SqliteDeadLetterStore(file)),
    audits: Array.from({ length: count }, () => new SqliteAuditLog(file)),
    tamper: async (seq, field, value) => {
      openEmbeddedDb(file).prepare(`UPDATE audit_log SET ${field === 'actor' ? 'actor' : 'details'} = ? WHERE seq = ?`).run(value, seq);
    },
    remove: async (seq) => {
      openEmbeddedDb(file).prepare('DELETE FROM audit_log WHERE seq = ?').run(seq);
    },
    cleanup: async () => {
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
