import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { SqliteConversationStore } from './sqlite-conversation-store';
import { runConversationStoreConformance } from './testing/conversation-store-conformance';

runConversationStoreConformance('SQLite (embedded)', async (options) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-memory-'));
  const file = join(dir, 'flotilla.db');
  return {
    store: new SqliteConversationStore(file, options),
    storedTurns: async (tenantId, sessionId) =>
      (openEmbeddedDb(file).prepare('SELECT count(*) AS n FROM memory_turns WHERE tenant_id = ? AND session_id = ?').get(tenantId, sessionId) as { n: number }).n,
    cleanup: async () => {
      // The store leaves the shared embedded file open (the platform closes it); close ours here.
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
