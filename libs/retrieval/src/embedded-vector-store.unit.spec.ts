import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { EmbeddedVectorStore } from './embedded-vector-store';
import { runVectorStoreConformance } from './testing/vector-store-conformance';

runVectorStoreConformance('embedded (SQLite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-vectors-'));
  const file = join(dir, 'flotilla.db');
  const collection = `conformance_${randomUUID().slice(0, 8)}`;
  return {
    store: new EmbeddedVectorStore(file, collection),
    reopen: () => new EmbeddedVectorStore(file, collection),
    cleanup: async () => {
      // The store leaves the shared embedded file open (the platform closes it); close ours here.
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('EmbeddedVectorStore', () => {
  it('keeps collections apart in one file (vectors of different embedders are never compared)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-vectors-'));
    const file = join(dir, 'flotilla.db');
    try {
      const a = new EmbeddedVectorStore(file, 'embedder_a_2');
      const b = new EmbeddedVectorStore(file, 'embedder_b_3');
      await a.ensureCollection(2);
      await b.ensureCollection(3);
      const payload = { tenantId: 't', docId: 'd', docVersion: 1, chunkIndex: 0, title: 'T', text: 'x' };
      await a.upsert([{ id: 'c1', vector: [1, 0], payload }]);
      await b.upsert([{ id: 'c1', vector: [0, 0, 1], payload: { ...payload, text: 'y' } }]);
      expect((await a.search([1, 0], { tenantId: 't', topK: 5 })).map((h) => h.payload.text)).toEqual(['x']);
      expect((await b.search([0, 0, 1], { tenantId: 't', topK: 5 })).map((h) => h.payload.text)).toEqual(['y']);
      await b.deleteDocument('t', 'd');
      expect(await a.count('t')).toBe(1);
    } finally {
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
