import { randomUUID } from 'node:crypto';
import { StoredEvent, StoredStreamToken, WorkflowViewStore } from '../workflow-view-store';

/**
 * The behaviours every WorkflowViewStore adapter must share: the read model behind
 * `GET /v1/workflows/:id`, projected from the log at least once. `makeStore` returns a new, not yet
 * initialised store on storage no other store sees (a fresh file, a fresh database); `cleanup`
 * removes that storage once the store is closed.
 */
export interface ViewStoreUnderTest {
  store: WorkflowViewStore;
  cleanup(): Promise<void>;
}

const TIMEOUT_MS = 30_000;

function event(workflowId: string, sequence: number, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    workflowId,
    tenantId: 'tenant-a',
    sequence,
    type: sequence === 0 ? 'WorkflowStarted' : 'StepCompleted',
    version: 1,
    id: `evt_${workflowId}_${sequence}`,
    data: { n: sequence, nested: { list: [1, 'two', { three: true }], empty: {} } },
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, sequence)).toISOString(),
    ...overrides,
  };
}

function token(workflowId: string, taskId: string, seq: number, overrides: Partial<StoredStreamToken> = {}): StoredStreamToken {
  return { workflowId, tenantId: 'tenant-a', taskId, seq, text: `t${seq} `, occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 1, seq)).toISOString(), ...overrides };
}

