import { randomUUID } from 'node:crypto';
import { ErrorCode } from '@flotilla/common';
import { ChunkPayload, VectorPoint, VectorStore } from '../vector-store';

/**
 * The behaviours every VectorStore adapter must share. `makeStore(dimension)` returns a new, not yet
 * initialised store on storage no other run sees (a fresh file, a fresh collection); `reopen(dimension)`
 * a second store on that same storage (a restart, or another replica); `cleanup` removes the storage.
 */
export interface VectorStoreUnderTest {
  store: VectorStore;
  reopen(dimension: number): VectorStore;
  cleanup(): Promise<void>;
}

const DIM = 8;
const TIMEOUT_MS = 30_000;

/** A unit basis vector with a little of `j`, so similarities are known in advance. */
function axis(i: number, tilt = 0, j = (i + 1) % DIM): number[] {
  const v = new Array<number>(DIM).fill(0);
  v[i] = 1;
  v[j] = (v[j] ?? 0) + tilt;
  return v;
}

function point(tenantId: string, docId: string, docVersion: number, chunkIndex: number, vector: number[], extra: Partial<ChunkPayload> = {}): VectorPoint {
  return {
    id: `chunk_${tenantId}_${docId}_${docVersion}_${chunkIndex}`,
    vector,
    payload: { tenantId, docId, docVersion, chunkIndex, title: `${docId} title`, text: `${docId} v${docVersion} #${chunkIndex}`, uri: `kb://${docId}`, ...extra },
  };
}

const cosine = (a: number[], b: number[]): number => {
  const dot = a.reduce((s, x, i) => s + x * b[i]!, 0);
  return dot / (Math.hypot(...a) * Math.hypot(...b));
};

