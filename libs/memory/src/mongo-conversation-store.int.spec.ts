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
