import { createHash, randomUUID } from 'node:crypto';
import { DeadLetterRecordedV1 } from '@flotilla/contracts';
import { AUDIT_GENESIS_HASH, AuditLog, canonicalJson } from '../audit-log';
import { DeadLetterResolution, DeadLetterStore } from '../dead-letter-store';

/**
 * The behaviours every DeadLetterStore and AuditLog adapter must share. `make(count)` returns
 * `count` independent instances (as separate replicas hold them) over one fresh storage;
 * `tamper`/`remove` change the stored audit chain behind the adapter's back, as an attacker with
 * database access would.
 */
export interface ReviewStoresUnderTest {
  deadLetters: DeadLetterStore[];
  audits: AuditLog[];
  tamper(seq: number, field: 'actor' | 'details', value: string): Promise<void>;
  remove(seq: number): Promise<void>;
  cleanup(): Promise<void>;
}

const TIMEOUT_MS = 60_000;
const REPLICAS = 3;

function dead(offset: number, recordedAt: string, headers: Record<string, string> = {}): DeadLetterRecordedV1 {
  return {
    sourceTopic: 'flotilla.intake.v1', partition: 0, offset: String(offset), key: `k${offset}`, headers, payload: `{"bad":${offset}}`, payloadEncoding: 'utf8',
    reason: 'requestId: must match', errorCode: 'INVALID_MESSAGE', attempts: 1, consumerGroup: 'flotilla-coordinator', recordedAt,
  };
}

const by = (status: DeadLetterResolution['status'], actor = 'ops@example.com', reason?: string): DeadLetterResolution => ({ status, actor, at: new Date().toISOString(), ...(reason ? { reason } : {}) });