export function runViewStoreConformance(name: string, makeStore: () => Promise<ViewStoreUnderTest>): void {
  describe(`WorkflowViewStore conformance: ${name}`, () => {
    let made: ViewStoreUnderTest;
    let store: WorkflowViewStore;
    let wf: string;

    beforeAll(async () => {
      made = await makeStore();
      store = made.store;
      await store.init();
    }, TIMEOUT_MS);

    afterAll(async () => {
      if (!made) return;
      await made.store.close();
      await made.cleanup();
    }, TIMEOUT_MS);

    // Every test works on its own workflow id, so tests never see each other's rows.
    beforeEach(() => {
      wf = `wf_${randomUUID().replace(/-/g, '')}`;
    });

    it('is healthy once initialised', () => {
      expect(store.healthy()).toBe(true);
    });

    it('returns null for a workflow it has never heard of', async () => {
      expect(await store.load(wf, 'tenant-a')).toBeNull();
    });

    it('stores an event once however often it is appended (idempotent by workflowId and sequence)', async () => {
      const e = event(wf, 0);
      await store.appendEvent(e);
      await store.appendEvent(e);
      // A replay that carries a different copy of the same position does not overwrite the first.
      await store.appendEvent({ ...e, id: 'evt_replayed', data: { replayed: true } });

      const loaded = await store.load(wf, 'tenant-a');
      expect(loaded?.events).toEqual([e]);
    }, TIMEOUT_MS);

    it('keeps one copy, and fails no writer, when the same event is appended concurrently', async () => {
      // Two projector members briefly own the same partition during a rebalance.
      const e = event(wf, 0);
      await Promise.all(Array.from({ length: 8 }, () => store.appendEvent(e)));
      expect((await store.load(wf, 'tenant-a'))?.events).toEqual([e]);
    }, TIMEOUT_MS);

    it('returns events in sequence order whatever order they were appended in, with their data intact', async () => {
      const events = [0, 1, 2, 3, 4, 10].map((s) => event(wf, s));
      for (const i of [3, 0, 10, 1, 4, 2]) await store.appendEvent(events.find((e) => e.sequence === i)!);

      const loaded = await store.load(wf, 'tenant-a');
      expect(loaded?.events.map((e) => e.sequence)).toEqual([0, 1, 2, 3, 4, 10]);
      expect(loaded?.events).toEqual(events);
      expect(loaded?.accepted).toBeUndefined();
    }, TIMEOUT_MS);

    describe('bulk appends (a projector batch)', () => {
      it('stores a batch of many workflows, each read back in sequence order with its data intact', async () => {
        const other = `${wf}_other`;
        // Interleaved as a partition carries them, and out of order within one workflow.
        const batch = [event(wf, 0), event(other, 0), event(wf, 2), event(other, 1), event(wf, 1)];
        await store.appendEvents(batch);

        expect((await store.load(wf, 'tenant-a'))?.events).toEqual([event(wf, 0), event(wf, 1), event(wf, 2)]);
        expect((await store.load(other, 'tenant-a'))?.events).toEqual([event(other, 0), event(other, 1)]);
      }, TIMEOUT_MS);

      it('writes a redelivered or overlapping batch once: the first copy of each position wins', async () => {
        const first = [0, 1, 2].map((s) => event(wf, s));
        await store.appendEvents(first);
        // Redelivered whole (a crash before the commit), then overlapping with new events, and with
        // a different copy of a stored position that must not overwrite it.
        await store.appendEvents(first);
        await store.appendEvents([{ ...event(wf, 2), id: 'evt_replayed', data: { replayed: true } }, event(wf, 3), event(wf, 4)]);

        expect((await store.load(wf, 'tenant-a'))?.events).toEqual([0, 1, 2, 3, 4].map((s) => event(wf, s)));
      }, TIMEOUT_MS);

      it('takes the same position twice in one batch, keeping the first', async () => {
        await store.appendEvents([event(wf, 0), { ...event(wf, 0), id: 'evt_second_copy' }, event(wf, 1)]);
        expect((await store.load(wf, 'tenant-a'))?.events).toEqual([event(wf, 0), event(wf, 1)]);
      }, TIMEOUT_MS);

      it('fails no writer when two members write overlapping batches at once (a rebalance)', async () => {
        const events = Array.from({ length: 50 }, (_, s) => event(wf, s));
        await Promise.all([store.appendEvents(events), store.appendEvents(events.slice(10)), store.appendEvents(events.slice(0, 30)), store.appendEvent(events[20]!)]);
        expect((await store.load(wf, 'tenant-a'))?.events).toEqual(events);
      }, TIMEOUT_MS);

      it('mixes with single appends, and an empty batch is a no-op', async () => {
        await store.appendEvent(event(wf, 1));
        await store.appendEvents([]);
        await store.appendEvents([event(wf, 0), event(wf, 1)]);
        expect((await store.load(wf, 'tenant-a'))?.events).toEqual([event(wf, 0), event(wf, 1)]);
      }, TIMEOUT_MS);

      it('keeps a batch of 1,000 events of 100 workflows', async () => {
        const ids = Array.from({ length: 100 }, (_, i) => `${wf}_${i}`);
        const batch = ids.flatMap((id) => Array.from({ length: 10 }, (_, s) => event(id, s)));
        await store.appendEvents(batch);
        for (const id of [ids[0]!, ids[57]!, ids[99]!]) expect((await store.load(id, 'tenant-a'))?.events).toEqual(Array.from({ length: 10 }, (_, s) => event(id, s)));
      }, TIMEOUT_MS);
    });

    it('does not mix the events of different workflows', async () => {
      const other = `${wf}_other`;
      await store.appendEvent(event(wf, 0));
      await store.appendEvent(event(other, 0));
      await store.appendEvent(event(other, 1));

      expect((await store.load(wf, 'tenant-a'))?.events.map((e) => e.workflowId)).toEqual([wf]);
      expect((await store.load(other, 'tenant-a'))?.events.map((e) => e.workflowId)).toEqual([other, other]);
    }, TIMEOUT_MS);

    it('hides a workflow from every other tenant', async () => {
      await store.recordAccepted({ workflowId: wf, tenantId: 'tenant-a', requestId: 'req-1', question: 'Where is order 1001?', acceptedAt: '2026-01-01T00:00:00.000Z' });
      await store.appendEvent(event(wf, 0));

      expect(await store.load(wf, 'tenant-b')).toBeNull();
      expect(await store.load(wf, '')).toBeNull();
      expect(await store.load(wf, 'tenant-a')).not.toBeNull();
    }, TIMEOUT_MS);

    it('shows an accepted request before its first event exists', async () => {
      const accepted = { workflowId: wf, tenantId: 'tenant-a', requestId: 'req-1', question: 'Where is order 1001?', acceptedAt: '2026-01-01T00:00:00.000Z' };
      await store.recordAccepted(accepted);

      expect(await store.load(wf, 'tenant-a')).toEqual({
        accepted: { requestId: 'req-1', question: 'Where is order 1001?', acceptedAt: '2026-01-01T00:00:00.000Z' },
        events: [],
      });

      await store.appendEvent(event(wf, 0));
      const loaded = await store.load(wf, 'tenant-a');
      expect(loaded?.accepted?.requestId).toBe('req-1');
      expect(loaded?.events).toHaveLength(1);
    }, TIMEOUT_MS);

    it('records an accepted request once: a resubmission does not overwrite it', async () => {
      const accepted = { workflowId: wf, tenantId: 'tenant-a', requestId: 'req-1', question: 'first', acceptedAt: '2026-01-01T00:00:00.000Z' };
      await store.recordAccepted(accepted);
      await store.recordAccepted(accepted);
      await store.recordAccepted({ ...accepted, question: 'second', acceptedAt: '2026-01-02T00:00:00.000Z' });

      expect((await store.load(wf, 'tenant-a'))?.accepted).toEqual({ requestId: 'req-1', question: 'first', acceptedAt: '2026-01-01T00:00:00.000Z' });
    }, TIMEOUT_MS);

    it('fails no caller when the same request is accepted twice at once (a double submit)', async () => {
      const accepted = { workflowId: wf, tenantId: 'tenant-a', requestId: 'req-1', question: 'once', acceptedAt: '2026-01-01T00:00:00.000Z' };
      await Promise.all(Array.from({ length: 8 }, () => store.recordAccepted(accepted)));
      expect((await store.load(wf, 'tenant-a'))?.accepted).toEqual({ requestId: 'req-1', question: 'once', acceptedAt: '2026-01-01T00:00:00.000Z' });
    }, TIMEOUT_MS);
    describe('streamed answer tokens', () => {
      const sorted = (ts: StoredStreamToken[]): StoredStreamToken[] => [...ts].sort((a, b) => a.taskId.localeCompare(b.taskId) || a.seq - b.seq);

      it('keeps every token of every compose attempt, with its text intact (an empty piece included)', async () => {
        const tokens = [token(wf, 'task_a', 0), token(wf, 'task_a', 1, { text: '' }), token(wf, 'task_a', 2, { text: ' ünïcode — "quoted"\n' }), token(wf, 'task_b', 0)];
        for (const t of [tokens[2]!, tokens[0]!, tokens[3]!, tokens[1]!]) await store.appendStreamToken(t);
        expect(sorted(await store.loadStreamTokens(wf, 'tenant-a'))).toEqual(tokens);
      }, TIMEOUT_MS);

      it('stores a token once, the first copy winning, however often and concurrently it is appended', async () => {
        const t = token(wf, 'task_a', 0);
        await Promise.all(Array.from({ length: 8 }, () => store.appendStreamToken(t)));
        await store.appendStreamToken({ ...t, text: 'a redelivered, different copy' });
        expect(await store.loadStreamTokens(wf, 'tenant-a')).toEqual([t]);
      }, TIMEOUT_MS);

      it('keeps a batch of tokens once, however often it is redelivered, the first copy of each winning', async () => {
        const tokens = [token(wf, 'task_a', 0), token(wf, 'task_a', 1), token(wf, 'task_b', 0)];
        await store.appendStreamTokens(tokens);
        await store.appendStreamTokens([{ ...tokens[1]!, text: 'a different copy' }, ...tokens, token(wf, 'task_b', 1)]);
        await store.appendStreamTokens([]);
        expect(sorted(await store.loadStreamTokens(wf, 'tenant-a'))).toEqual(sorted([...tokens, token(wf, 'task_b', 1)]));
      }, TIMEOUT_MS);

      it('keeps the tokens of attempts whose ids hold dots, dollars and percent signs apart', async () => {
        const tokens = [token(wf, 'task.a', 0), token(wf, 'task.a', 1), token(wf, '$task%2E', 0), token(wf, 'task%2Ea', 0)];
        await store.appendStreamTokens(tokens);
        expect(sorted(await store.loadStreamTokens(wf, 'tenant-a'))).toEqual(sorted(tokens));
      }, TIMEOUT_MS);

      it('reads back many tokens of many attempts written in several batches', async () => {
        const tokens = ['task_a', 'task_b', 'task_c'].flatMap((task) => Array.from({ length: 120 }, (_, seq) => token(wf, task, seq)));
        for (let from = 0; from < tokens.length; from += 50) await store.appendStreamTokens(tokens.slice(from, from + 50));
        expect(sorted(await store.loadStreamTokens(wf, 'tenant-a'))).toEqual(tokens);
      }, TIMEOUT_MS);

      it('hides tokens from every other tenant and never mixes workflows', async () => {
        await store.appendStreamToken(token(wf, 'task_a', 0));
        await store.appendStreamToken(token(`${wf}_other`, 'task_a', 0));
        expect(await store.loadStreamTokens(wf, 'tenant-b')).toEqual([]);
        expect((await store.loadStreamTokens(wf, 'tenant-a')).map((t) => t.workflowId)).toEqual([wf]);
      }, TIMEOUT_MS);

      it('purges the tokens streamed before the cut-off and keeps the newer ones', async () => {
        const old = token(wf, 'task_a', 0, { occurredAt: '2020-01-01T00:00:00.000Z' });
        const recent = token(wf, 'task_a', 1, { occurredAt: new Date().toISOString() });
        await store.appendStreamToken(old);
        await store.appendStreamToken(recent);
        expect(await store.purgeStreamTokens(new Date('2021-01-01T00:00:00.000Z'))).toBeGreaterThanOrEqual(1);
        expect(await store.loadStreamTokens(wf, 'tenant-a')).toEqual([recent]);
      }, TIMEOUT_MS);
    });
  });
}
