import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@flotilla/common';
import { EmbeddedVectorStore } from './embedded-vector-store';
import { Embedder, LocalLexicalEmbedder } from './embedder';
import { chunk, KnowledgeBase } from './knowledge-base';
import { sampleKnowledgeBase } from './sample-kb';
import { SearchCache } from './search-cache';
import { VectorStore } from './vector-store';

const tempStore = (): EmbeddedVectorStore => new EmbeddedVectorStore(join(mkdtempSync(join(tmpdir(), 'kb-')), 'kb.db'), 'test');

/** A store that counts the searches that reach it. */
function counting(store: VectorStore): VectorStore & { searches: number } {
  const counted = {
    searches: 0,
    name: store.name,
    ensureCollection: (d: number) => store.ensureCollection(d),
    upsert: (p: Parameters<VectorStore['upsert']>[0]) => store.upsert(p),
    deleteDocument: (t: string, d: string, k?: number) => store.deleteDocument(t, d, k),
    documentVersion: (t: string, d: string) => store.documentVersion(t, d),
    count: (t: string) => store.count(t),
    search: (v: number[], o: Parameters<VectorStore['search']>[1]) => {
      counted.searches++;
      return store.search(v, o);
    },
  };
  return counted;
}

describe('chunk', () => {
  it('keeps sentences whole (no split inside "$5.95") and respects the size bound', () => {
    const text = `${'A sentence of filler words here. '.repeat(30)}\n\nThe fee is $5.95 per return. Short tail.`;
    const chunks = chunk(text, 300);
    expect(chunks.join(' ')).toContain('The fee is $5.95 per return.');
    for (const c of chunks.slice(0, -1)) expect(c.length).toBeLessThanOrEqual(300);
    expect(chunks.join(' ').replace(/\s+/g, ' ')).toBe(text.replace(/\s+/g, ' ').trim());
  });
});

describe('KnowledgeBase on the embedded store', () => {
  const store = tempStore();
  const kb = new KnowledgeBase(store, new LocalLexicalEmbedder());
  beforeAll(async () => {
    await kb.init();
    for (const d of sampleKnowledgeBase('public')) await kb.ingest(d);
  });

  it('finds the policy a question is about', async () => {
    expect((await kb.search('What is your return policy?', 'public'))[0]!.payload.docId).toBe('returns-policy');
    expect((await kb.search('How long is the warranty?', 'public'))[0]!.payload.docId).toBe('warranty-policy');
    expect((await kb.search('Do you deliver on Sundays?', 'public'))[0]!.payload.docId).toBe('shipping-policy');
  });

  it('never returns another tenant\'s passages', async () => {
    expect(await kb.search('What is your return policy?', 'other-tenant')).toEqual([]);
  });

  it('is idempotent by document id and version, and replaces older versions', async () => {
    const doc = { tenantId: 't2', docId: 'd', version: 1, title: 'Doc', text: 'Old text about parcels.' };
    expect(await kb.ingest(doc)).toEqual({ status: 'ingested', chunks: 1 });
    expect(await kb.ingest(doc)).toEqual({ status: 'skipped', chunks: 0, reason: 'version 1 is already ingested' });
    expect(await kb.ingest({ ...doc, version: 2, text: 'New text about lockers.' })).toEqual({ status: 'ingested', chunks: 1 });
    const hits = await kb.search('lockers parcels', 't2', 5, 0);
    expect(hits.map((h) => h.payload.text)).toEqual(['New text about lockers.']);
  });

  it('skips an older version that arrives after a newer one, leaving the newer in place', async () => {
    const doc = { tenantId: 't3', docId: 'd', version: 5, title: 'Doc', text: 'Version five talks about lockers.' };
    await kb.ingest(doc);
    expect(await kb.ingest({ ...doc, version: 4, text: 'Version four talks about parcels.' }))
      .toEqual({ status: 'skipped', chunks: 0, reason: 'version 5 is newer than 4' });
    expect((await kb.search('lockers parcels', 't3', 5, 0)).map((h) => h.payload.docVersion)).toEqual([5]);
  });

  it('finishes a replacement that was interrupted before the old version was deleted, when the new version is redelivered', async () => {
    const doc = { tenantId: 't4', docId: 'd', version: 1, title: 'Doc', text: 'Old text about parcels.' };
    await kb.ingest(doc);
    // As if the process died after writing version 2 and before deleting version 1.
    const [v] = await new LocalLexicalEmbedder().embed(['Doc. New text about lockers.']);
    await store.upsert([{ id: 'chunk_v2', vector: v!, payload: { tenantId: 't4', docId: 'd', docVersion: 2, chunkIndex: 0, title: 'Doc', text: 'New text about lockers.' } }]);
    expect(await store.count('t4')).toBe(2);
    expect((await kb.ingest({ ...doc, version: 2, text: 'New text about lockers.' })).status).toBe('skipped');
    expect((await kb.search('lockers parcels', 't4', 5, 0)).map((h) => h.payload.docVersion)).toEqual([2]);
  });

  it('refuses a document with no text to index, as a non-retryable error, writing nothing', async () => {
    await expect(kb.ingest({ tenantId: 't5', docId: 'empty', version: 1, title: 'Empty', text: ' \n\n ' }))
      .rejects.toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false });
    expect(await store.documentVersion('t5', 'empty')).toBeUndefined();
  });
});

