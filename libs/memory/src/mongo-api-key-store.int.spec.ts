import { MongoApiKeyStore } from './mongo-api-key-store';
import { runApiKeyStoreConformance } from './testing/api-key-store-conformance';
import { MongoTestDatabases } from './testing/mongo-test-db';

/* The conformance suite against the real FerretDB of scripts/infra.sh, each replica its own connection. */
const databases = new MongoTestDatabases();

beforeAll(() => databases.require());

runApiKeyStoreConformance('MongoDB (FerretDB via mongoose)', async (count) => {
  const url = databases.freshDatabase('flotilla_api_keys');
  return { stores: Array.from({ length: count }, () => new MongoApiKeyStore(url)), cleanup: () => databases.dropDatabase(url) };
});
