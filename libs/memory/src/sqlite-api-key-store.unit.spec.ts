import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { SqliteApiKeyStore } from './sqlite-api-key-store';
import { runApiKeyStoreConformance } from './testing/api-key-store-conformance';

runApiKeyStoreConformance('SQLite (embedded)', async (count) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-api-keys-'));
  const file = join(dir, 'flotilla.db');
  return {
    stores: Array.from({ length: count }, () => new SqliteApiKeyStore(file)),
    cleanup: async () => {
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
