import { randomUUID } from 'node:crypto';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { ConversationStore, ConversationStoreOptions, Summariser, Turn } from '../conversation-store';

/**
 * The behaviours every ConversationStore adapter must share. `makeStore(options)` returns a new,
 * not yet initialised store on storage no other store sees (a fresh file, a fresh database);
 * `storedTurns` counts the turn records the storage physically holds for a session (so "bounded"
 * is checked on disk, not through the store's own reads); `cleanup` removes the storage once the
 * store is closed.
 */
export interface ConversationStoreUnderTest {
  store: ConversationStore;
  storedTurns(tenantId: string, sessionId: string): Promise<number>;
  cleanup(): Promise<void>;
}

const TIMEOUT_MS = 60_000;
const T0 = Date.UTC(2026, 0, 1, 9, 0, 0);
const HOUR = 3_600_000;

export function runConversationStoreConformance(name: string, makeStore: (options: ConversationStoreOptions) => Promise<ConversationStoreUnderTest>): void {
  describe(`ConversationStore conformance: ${name}`, () => {
    let clock = T0;
    const now = (): Date => new Date(clock);
    const made: ConversationStoreUnderTest[] = [];
    let main: ConversationStoreUnderTest;
    let store: ConversationStore;
    let session: string;
    let seq = 0;

    /** A fresh store on its own storage, closed and removed after the suite. */
    async function freshStore(options: ConversationStoreOptions): Promise<ConversationStoreUnderTest> {
      const m = await makeStore({ now, ...options });
      made.push(m);
      await m.store.init();
      return m;
    }

    /** A turn of `session` in tenant-a, one second after the previous one unless `at` is given. */
    function turn(overrides: Partial<Turn> = {}): Turn {
      seq += 1;
      return {
        tenantId: 'tenant-a',
        sessionId: session,
        turnId: `turn-${String(seq).padStart(4, '0')}`,
        role: seq % 2 ? 'user' : 'assistant',
        text: `message ${seq}`,
        tokens: 10,
        at: new Date(T0 + seq * 1000).toISOString(),
        ...overrides,
      };
    }

    beforeAll(async () => {
      // Small budgets so compression shows within a few turns.
      main = await freshStore({ compressAboveTokens: 100, retainTokens: 50 });
      store = main.store;
    }, TIMEOUT_MS);

    afterAll(async () => {
      for (const m of made) {
        await m.store.close();
        await m.cleanup();
      }
    }, TIMEOUT_MS);

    beforeEach(() => {
      session = `s_${randomUUID().replace(/-/g, '')}`;
    });

    it('is healthy once initialised', () => {
      expect(store.healthy()).toBe(true);
    });

    it('knows nothing of a session it has never seen', async () => {
      expect(await store.recentContext('tenant-a', session, { maxTokens: 1000 })).toEqual({ turns: [] });
      expect(await store.getSession('tenant-a', session)).toBeNull();
    }, TIMEOUT_MS);

    it('gives back a turn exactly as appended, with its facts for follow-up questions', async () => {
      const t = turn({
        userId: 'user-1', workflowId: 'wf-1', at: '2026-01-01T10:00:00+01:00',
        facts: { intent: 'order_status', orderId: '1001', nested: { carriers: ['DHL', 'UPS'], express: false } },
      });
      await store.appendTurn(t);

      const { turns } = await store.recentContext('tenant-a', session, { maxTokens: 1000 });
      expect(turns).toEqual([{ ...t, at: '2026-01-01T09:00:00.000Z' }]);
    }, TIMEOUT_MS);

    it('stores a turn once however often it is appended (idempotent by turnId), even concurrently', async () => {
      const t = turn({ text: 'Where is order 1001?' });
      await store.appendTurn(t);
      await store.appendTurn(t);
      await Promise.all(Array.from({ length: 8 }, () => store.appendTurn(t)));
      // A redelivery carrying a different copy does not overwrite the first.
      await store.appendTurn({ ...t, text: 'rewritten', tokens: 3 });

      const { turns } = await store.recentContext('tenant-a', session, { maxTokens: 1000 });
      expect(turns.map((x) => [x.turnId, x.text])).toEqual([[t.turnId, 'Where is order 1001?']]);
      expect(await main.storedTurns('tenant-a', session)).toBe(1);
    }, TIMEOUT_MS);

    it('loses none of many different turns appended to one session at once, and orders them by time', async () => {
      const turns = Array.from({ length: 20 }, () => turn({ tokens: 1 }));
      await Promise.all([...turns].reverse().map((t) => store.appendTurn(t)));

      const context = await store.recentContext('tenant-a', session, { maxTokens: 1000 });
      expect(context.turns.map((t) => t.turnId)).toEqual(turns.map((t) => t.turnId));
    }, TIMEOUT_MS);

    it('returns the newest turns that fit the token budget, oldest first, never skipping one', async () => {
      const [t1, t2, t3, t4] = [turn({ tokens: 10 }), turn({ tokens: 20 }), turn({ tokens: 30 }), turn({ tokens: 40 })];
      for (const t of [t3, t1, t4, t2]) await store.appendTurn(t!);

      const ids = async (maxTokens: number): Promise<string[]> => (await store.recentContext('tenant-a', session, { maxTokens })).turns.map((t) => t.turnId);
      expect(await ids(1000)).toEqual([t1, t2, t3, t4].map((t) => t!.turnId));
      expect(await ids(70)).toEqual([t3!.turnId, t4!.turnId]);
      // t3 does not fit in 69; the older, smaller t2 and t1 would, but context is a contiguous tail.
      expect(await ids(69)).toEqual([t4!.turnId]);
      expect(await ids(39)).toEqual([]);
    }, TIMEOUT_MS);

    it('folds the oldest turns into a summary once the session passes its token budget, keeping their facts', async () => {
      const turns = Array.from({ length: 5 }, (_, i) => turn({ tokens: 25, text: `about order ${1000 + i}`, facts: { intent: 'order_status', orderId: String(1000 + i) } }));
      for (const t of turns.slice(0, 4)) await store.appendTurn(t);
      // 100 tokens is the budget, not past it: nothing folded yet.
      expect(await store.recentContext('tenant-a', session, { maxTokens: 1000 })).toEqual({ turns: turns.slice(0, 4) });

      await store.appendTurn(turns[4]!);
      const context = await store.recentContext('tenant-a', session, { maxTokens: 1000 });
      // 125 > 100: the oldest three go until 50 (retainTokens) remain.
      expect(context.turns.map((t) => t.turnId)).toEqual([turns[3]!.turnId, turns[4]!.turnId]);
      expect(context.summary).toBeDefined();
      for (const t of turns.slice(0, 3)) {
        expect(context.summary).toContain(`"orderId":"${t.facts!['orderId'] as string}"`);
        expect(context.summary).toContain(t.text);
      }
      expect(context.summary).not.toContain('about order 1003');
      expect(await main.storedTurns('tenant-a', session)).toBe(2);
    }, TIMEOUT_MS);

    it('keeps a long conversation bounded: few turns stored, a summary of bounded size', async () => {
      const long = 'x'.repeat(2000);
      for (let i = 0; i < 60; i += 1) {
        await store.appendTurn(turn({ tokens: 25, text: `${i} ${long}`, facts: { orderId: `ord-${i}` } }));
        // Never more than the budget's worth of turns (plus the one that tipped it over) on disk.
        expect(await main.storedTurns('tenant-a', session)).toBeLessThanOrEqual(5);
      }
      const context = await store.recentContext('tenant-a', session, { maxTokens: 1000 });
      expect(context.summary!.length).toBeLessThanOrEqual(4000);
      // Folds happen at turns 5, 8, … 59 (index 58), each leaving the newest two: 0-56 are folded,
      // the newest of them in the summary with its text shortened; 57-59 are still verbatim.
      expect(context.summary).toContain('"orderId":"ord-56"');
      expect(context.summary).not.toContain('"orderId":"ord-57"');
      expect(context.summary).not.toContain(long);
      expect(context.turns.map((t) => t.facts)).toEqual([{ orderId: 'ord-57' }, { orderId: 'ord-58' }, { orderId: 'ord-59' }]);
    }, TIMEOUT_MS);

    it('does not resurrect a folded turn when it is delivered again', async () => {
      const turns = Array.from({ length: 5 }, () => turn({ tokens: 25 }));
      for (const t of turns) await store.appendTurn(t);
      const before = await store.recentContext('tenant-a', session, { maxTokens: 1000 });

      await store.appendTurn(turns[0]!);
      expect(await store.recentContext('tenant-a', session, { maxTokens: 1000 })).toEqual(before);
      expect(await main.storedTurns('tenant-a', session)).toBe(2);
    }, TIMEOUT_MS);

    it('uses a plugged-in summariser, which may be asynchronous, and gives it the previous summary', async () => {
      const calls: { previous?: string; turnIds: string[] }[] = [];
      const summarise: Summariser = async ({ previous, turns }) => {
        calls.push({ previous, turnIds: turns.map((t) => t.turnId) });
        return `${previous ?? ''}[${turns.map((t) => t.turnId).join(',')}]`;
      };
      const custom = await freshStore({ compressAboveTokens: 30, retainTokens: 10, summarise });
      // Budget 30, retain 10, 10 tokens a turn: the 4th turn folds turns 1-3, the 7th folds 4-6.
      const turns = Array.from({ length: 7 }, () => turn({ tokens: 10 }));
      for (const t of turns) await custom.store.appendTurn(t);

      const ids = turns.map((t) => t.turnId);
      expect(calls).toEqual([{ previous: undefined, turnIds: ids.slice(0, 3) }, { previous: `[${ids.slice(0, 3).join(',')}]`, turnIds: ids.slice(3, 6) }]);
      expect(await custom.store.recentContext('tenant-a', session, { maxTokens: 1000 })).toEqual({
        summary: `[${ids.slice(0, 3).join(',')}][${ids.slice(3, 6).join(',')}]`,
        turns: [turns[6]],
      });
    }, TIMEOUT_MS);

    it('records when a session started and was last active, and who it belongs to', async () => {
      clock = T0 + HOUR;
      await store.appendTurn(turn());
      clock = T0 + 2 * HOUR;
      await store.appendTurn(turn({ userId: 'user-7' }));
      await store.appendTurn(turn({ userId: 'user-8' }));

      expect(await store.getSession('tenant-a', session)).toEqual({
        tenantId: 'tenant-a', sessionId: session, userId: 'user-7',
        createdAt: new Date(T0 + HOUR).toISOString(), lastActiveAt: new Date(T0 + 2 * HOUR).toISOString(),
      });
      clock = T0;
    }, TIMEOUT_MS);

    it('round-trips preferences per user, the last write of a name winning', async () => {
      await store.setPreference('tenant-a', 'user-p', 'language', 'de');
      await store.setPreference('tenant-a', 'user-p', 'preferredCarrier', 'DHL');
      await store.setPreference('tenant-a', 'user-p', 'contactChannel', 'email');
      await store.setPreference('tenant-a', 'user-p', 'maxWaitDays', 3);
      await store.setPreference('tenant-a', 'user-p', 'smsOptIn', false);
      await store.setPreference('tenant-a', 'user-p', 'language', 'fr');
      await Promise.all(Array.from({ length: 4 }, () => store.setPreference('tenant-a', 'user-q', 'language', 'it')));

      expect(await store.getPreferences('tenant-a', 'user-p')).toEqual({ language: 'fr', preferredCarrier: 'DHL', contactChannel: 'email', maxWaitDays: 3, smsOptIn: false });
      expect(await store.getPreferences('tenant-a', 'user-q')).toEqual({ language: 'it' });
      expect(await store.getPreferences('tenant-a', 'user-nobody')).toEqual({});
    }, TIMEOUT_MS);

    it('shows a session, its summary and preferences to no other tenant, and keeps tenants apart on write', async () => {
      const turns = Array.from({ length: 5 }, () => turn({ tokens: 25, userId: 'user-shared' }));
      for (const t of turns) await store.appendTurn(t);
      await store.setPreference('tenant-a', 'user-shared', 'language', 'de');
      const ownView = await store.recentContext('tenant-a', session, { maxTokens: 1000 });
      expect(ownView.summary).toBeDefined();

      for (const other of ['tenant-b', 'TENANT-A', 'tenant-a ']) {
        expect(await store.recentContext(other, session, { maxTokens: 1000 })).toEqual({ turns: [] });
        expect(await store.getSession(other, session)).toBeNull();
        expect(await store.getPreferences(other, 'user-shared')).toEqual({});
      }

      // The same session and turn ids under tenant-b are tenant-b's own: no collision, no leak.
      await store.appendTurn({ ...turns[4]!, tenantId: 'tenant-b', text: 'tenant-b speaking' });
      await store.setPreference('tenant-b', 'user-shared', 'language', 'en');
      expect((await store.recentContext('tenant-b', session, { maxTokens: 1000 })).turns.map((t) => t.text)).toEqual(['tenant-b speaking']);
      expect(await store.recentContext('tenant-a', session, { maxTokens: 1000 })).toEqual(ownView);
      expect(await store.getPreferences('tenant-a', 'user-shared')).toEqual({ language: 'de' });

      // Erasing the user in tenant-b leaves tenant-a's user of the same id alone.
      await store.forgetUser('tenant-b', 'user-shared');
      expect(await store.recentContext('tenant-a', session, { maxTokens: 1000 })).toEqual(ownView);
      expect(await store.getPreferences('tenant-a', 'user-shared')).toEqual({ language: 'de' });
    }, TIMEOUT_MS);

    it('purges sessions idle since before the cut-off, with their turns and summary, and nothing else', async () => {
      const isolated = await freshStore({ compressAboveTokens: 100, retainTokens: 50 });
      const s = isolated.store;
      const idle = `${session}_idle`;
      const active = `${session}_active`;
      clock = T0;
      for (let i = 0; i < 5; i += 1) await s.appendTurn(turn({ sessionId: idle, tokens: 25 }));
      expect((await s.recentContext('tenant-a', idle, { maxTokens: 1000 })).summary).toBeDefined();
      await s.appendTurn(turn({ sessionId: active, tenantId: 'tenant-b' }));
      clock = T0 + 2 * HOUR;
      // A new turn makes a session active again, whenever the turn itself was said.
      await s.appendTurn(turn({ sessionId: active, tenantId: 'tenant-b', at: new Date(T0).toISOString() }));

      expect(await s.purgeIdle(new Date(T0 + HOUR))).toBe(1);

      expect(await s.recentContext('tenant-a', idle, { maxTokens: 1000 })).toEqual({ turns: [] });
      expect(await s.getSession('tenant-a', idle)).toBeNull();
      expect(await isolated.storedTurns('tenant-a', idle)).toBe(0);
      expect((await s.recentContext('tenant-b', active, { maxTokens: 1000 })).turns).toHaveLength(2);
      expect(await s.purgeIdle(new Date(T0 + HOUR))).toBe(0);
      // A purged session starts afresh when its user comes back.
      await s.appendTurn(turn({ sessionId: idle, tokens: 25 }));
      expect((await s.recentContext('tenant-a', idle, { maxTokens: 1000 })).summary).toBeUndefined();
      clock = T0;
    }, TIMEOUT_MS);

    it('forgets a user: every session they own or spoke in, with summaries, and their preferences', async () => {
      const owned = `${session}_owned`;
      const claimed = `${session}_claimed`;
      const spokenIn = `${session}_spoken`;
      const others = `${session}_others`;
      for (let i = 0; i < 5; i += 1) await store.appendTurn(turn({ sessionId: owned, userId: 'user-f', tokens: 25 }));
      await store.appendTurn(turn({ sessionId: claimed }));
      await store.appendTurn(turn({ sessionId: claimed, userId: 'user-f' }));
      await store.appendTurn(turn({ sessionId: spokenIn, userId: 'user-g' }));
      await store.appendTurn(turn({ sessionId: spokenIn, userId: 'user-f' }));
      await store.appendTurn(turn({ sessionId: others, userId: 'user-g' }));
      await store.setPreference('tenant-a', 'user-f', 'language', 'de');
      await store.setPreference('tenant-a', 'user-g', 'language', 'pl');

      await store.forgetUser('tenant-a', 'user-f');

      for (const s of [owned, claimed, spokenIn]) {
        expect(await store.recentContext('tenant-a', s, { maxTokens: 1000 })).toEqual({ turns: [] });
        expect(await store.getSession('tenant-a', s)).toBeNull();
        expect(await main.storedTurns('tenant-a', s)).toBe(0);
      }
      expect(await store.getPreferences('tenant-a', 'user-f')).toEqual({});
      expect((await store.recentContext('tenant-a', others, { maxTokens: 1000 })).turns).toHaveLength(1);
      expect(await store.getPreferences('tenant-a', 'user-g')).toEqual({ language: 'pl' });
    }, TIMEOUT_MS);

    it('rejects an invalid turn or budget with a non-retryable validation error, storing nothing', async () => {
      const invalid: Turn[] = [
        turn({ tokens: -1 }), turn({ tokens: 1.5 }), turn({ at: 'yesterday' }), turn({ tenantId: '' }), turn({ turnId: '' }),
        turn({ role: 'system' as Turn['role'] }),
      ];
      for (const t of invalid) {
        const err = await store.appendTurn(t).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(FlotillaError);
        expect(err).toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false });
      }
      await expect(store.recentContext('tenant-a', session, { maxTokens: -1 })).rejects.toMatchObject({ code: ErrorCode.ValidationFailed });
      await expect(store.setPreference('tenant-a', 'user-1', 'language', Number.NaN)).rejects.toMatchObject({ code: ErrorCode.ValidationFailed });
      expect(await store.getSession('tenant-a', session)).toBeNull();
    }, TIMEOUT_MS);
  });
}
