import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@flotilla/config';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { collectionNameFor, createKnowledgeBase, Embedder } from './index';
import { FakeQdrant, startFakeQdrant } from './testing/fake-qdrant-server';

/** Stands in for an OpenAI-compatible embeddings client (same shape as the LLM lib's OpenAiEmbedder). */
const injected: Embedder = { name: 'openai/text-embedding-3-small', dimension: 3, embed: async (texts) => texts.map((t) => [1, t.length % 2, 0]) };

describe('createKnowledgeBase', () => {
  let dir: string;
  let fake: FakeQdrant;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kb-factory-'));
    fake = await startFakeQdrant();
  });
  afterEach(async () => {
    await fake.close();
    openEmbeddedDb(join(dir, 'flotilla.db')).close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses the embedded store without QDRANT_URL, with the local embedder and a search cache by default', async () => {
    const kb = createKnowledgeBase(loadConfig({ FLOTILLA_DATA_DIR: dir }));
    await kb.init();
    expect(kb.describe()).toEqual({ store: 'embedded', embedder: 'flotilla-local-lexical-v1', dimension: 1024, cache: true });
    const tables = openEmbeddedDb(join(dir, 'flotilla.db')).prepare('SELECT name, dimension FROM kb_collections').all();
    expect(tables).toEqual([{ name: 'flotilla_kb_flotilla_local_lexical_v1_1024', dimension: 1024 }]);
    expect(fake.requests).toEqual([]);
  });

  it('uses Qdrant when QDRANT_URL is set, in a collection named after the injected embedder and of its dimension', async () => {
    const kb = createKnowledgeBase(loadConfig({ FLOTILLA_DATA_DIR: dir, QDRANT_URL: fake.url }), injected, { cache: false });
    await kb.init();
    expect(kb.describe()).toEqual({ store: 'qdrant', embedder: 'openai/text-embedding-3-small', dimension: 3, cache: false });
    expect([...fake.collections.keys()]).toEqual(['flotilla_kb_openai_text_embedding_3_small_3']);
    expect(fake.collections.get('flotilla_kb_openai_text_embedding_3_small_3')?.size).toBe(3);
    await kb.ingest({ tenantId: 't', docId: 'd', version: 1, title: 'T', text: 'Some text.' });
    expect((await kb.search('x', 't', 3, 0))[0]?.payload.docId).toBe('d');
  });

  it('names collections so that different embedders never share one', () => {
    expect(collectionNameFor({ name: 'flotilla-local-lexical-v1', dimension: 1024 })).toBe('flotilla_kb_flotilla_local_lexical_v1_1024');
    expect(collectionNameFor({ name: 'flotilla-local-lexical-v1', dimension: 512 })).not.toBe(collectionNameFor({ name: 'flotilla-local-lexical-v1', dimension: 1024 }));
  });
});
