import type { Turn } from './conversation-store';
import { MongoConversationStore } from './mongo-conversation-store';
import { runConversationStoreConformance } from './testing/conversation-store-conformance';
import { MongoTestDatabases } from './testing/mongo-test-db';

/* The conformance suite against the real FerretDB of scripts/infra.sh, a fresh database per store. */
const databases = new MongoTestDatabases();

beforeAll(() => databases.require());

runConversationStoreConformance('MongoDB (FerretDB via mongoose)', async (options) => {
  const url = databases.freshDatabase('flotilla_memory');
  return {
    store: new MongoConversationStore(url, options),
    storedTurns: (tenantId, sessionId) => databases.withConnection(url, (c) => c.collection('memory_turns').countDocuments({ tenantId, sessionId })),
    cleanup: () => databases.dropDatabase(url),
  };
});

/*
 * Reads go by `_id` through the session's hints (ADR 0014); hints may lag — a lost `$max` on
 * FerretDB, a crash in between — and nothing may be missed for it.
 */
describe('MongoConversationStore: hints that lag', () => {
  const T0 = Date.UTC(2026, 0, 1, 9, 0, 0);
  let url = '';
  let store: MongoConversationStore;
  const turn = (sessionId: string, i: number, tokens = 10): Turn => ({
    tenantId: 'tenant-a', sessionId, turnId: `t-${String(i).padStart(3, '0')}`, role: i % 2 ? 'user' : 'assistant', text: `message ${i}`, tokens, at: new Date(T0 + i * 1000).toISOString(),
  });
  const sessionKey = (sessionId: string): string => JSON.stringify(['tenant-a', sessionId]);

  beforeAll(async () => {
    url = databases.freshDatabase('flotilla_memory_hints');
    store = new MongoConversationStore(url, { compressAboveTokens: 100, retainTokens: 50 });
    await store.init();
  });

  afterAll(async () => {
    await store?.close();
    await databases.dropDatabase(url);
  });

  it('finds every turn and the latest summary when the session\'s hints are lost', async () => {
    for (let i = 1; i <= 14; i++) await store.appendTurn(turn('s-lost', i));
    const before = await store.recentContext('tenant-a', 's-lost', { maxTokens: 1000 });
    expect(before.summary).toBeDefined();
    await databases.withConnection(url, (c) => c.collection('memory_sessions').updateOne({ _id: sessionKey('s-lost') as never }, { $unset: { last: '', low: '', rev: '' } }));
    expect(await store.recentContext('tenant-a', 's-lost', { maxTokens: 1000 })).toEqual(before);
    // And appending goes on from the true end of the log, not from the lost hint.
    await store.appendTurn(turn('s-lost', 15));
    expect((await store.recentContext('tenant-a', 's-lost', { maxTokens: 1000 })).turns.at(-1)?.turnId).toBe('t-015');
  });

  it('logs a turn whose first append stopped between storing it and taking its slot, when it is delivered again', async () => {
    await store.appendTurn(turn('s-crash', 1));
    // As if the process died right after inserting turn 2: the turn is stored, no slot points at it.
    await databases.withConnection(url, (c) => c.collection('memory_turns').insertOne({
      _id: JSON.stringify(['tenant-a', 's-crash', 't-002']) as never, sessionKey: sessionKey('s-crash'), ...turn('s-crash', 2),
    }));
    expect((await store.recentContext('tenant-a', 's-crash', { maxTokens: 1000 })).turns.map((t) => t.turnId)).toEqual(['t-001']);
    await store.appendTurn(turn('s-crash', 2));
    expect((await store.recentContext('tenant-a', 's-crash', { maxTokens: 1000 })).turns.map((t) => t.turnId)).toEqual(['t-001', 't-002']);
  });
});