/** A deterministic pseudo-random vector (the suite must not depend on luck). */
function pseudoRandom(seed: number): number[] {
  let s = seed * 2654435761 >>> 0;
  return Array.from({ length: DIM }, () => {
    s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

export function runVectorStoreConformance(name: string, makeStore: (dimension: number) => Promise<VectorStoreUnderTest>): void {
  describe(`VectorStore conformance: ${name}`, () => {
    let made: VectorStoreUnderTest | undefined;
    let store: VectorStore;
    let tenant: string;
    let other: string;

    beforeAll(async () => {
      made = await makeStore(DIM);
      store = made.store;
      await store.ensureCollection(DIM);
    }, TIMEOUT_MS);

    afterAll(async () => {
      await made?.cleanup();
    }, TIMEOUT_MS);

    // Every test works in tenants of its own, so tests never see each other's points.
    beforeEach(() => {
      const id = randomUUID().slice(0, 8);
      tenant = `t-${id}`;
      other = `o-${id}`;
    });

    it('creates the collection once: ensureCollection again (and from another instance) keeps what is stored', async () => {
      await store.upsert([point(tenant, 'd', 1, 0, axis(0))]);
      await store.ensureCollection(DIM);
      const again = made!.reopen(DIM);
      await again.ensureCollection(DIM);
      expect(await again.count(tenant)).toBe(1);
      expect((await again.search(axis(0), { tenantId: tenant, topK: 1 }))[0]?.id).toBe(`chunk_${tenant}_d_1_0`);
    }, TIMEOUT_MS);

    it('refuses to open the collection with another dimension, as a configuration error', async () => {
      await expect(made!.reopen(DIM + 1).ensureCollection(DIM + 1)).rejects.toMatchObject({ code: ErrorCode.ConfigInvalid, retryable: false });
    }, TIMEOUT_MS);

    it('knows nothing of a tenant that has no chunks', async () => {
      expect(await store.count(tenant)).toBe(0);
      expect(await store.search(axis(0), { tenantId: tenant, topK: 5 })).toEqual([]);
      expect(await store.documentVersion(tenant, 'missing')).toBeUndefined();
    }, TIMEOUT_MS);

    it('ranks by cosine similarity, best first, and returns chunk ids and payloads as upserted', async () => {
      const exact = point(tenant, 'a', 1, 0, axis(2));
      const near = point(tenant, 'b', 1, 0, axis(2, 0.5), { uri: undefined });
      const far = point(tenant, 'c', 1, 3, axis(5));
      await store.upsert([far, near, exact]);
      const hits = await store.search(axis(2), { tenantId: tenant, topK: 3 });
      expect(hits.map((h) => h.id)).toEqual([exact.id, near.id, far.id]);
      expect(hits[0]!.score).toBeCloseTo(1, 5);
      expect(hits[1]!.score).toBeCloseTo(cosine(axis(2), axis(2, 0.5)), 5);
      expect(hits[2]!.score).toBeCloseTo(0, 5);
      expect(hits[0]!.payload).toEqual(exact.payload);
      expect(hits[1]!.payload).toEqual({ tenantId: tenant, docId: 'b', docVersion: 1, chunkIndex: 0, title: 'b title', text: 'b v1 #0' });
      expect(hits[2]!.payload.chunkIndex).toBe(3);
    }, TIMEOUT_MS);

    it('scores are cosine: independent of the vectors\' lengths', async () => {
      await store.upsert([point(tenant, 'long', 1, 0, axis(1, 1).map((x) => x * 7))]);
      const [hit] = await store.search(axis(1, 1).map((x) => x * 0.25), { tenantId: tenant, topK: 1 });
      expect(hit!.score).toBeCloseTo(1, 5);
    }, TIMEOUT_MS);

    it('returns exactly the topK most similar of many, in order', async () => {
      const points = Array.from({ length: 150 }, (_, i) => point(tenant, `r${i}`, 1, 0, pseudoRandom(i + 1)));
      await store.upsert(points);
      const q = pseudoRandom(9999);
      const expected = points.map((p) => ({ id: p.id, score: cosine(q, p.vector) })).sort((a, b) => b.score - a.score);
      for (const topK of [1, 7, 20]) {
        const hits = await store.search(q, { tenantId: tenant, topK });
        expect(hits.map((h) => h.id)).toEqual(expected.slice(0, topK).map((e) => e.id));
        hits.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.score, 4));
      }
    }, TIMEOUT_MS);

    it('applies minScore, and without it returns even dissimilar chunks', async () => {
      await store.upsert([point(tenant, 'same', 1, 0, axis(3)), point(tenant, 'half', 1, 0, axis(3, 1)), point(tenant, 'opposite', 1, 0, axis(3).map((x) => -x))]);
      const thresholded = await store.search(axis(3), { tenantId: tenant, topK: 10, minScore: 0.5 });
      expect(thresholded.map((h) => h.payload.docId)).toEqual(['same', 'half']);
      const all = await store.search(axis(3), { tenantId: tenant, topK: 10 });
      expect(all.map((h) => h.payload.docId)).toEqual(['same', 'half', 'opposite']);
      expect(all[2]!.score).toBeCloseTo(-1, 5);
    }, TIMEOUT_MS);

    it('never returns or counts another tenant\'s chunks, even identical ones', async () => {
      await store.upsert([point(tenant, 'shared-id', 1, 0, axis(4)), point(other, 'shared-id', 1, 0, axis(4)), point(other, 'x', 1, 0, axis(4))]);
      const hits = await store.search(axis(4), { tenantId: tenant, topK: 10 });
      expect(hits.map((h) => h.payload.tenantId)).toEqual([tenant]);
      expect(await store.count(tenant)).toBe(1);
      expect(await store.count(other)).toBe(2);
    }, TIMEOUT_MS);

    it('replaces a point upserted again under the same id (vector and payload), without duplicating it', async () => {
      const p = point(tenant, 'd', 1, 0, axis(0));
      await store.upsert([p]);
      await store.upsert([{ ...p, vector: axis(6), payload: { ...p.payload, text: 'rewritten' } }]);
      expect(await store.count(tenant)).toBe(1);
      const [hit] = await store.search(axis(6), { tenantId: tenant, topK: 5 });
      expect(hit).toMatchObject({ id: p.id, payload: { text: 'rewritten' } });
      expect(hit!.score).toBeCloseTo(1, 5);
    }, TIMEOUT_MS);

    it('a search after a write sees the write', async () => {
      await store.upsert([point(tenant, 'first', 1, 0, axis(0))]);
      expect(await store.search(axis(7), { tenantId: tenant, topK: 5, minScore: 0.5 })).toEqual([]);
      await store.upsert([point(tenant, 'second', 1, 0, axis(7))]);
      expect((await store.search(axis(7), { tenantId: tenant, topK: 5, minScore: 0.5 })).map((h) => h.payload.docId)).toEqual(['second']);
      await store.deleteDocument(tenant, 'second');
      expect(await store.search(axis(7), { tenantId: tenant, topK: 5, minScore: 0.5 })).toEqual([]);
    }, TIMEOUT_MS);

    it('reports the highest stored version of a document, per tenant', async () => {
      await store.upsert([point(tenant, 'doc', 1, 0, axis(0)), point(tenant, 'doc', 1, 1, axis(1)), point(tenant, 'doc', 3, 0, axis(2)), point(other, 'doc', 7, 0, axis(0))]);
      expect(await store.documentVersion(tenant, 'doc')).toBe(3);
      expect(await store.documentVersion(other, 'doc')).toBe(7);
      expect(await store.documentVersion(tenant, 'other-doc')).toBeUndefined();
    }, TIMEOUT_MS);

    it('deletes a document\'s other versions only: not the kept version, other documents, or other tenants', async () => {
      await store.upsert([
        point(tenant, 'doc', 1, 0, axis(0)), point(tenant, 'doc', 1, 1, axis(0)), point(tenant, 'doc', 2, 0, axis(0)), point(tenant, 'doc', 3, 0, axis(0)),
        point(tenant, 'keep-me', 1, 0, axis(0)), point(other, 'doc', 1, 0, axis(0)),
      ]);
      await store.deleteDocument(tenant, 'doc', 2);
      const left = await store.search(axis(0), { tenantId: tenant, topK: 10 });
      expect(left.map((h) => `${h.payload.docId}@${h.payload.docVersion}`).sort()).toEqual(['doc@2', 'keep-me@1']);
      expect(await store.documentVersion(tenant, 'doc')).toBe(2);
      expect(await store.count(other)).toBe(1);
      await store.deleteDocument(tenant, 'doc');
      expect(await store.documentVersion(tenant, 'doc')).toBeUndefined();
      expect(await store.count(tenant)).toBe(1);
    }, TIMEOUT_MS);

    it('stores a large batch whole', async () => {
      await store.upsert(Array.from({ length: 300 }, (_, i) => point(tenant, 'big', 1, i, pseudoRandom(i + 500))));
      expect(await store.count(tenant)).toBe(300);
    }, TIMEOUT_MS);

    it('keeps what was written for the next instance on the same storage (a restart)', async () => {
      await store.upsert([point(tenant, 'durable', 4, 0, axis(5))]);
      const restarted = made!.reopen(DIM);
      await restarted.ensureCollection(DIM);
      expect(await restarted.documentVersion(tenant, 'durable')).toBe(4);
      expect((await restarted.search(axis(5), { tenantId: tenant, topK: 1 }))[0]?.payload.docId).toBe('durable');
    }, TIMEOUT_MS);

    it('refuses vectors of the wrong dimension without writing anything, and says retrying cannot help', async () => {
      const bad = [point(tenant, 'ok', 1, 0, axis(0)), point(tenant, 'bad', 1, 0, [1, 2, 3])];
      await expect(store.upsert(bad)).rejects.toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false });
      expect(await store.count(tenant)).toBe(0);
      await expect(store.search([1, 2, 3], { tenantId: tenant, topK: 1 })).rejects.toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false });
    }, TIMEOUT_MS);
  });
}
