import { randomUUID } from 'node:crypto';
import { ErrorCode } from '@flotilla/common';
import { pointIdFor, QdrantVectorStore, uuidV5 } from './qdrant-vector-store';
import { FakeQdrant, startFakeQdrant } from './testing/fake-qdrant-server';
import { runVectorStoreConformance } from './testing/vector-store-conformance';

/*
 * The adapter and the real `@qdrant/js-client-rest` client against a FAKE Qdrant REST API
 * (testing/fake-qdrant-server.ts), because no Qdrant can run here. The same conformance suite runs
 * against a real Qdrant in qdrant-vector-store.int.spec.ts when QDRANT_URL is set.
 */
runVectorStoreConformance('Qdrant adapter against the FAKE Qdrant REST API', async () => {
  const fake = await startFakeQdrant();
  const collection = `conformance_${randomUUID().slice(0, 8)}`;
  // A small batch size, so that the suite's large batch crosses several upsert requests.
  const open = (): QdrantVectorStore => new QdrantVectorStore({ url: fake.url, collection, upsertBatchSize: 64 });
  return { store: open(), reopen: open, cleanup: () => fake.close() };
});

const payload = (tenantId: string, docId: string, docVersion = 1) => ({ tenantId, docId, docVersion, chunkIndex: 0, title: 'T', text: 'x' });