export function runReviewStoresConformance(name: string, make: (count: number) => Promise<ReviewStoresUnderTest>): void {
  describe(`DeadLetterStore and AuditLog conformance: ${name}`, () => {
    let made: ReviewStoresUnderTest;
    let store: DeadLetterStore;
    let audit: AuditLog;
    // Ids unique per test so tests share the storage without seeing each other's records.
    let run: string;
    const id = (n: number): string => `dlq_${run}_${n}`;

    beforeAll(async () => {
      made = await make(REPLICAS);
      for (const s of [...made.deadLetters, ...made.audits]) await s.init();
      store = made.deadLetters[0]!;
      audit = made.audits[0]!;
    }, TIMEOUT_MS);

    afterAll(async () => {
      if (!made) return;
      for (const s of [...made.deadLetters, ...made.audits]) await s.close();
      await made.cleanup();
    }, TIMEOUT_MS);

    beforeEach(() => {
      run = randomUUID().slice(0, 8);
    });

    describe('dead-letter inbox', () => {
      it('records each dead letter once, open, with its full data; recording it again changes nothing', async () => {
        const data = dead(1, '2026-01-01T00:00:00.000Z', { 'flotilla-tenant': `t-${run}`, 'x.odd$name': 'v' });
        await store.record({ id: id(1), tenantId: `t-${run}`, data });
        await store.record({ id: id(1), tenantId: `t-${run}`, data: { ...data, reason: 'changed' } });
        const got = await store.get(id(1), [`t-${run}`]);
        expect(got).toEqual({ id: id(1), tenantId: `t-${run}`, status: 'open', data });
        expect(await store.list({ tenantIds: [`t-${run}`], limit: 50 })).toHaveLength(1);
      }, TIMEOUT_MS);

      it('shows a tenant only its own records', async () => {
        await store.record({ id: id(1), tenantId: `a-${run}`, data: dead(1, '2026-01-01T00:00:00.000Z') });
        await store.record({ id: id(2), tenantId: '', data: dead(2, '2026-01-01T00:00:01.000Z') });
        expect(await store.get(id(1), [`b-${run}`])).toBeNull();
        expect(await store.get(id(2), [`a-${run}`])).toBeNull();
        expect(await store.get(id(2), [`b-${run}`, ''])).not.toBeNull();
        expect((await store.list({ tenantIds: [`b-${run}`], limit: 50 }))).toEqual([]);
        expect((await store.list({ tenantIds: [`a-${run}`], limit: 50 })).map((e) => e.id)).toEqual([id(1)]);
        expect(await store.resolve(id(1), [`b-${run}`], by('discarded'))).toEqual({ outcome: 'not-found' });
      }, TIMEOUT_MS);

      it('lists newest first, filters by status and honours the limit', async () => {
        const t = `t-${run}`;
        for (const n of [1, 2, 3, 4]) await store.record({ id: id(n), tenantId: t, data: dead(n, `2026-01-0${n}T00:00:00.000Z`) });
        expect((await store.list({ tenantIds: [t], limit: 50 })).map((e) => e.id)).toEqual([id(4), id(3), id(2), id(1)]);
        expect((await store.list({ tenantIds: [t], limit: 2 })).map((e) => e.id)).toEqual([id(4), id(3)]);
        await store.resolve(id(3), [t], by('replayed'));
        expect((await store.list({ tenantIds: [t], status: 'open', limit: 50 })).map((e) => e.id)).toEqual([id(4), id(2), id(1)]);
        expect((await store.list({ tenantIds: [t], status: 'replayed', limit: 50 })).map((e) => e.id)).toEqual([id(3)]);
      }, TIMEOUT_MS);

      it('resolves an open record once: a second action finds it not open, an unknown id is not found, replaying the topic does not reopen it', async () => {
        const t = `t-${run}`;
        const data = dead(1, '2026-01-01T00:00:00.000Z');
        await store.record({ id: id(1), tenantId: t, data });
        const resolution = by('discarded', 'alice', 'duplicate of an earlier order');
        const first = await store.resolve(id(1), [t], resolution);
        expect(first).toEqual({ outcome: 'resolved', entry: { id: id(1), tenantId: t, status: 'discarded', data, resolution } });
        const second = await store.resolve(id(1), [t], by('replayed', 'bob'));
        expect(second.outcome).toBe('not-open');
        expect(second.outcome === 'not-open' && second.entry.resolution).toEqual(resolution);
        expect(await store.resolve(id(99), [t], by('replayed'))).toEqual({ outcome: 'not-found' });
        await store.record({ id: id(1), tenantId: t, data });
        expect((await store.get(id(1), [t]))!.status).toBe('discarded');
      }, TIMEOUT_MS);

      it('lets exactly one of several racing replicas resolve a record', async () => {
        const t = `t-${run}`;
        await store.record({ id: id(1), tenantId: t, data: dead(1, '2026-01-01T00:00:00.000Z') });
        const outcomes = await Promise.all(made.deadLetters.flatMap((s, i) => [s.resolve(id(1), [t], by('replayed', `r${i}a`)), s.resolve(id(1), [t], by('retried', `r${i}b`))]));
        expect(outcomes.filter((o) => o.outcome === 'resolved')).toHaveLength(1);
        expect(outcomes.filter((o) => o.outcome === 'not-open')).toHaveLength(outcomes.length - 1);
      }, TIMEOUT_MS);

      it('reopens a record whose action could not be carried out, so it can be acted on again', async () => {
        const t = `t-${run}`;
        await store.record({ id: id(1), tenantId: t, data: dead(1, '2026-01-01T00:00:00.000Z') });
        const resolution = by('replayed');
        await store.resolve(id(1), [t], resolution);
        await store.reopen(id(1), resolution);
        expect((await store.get(id(1), [t]))!.status).toBe('open');
        expect((await store.list({ tenantIds: [t], status: 'open', limit: 5 })).map((e) => e.id)).toEqual([id(1)]);
        expect((await store.resolve(id(1), [t], by('discarded'))).outcome).toBe('resolved');
      }, TIMEOUT_MS);
    });

    // One chain per storage: these tests run in order and build on each other's records.
    describe('audit log', () => {
      it('verifies an empty chain', async () => {
        expect(await audit.verify()).toEqual({ ok: true, records: 0 });
      }, TIMEOUT_MS);

      it('appends records chained by sha256(prevHash + canonical JSON of the record without its hash)', async () => {
        const a = await audit.append({ tenantId: 'public', actor: 'alice', action: 'dlq.replayed', subject: 'dlq_x', details: { z: 1, a: { y: [1, 'two'], b: null } } });
        const b = await audit.append({ tenantId: '', actor: 'anonymous', action: 'workflow.submitted', subject: 'wf_1', details: {} });
        expect(a.seq).toBe(1);
        expect(a.prevHash).toBe(AUDIT_GENESIS_HASH);
        expect(b).toMatchObject({ seq: 2, prevHash: a.hash, actor: 'anonymous', action: 'workflow.submitted', subject: 'wf_1' });
        const { hash, ...rest } = a;
        expect(hash).toBe(createHash('sha256').update(a.prevHash + canonicalJson(rest)).digest('hex'));
        expect(new Date(a.at).toISOString()).toBe(a.at);
        expect((await audit.list({ subject: 'dlq_x', limit: 10 }))).toEqual([a]);
        expect(await audit.verify()).toEqual({ ok: true, records: 2 });
      }, TIMEOUT_MS);

      it('keeps one gapless chain when replicas append concurrently', async () => {
        const before = (await audit.verify()).records;
        // Many appends at once per replica: they are grouped into batches that race the other replicas.
        const PER = 40;
        const appended = await Promise.all(made.audits.flatMap((log, r) => Array.from({ length: PER }, (_, i) => log.append({ tenantId: 't', actor: `replica-${r}`, action: 'test.appended', subject: `s${i}`, details: { i } }))));
        const result = await audit.verify();
        expect(result).toEqual({ ok: true, records: before + REPLICAS * PER });
        const stored = (await audit.list({ limit: 5000 })).reverse();
        expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: before + REPLICAS * PER }, (_, i) => i + 1));
        // Every append was told the record it really became, and no two were told the same one.
        expect(new Set(appended.map((r) => r.seq)).size).toBe(appended.length);
        for (const r of appended) expect(stored[r.seq - 1]).toEqual(r);
      }, TIMEOUT_MS);

      it('chains on the real head when another replica appended since this one last did', async () => {
        const [a, b] = made.audits;
        if (!a || !b) throw new Error('the conformance suite needs two audit replicas');
        const first = await a.append({ tenantId: 't', actor: 'replica-a', action: 'test.appended', subject: 'x', details: { n: 1 } });
        const other = await b.append({ tenantId: 't', actor: 'replica-b', action: 'test.appended', subject: 'x', details: { n: 2 } });
        const again = await a.append({ tenantId: 't', actor: 'replica-a', action: 'test.appended', subject: 'x', details: { n: 3 } });
        expect([other.seq, again.seq]).toEqual([first.seq + 1, first.seq + 2]);
        expect(again.prevHash).toBe(other.hash);
        expect((await audit.verify()).ok).toBe(true);
      }, TIMEOUT_MS);

      it('points at the first record changed or removed behind its back', async () => {
        const total = (await audit.verify()).records;
        expect(total).toBeGreaterThan(5);
        await made.tamper(5, 'details', '{"i":999}');
        expect(await audit.verify()).toMatchObject({ ok: false, firstBadSeq: 5, records: 5 });
        await made.tamper(3, 'actor', 'mallory');
        expect(await audit.verify()).toMatchObject({ ok: false, firstBadSeq: 3, records: 3 });
        await made.remove(3);
        expect(await audit.verify()).toMatchObject({ ok: false, firstBadSeq: 4, records: 3 });
      }, TIMEOUT_MS);
    });
  });
}
