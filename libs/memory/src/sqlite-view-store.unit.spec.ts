import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { SqliteWorkflowViewStore } from './sqlite-view-store';
import { runViewStoreConformance } from './testing/view-store-conformance';

runViewStoreConformance('SQLite (embedded)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-views-'));
  const file = join(dir, 'flotilla.db');
  return {
    store: new SqliteWorkflowViewStore(file),
    cleanup: async () => {
      // The store leaves the shared embedded file open (the platform closes it); close ours here.
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
