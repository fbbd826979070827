import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedVectorStore } from './embedded-vector-store';
import { LocalLexicalEmbedder } from './embedder';
import { chunk, KnowledgeBase } from './knowledge-base';
import { sampleKnowledgeBase } from './sample-kb';

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
  const kb = new KnowledgeBase(new EmbeddedVectorStore(join(mkdtempSync(join(tmpdir(), 'kb-')), 'kb.db')), new LocalLexicalEmbedder());
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
    expect((await kb.ingest(doc)).skipped).toBe(false);
    expect((await kb.ingest(doc)).skipped).toBe(true);
    await kb.ingest({ ...doc, version: 2, text: 'New text about lockers.' });
    const hits = await kb.search('lockers parcels', 't2', 5, 0);
    expect(hits.map((h) => h.payload.text)).toEqual(['New text about lockers.']);
  });
});