describe('QdrantVectorStore (against the FAKE Qdrant REST API)', () => {
  let fake: FakeQdrant;
  let store: QdrantVectorStore;
  let collection: string;

  beforeEach(async () => {
    fake = await startFakeQdrant();
    collection = `c_${randomUUID().slice(0, 8)}`;
    store = new QdrantVectorStore({ url: fake.url, collection });
  });

  afterEach(() => fake.close());

  const calls = (method: string, suffix: string) => fake.requests.filter((r) => r.method === method && r.path === `/collections/${collection}${suffix}`);

  it('derives point ids as RFC 9562 version-5 UUIDs of the chunk ids, deterministically', () => {
    // The RFC's example: the DNS namespace and "www.example.com".
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(pointIdFor('chunk_abc')).toBe(pointIdFor('chunk_abc'));
    expect(pointIdFor('chunk_abc')).not.toBe(pointIdFor('chunk_abd'));
    expect(pointIdFor('chunk_abc')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('creates the collection with the dimension and Cosine distance, and the tenant, document and version indexes', async () => {
    await store.ensureCollection(16);
    expect(calls('PUT', '').map((r) => r.body)).toEqual([{ vectors: { size: 16, distance: 'Cosine' } }]);
    expect(Object.fromEntries(calls('PUT', '/index').map((r) => [(r.body as { field_name: string }).field_name, (r.body as { field_schema: unknown }).field_schema]))).toEqual({
      tenantId: { type: 'keyword', is_tenant: true },
      docId: { type: 'keyword' },
      docVersion: { type: 'integer', lookup: true, range: true },
    });
    expect(calls('PUT', '/index').every((r) => r.query['wait'] === 'true')).toBe(true);

    // A second replica (or a restart) finds everything in place and writes nothing.
    const before = fake.requests.length;
    await new QdrantVectorStore({ url: fake.url, collection }).ensureCollection(16);
    expect(fake.requests.slice(before).map((r) => r.method)).toEqual(['GET', 'GET', 'GET']);
  });

  it('stores points under UUIDs with the chunk id in the payload, and waits for writes to be applied', async () => {
    await store.ensureCollection(2);
    await store.upsert([{ id: 'chunk_1', vector: [1, 0], payload: payload('t', 'd') }]);
    await store.deleteDocument('t', 'd', 1);
    const [upsert] = calls('PUT', '/points');
    expect(upsert!.query['wait']).toBe('true');
    expect(upsert!.body).toEqual({ points: [{ id: pointIdFor('chunk_1'), vector: [1, 0], payload: { ...payload('t', 'd'), chunkId: 'chunk_1' } }] });
    expect(calls('POST', '/points/delete')[0]!.query['wait']).toBe('true');
    expect((await store.search([1, 0], { tenantId: 't', topK: 1 }))[0]!.id).toBe('chunk_1');
  });

  it('filters every read and delete by tenant (a `must` condition), and a document delete by id and version', async () => {
    await store.ensureCollection(2);
    await store.upsert([{ id: 'chunk_1', vector: [1, 0], payload: payload('t', 'd') }]);
    await store.search([1, 0], { tenantId: 't', topK: 3, minScore: 0.2 });
    await store.count('t');
    await store.documentVersion('t', 'd');
    await store.deleteDocument('t', 'd', 1);
    const reads = fake.requests.filter((r) => r.method === 'POST');
    expect(reads.map((r) => r.path.split('/').slice(3).join('/'))).toEqual(['points/query', 'points/count', 'points/scroll', 'points/delete']);
    for (const r of reads) expect((r.body as { filter: { must: unknown[] } }).filter.must).toContainEqual({ key: 'tenantId', match: { value: 't' } });
    expect(reads[0]!.body).toMatchObject({ query: [1, 0], limit: 3, score_threshold: 0.2, with_payload: true });
    expect(reads[2]!.body).toMatchObject({ order_by: { key: 'docVersion', direction: 'desc' }, limit: 1 });
    expect(reads[3]!.body).toEqual({
      filter: { must: [{ key: 'tenantId', match: { value: 't' } }, { key: 'docId', match: { value: 'd' } }], must_not: [{ key: 'docVersion', match: { value: 1 } }] },
    });
  });

  it('tolerates a collection created by another replica between its check and its create', async () => {
    const racer = new QdrantVectorStore({ url: fake.url, collection });
    await Promise.all([store.ensureCollection(4), racer.ensureCollection(4)]);
    expect(calls('PUT', '').length).toBeGreaterThanOrEqual(1);
    expect(fake.collections.get(collection)?.size).toBe(4);
  });

  it('says which failures retrying can help: unavailable, overloaded and 5xx yes; refused requests no', async () => {
    await store.ensureCollection(2);
    fake.failNext({ status: 503, pattern: /points\/query/ });
    await expect(store.search([1, 0], { tenantId: 't', topK: 1 })).rejects.toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
    fake.failNext({ status: 429, pattern: /points\/query/ });
    await expect(store.search([1, 0], { tenantId: 't', topK: 1 })).rejects.toMatchObject({ code: ErrorCode.RateLimited, retryable: true });
    fake.failNext({ status: 400, pattern: /PUT .*\/points$/ });
    await expect(store.upsert([{ id: 'c', vector: [1, 0], payload: payload('t', 'd') }])).rejects.toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false });
    fake.collections.delete(collection);
    await expect(store.count('t')).rejects.toMatchObject({ code: ErrorCode.NotFound, retryable: false, message: expect.stringContaining("doesn't exist") });

    await fake.close();
    const unreachable = new QdrantVectorStore({ url: fake.url, collection });
    await expect(unreachable.ensureCollection(2)).rejects.toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true, message: expect.stringContaining('ECONNREFUSED') });
  });

  it('refuses a Qdrant too old for the Query API and tenant indexes, at start', async () => {
    const old = await startFakeQdrant({ version: '1.9.2' });
    try {
      await expect(new QdrantVectorStore({ url: old.url, collection }).ensureCollection(2))
        .rejects.toMatchObject({ code: ErrorCode.ConfigInvalid, retryable: false, message: expect.stringContaining('1.9.2 is too old') });
    } finally {
      await old.close();
    }
  });

  it('refuses to be used before ensureCollection', async () => {
    await expect(store.count('t')).rejects.toMatchObject({ code: ErrorCode.Internal, retryable: false });
    expect(fake.requests).toEqual([]);
  });
});
