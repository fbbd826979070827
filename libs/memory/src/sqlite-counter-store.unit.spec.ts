import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { SqliteCounterStore } from './sqlite-counter-store';
import { runCounterStoreConformance } from './testing/counter-store-conformance';

runCounterStoreConformance('SQLite (embedded)', async (count, options) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-counters-'));
  const file = join(dir, 'flotilla.db');
  return {
    // One process shares one handle on the file; the instances are otherwise independent.
    stores: Array.from({ length: count }, () => new SqliteCounterStore(file, options)),
    cleanup: async () => {
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