describe('KnowledgeBase with an injected embedder', () => {
  /** Embeds by which of three keywords a text mentions: enough to tell documents apart. */
  class KeywordEmbedder implements Embedder {
    readonly name = 'keywords-v1';
    readonly dimension = 3;
    readonly calls: string[][] = [];
    async embed(texts: string[]): Promise<number[][]> {
      this.calls.push(texts);
      return texts.map((t) => ['apple', 'banana', 'cherry'].map((w) => (t.toLowerCase().includes(w) ? 1 : 0)));
    }
  }

  it('uses its vectors, in batches of at most embedBatchSize passages', async () => {
    const embedder = new KeywordEmbedder();
    const kb = new KnowledgeBase(tempStore(), embedder, { embedBatchSize: 2 });
    await kb.init();
    const paragraphs = ['Apple pie.', 'Banana bread.', 'Cherry tart.', 'Apple crumble.', 'Banana split.'].map((p) => `${p} ${'More words here. '.repeat(18)}`);
    const result = await kb.ingest({ tenantId: 't', docId: 'menu', version: 1, title: 'Menu', text: paragraphs.join('\n\n') });
    expect(result.chunks).toBe(5);
    expect(embedder.calls.map((c) => c.length)).toEqual([2, 2, 1]);
    const hits = await kb.search('cherry', 't', 1, 0.5);
    expect(hits.map((h) => h.payload.text)).toEqual([expect.stringContaining('Cherry tart.')]);
  });

  it('fails clearly when the embedder returns the wrong number of vectors', async () => {
    const broken: Embedder = { name: 'broken', dimension: 3, embed: async () => [] };
    const kb = new KnowledgeBase(tempStore(), broken);
    await kb.init();
    await expect(kb.ingest({ tenantId: 't', docId: 'd', version: 1, title: 'T', text: 'Some text.' })).rejects.toThrow('embedder broken returned 0 vectors for 1 texts');
  });
});

describe('KnowledgeBase search cache', () => {
  const doc = (tenantId: string, docId: string, text: string, version = 1) => ({ tenantId, docId, version, title: 'Doc', text });

  it('answers a repeated search from the cache, and searches the store again once that tenant\'s documents change', async () => {
    const store = counting(tempStore());
    const kb = new KnowledgeBase(store, new LocalLexicalEmbedder(), { cache: new SearchCache() });
    await kb.init();
    await kb.ingest(doc('t', 'a', 'Parcels are delivered to lockers.'));
    await kb.ingest(doc('u', 'a', 'Parcels for the other tenant.'));

    const first = await kb.search('Where are parcels delivered?', 't');
    expect(await kb.search('where are parcels   delivered?', 't')).toEqual(first);
    expect(store.searches).toBe(1);

    // Another tenant's change leaves this tenant's cache alone...
    await kb.ingest(doc('u', 'b', 'Parcels again.'));
    await kb.search('Where are parcels delivered?', 't');
    expect(store.searches).toBe(1);

    // ...its own change does not: the new version is found at once.
    await kb.ingest(doc('t', 'a', 'Parcels are delivered to the front desk.', 2));
    const after = await kb.search('Where are parcels delivered?', 't');
    expect(store.searches).toBe(2);
    expect(after[0]!.payload.text).toBe('Parcels are delivered to the front desk.');
  });

  it('is invalidated on request, for changes made by another replica', async () => {
    const store = counting(tempStore());
    const kb = new KnowledgeBase(store, new LocalLexicalEmbedder(), { cache: new SearchCache() });
    await kb.init();
    await kb.ingest(doc('t', 'a', 'Parcels are delivered to lockers.'));
    await kb.search('parcels', 't');
    await kb.search('parcels', 't');
    kb.invalidate('t');
    await kb.search('parcels', 't');
    expect(store.searches).toBe(2);
  });
});
