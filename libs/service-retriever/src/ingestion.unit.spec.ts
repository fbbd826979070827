import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, FlotillaError, waitFor } from '@flotilla/common';
import { DeadLetterMessage, IngestDocumentV1, IngestStatusMessage, Messages, Topics } from '@flotilla/contracts';
import { connectBus, consume, EmbeddedMessageBus, MessageBus, on, outgoing, Subscription } from '@flotilla/messaging';
import { chunk, EmbeddedVectorStore, KnowledgeBase, LocalLexicalEmbedder, SearchCache, VectorStore } from '@flotilla/retrieval';
import { INGEST_GROUP, startCacheInvalidation, startIngestion } from './ingestion';

const TIMEOUT_MS = 10_000;

/** A store whose upserts fail `failures` times with `error` before they succeed. */
function flaky(store: VectorStore, failures: number, error: () => Error): VectorStore {
  let left = failures;
  return Object.assign(Object.create(store) as VectorStore, {
    upsert: async (points: Parameters<VectorStore['upsert']>[0]) => {
      if (left-- > 0) throw error();
      return store.upsert(points);
    },
  });
}

describe('ingestion over the ingest topic', () => {
  let dir: string;
  let bus: MessageBus;
  let store: EmbeddedVectorStore;
  let kb: KnowledgeBase;
  let reports: IngestStatusMessage[];
  let deadLetters: DeadLetterMessage[];
  const subscriptions: Subscription[] = [];

  const track = async (sub: Promise<Subscription>): Promise<void> => {
    const s = await sub;
    subscriptions.push(s);
    await s.ready;
  };

  const ingestMessage = (doc: IngestDocumentV1) => outgoing(Topics.ingest, Messages.IngestDocument, `${doc.tenantId}:${doc.docId}`, doc, { tenantId: doc.tenantId });
  const send = (...docs: IngestDocumentV1[]) => bus.publish(docs.map(ingestMessage));
  const reportsFor = (docId: string) => reports.filter((r) => r.data.docId === docId).map((r) => r.data);
  const until = (what: string, predicate: () => boolean) => waitFor(predicate, TIMEOUT_MS - 2000, what);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'retriever-ingest-'));
    bus = new EmbeddedMessageBus(join(dir, 'bus.db'));
    await connectBus(bus);
    store = new EmbeddedVectorStore(join(dir, 'kb.db'), 'test');
    kb = new KnowledgeBase(store, new LocalLexicalEmbedder(), { cache: new SearchCache() });
    await kb.init();
    reports = [];
    deadLetters = [];
    await track(consume(bus, { groupId: 'test-observer', handlers: [
      on(Topics.ingestStatus, async (m) => void reports.push(m)),
      on(Topics.deadLetters, async (m) => void deadLetters.push(m)),
    ] }));
  });

  afterEach(async () => {
    await Promise.all(subscriptions.splice(0).map((s) => s.stop()));
    await bus.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  const doc = (over: Partial<IngestDocumentV1> = {}): IngestDocumentV1 => ({
    tenantId: 'acme', docId: 'lockers', version: 1, title: 'Parcel lockers', text: 'Parcels can be collected from lockers at every store for seven days.', uri: 'kb://lockers', ...over,
  });

  it('ingests a document, reports it with its chunk count, and makes it searchable for its tenant only', async () => {
    await track(startIngestion(bus, kb));
    const text = `${'Lockers are open around the clock at every store. '.repeat(12)}\n\n${'Parcels wait in a locker for seven days before they go back. '.repeat(10)}`;
    await send(doc({ text }));
    await until('report', () => reportsFor('lockers').length === 1);
    const [report] = reportsFor('lockers');
    expect(report).toEqual({ tenantId: 'acme', docId: 'lockers', version: 1, status: 'ingested', chunks: chunk(text).length, reportedAt: expect.any(String) });
    expect(report!.chunks).toBeGreaterThan(1);
    expect(reports[0]!.metadata.tenantId).toBe('acme');
    expect(reports[0]!.id).toMatch(/^ingrep_flotilla\.ingest\.v1_\d+_0$/);
    const hits = await kb.search('how long does a parcel wait in a locker', 'acme');
    expect(hits[0]).toMatchObject({ payload: { docId: 'lockers', uri: 'kb://lockers', title: 'Parcel lockers' } });
    expect(await kb.search('how long does a parcel wait in a locker', 'other')).toEqual([]);
  }, TIMEOUT_MS);

  it('is idempotent by (tenant, document, version): same version skipped, newer replaces, older after newer skipped', async () => {
    await track(startIngestion(bus, kb));
    await send(
      doc(),
      doc(),
      doc({ version: 2, text: 'Parcels can be collected from lockers for fourteen days.' }),
      doc({ version: 1, text: 'A late copy of version one about lockers.' }),
    );
    await until('four reports', () => reportsFor('lockers').length === 4);
    expect(reportsFor('lockers').map((r) => [r.version, r.status, r.chunks, r.reason])).toEqual([
      [1, 'ingested', 1, undefined],
      [1, 'skipped', 0, 'version 1 is already ingested'],
      [2, 'ingested', 1, undefined],
      [1, 'skipped', 0, 'version 2 is newer than 1'],
    ]);
    const hits = await kb.search('lockers parcels collected', 'acme', 5, 0);
    expect(hits.map((h) => h.payload.text)).toEqual(['Parcels can be collected from lockers for fourteen days.']);
  }, TIMEOUT_MS);

  it('reports a document that cannot be ingested as failed, with the reason, and dead-letters it without retrying', async () => {
    await track(startIngestion(bus, kb));
    await send(doc({ docId: 'blank', text: ' \n\n ' }));
    await until('failed report and dead letter', () => reportsFor('blank').length === 1 && deadLetters.length === 1);
    expect(reportsFor('blank')[0]).toMatchObject({ status: 'failed', chunks: 0, reason: 'VALIDATION_FAILED: document blank has no text to index' });
    expect(deadLetters[0]!.data).toMatchObject({ sourceTopic: Topics.ingest.name, consumerGroup: INGEST_GROUP, errorCode: ErrorCode.ValidationFailed, attempts: 1, reason: 'document blank has no text to index' });
  }, TIMEOUT_MS);

  it('retries a retryable failure without reporting it, and reports only the outcome', async () => {
    const unavailable = () => new FlotillaError(ErrorCode.DependencyUnavailable, 'vector store unavailable');
    await track(startIngestion(bus, new KnowledgeBase(flaky(store, 2, unavailable), new LocalLexicalEmbedder())));
    await send(doc());
    await until('report', () => reportsFor('lockers').length >= 1);
    expect(reportsFor('lockers').map((r) => r.status)).toEqual(['ingested']);
    expect(deadLetters).toEqual([]);
  }, TIMEOUT_MS);

  it('reports failed and dead-letters once the retries of a retryable failure run out', async () => {
    const unavailable = () => new FlotillaError(ErrorCode.DependencyUnavailable, 'vector store unavailable');
    await track(startIngestion(bus, new KnowledgeBase(flaky(store, 99, unavailable), new LocalLexicalEmbedder())));
    await send(doc());
    await until('failed report and dead letter', () => reportsFor('lockers').length === 1 && deadLetters.length === 1);
    expect(reportsFor('lockers')[0]).toMatchObject({ status: 'failed', reason: 'DEPENDENCY_UNAVAILABLE: vector store unavailable' });
    expect(deadLetters[0]!.data).toMatchObject({ errorCode: ErrorCode.DependencyUnavailable, attempts: 3 });
  }, TIMEOUT_MS);

  it('when the report cannot be published, republishes the same outcome on retry instead of re-ingesting and reporting "skipped"', async () => {
    let failStatus = 1;
    const flakyBus: MessageBus = Object.assign(Object.create(bus) as MessageBus, {
      publish: async (messages: Parameters<MessageBus['publish']>[0]) => {
        if (messages.some((m) => m.topic === Topics.ingestStatus.name) && failStatus-- > 0) throw new FlotillaError(ErrorCode.DependencyUnavailable, 'broker unavailable');
        return bus.publish(messages);
      },
    });
    await track(startIngestion(flakyBus, kb));
    await send(doc());
    await until('report', () => reportsFor('lockers').length >= 1);
    expect(reportsFor('lockers').map((r) => [r.status, r.chunks])).toEqual([['ingested', 1]]);
  }, TIMEOUT_MS);

  it('dead-letters an invalid ingest message (by the consumer) and reports nothing for it', async () => {
    await track(startIngestion(bus, kb));
    const bad = ingestMessage(doc({ title: '' }));
    await bus.publish([bad]);
    await until('dead letter', () => deadLetters.length === 1);
    expect(deadLetters[0]!.data).toMatchObject({ errorCode: ErrorCode.InvalidMessage, reason: expect.stringContaining('title') });
    expect(reports).toEqual([]);
  }, TIMEOUT_MS);

  it('keeps another replica\'s search cache honest: its cached results go when an ingestion is reported', async () => {
    // Two replicas: one store (as with Qdrant), a search cache each.
    const replicaA = kb;
    const replicaB = new KnowledgeBase(store, new LocalLexicalEmbedder(), { cache: new SearchCache({ ttlMs: 600_000 }) });
    await replicaA.ingest(doc());
    const ask = async () => (await replicaB.search('how many days can parcels stay in lockers', 'acme'))[0]?.payload.text;
    expect(await ask()).toContain('seven days');
    await track(startIngestion(bus, replicaA));
    await track(startCacheInvalidation(bus, replicaB, 'replica-b'));
    await send(doc({ version: 2, text: 'Parcels can be collected from lockers for fourteen days.' }));
    let answer: string | undefined;
    await waitFor(async () => (answer = await ask())?.includes('fourteen') ?? false, TIMEOUT_MS - 2000, 'replica B sees version 2');
    expect(answer).toContain('fourteen days');
  }, TIMEOUT_MS);
});
