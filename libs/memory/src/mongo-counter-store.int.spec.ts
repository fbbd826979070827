import { MongoCounterStore } from './mongo-counter-store';
import { runCounterStoreConformance } from './testing/counter-store-conformance';
import { MongoTestDatabases } from './testing/mongo-test-db';

/*
 * The conformance suite against the real FerretDB of scripts/infra.sh: the replicas are separate
 * MongoCounterStore instances, each with its own mongoose connection, on one fresh database.
 */
const databases = new MongoTestDatabases();

beforeAll(() => databases.require());

runCounterStoreConformance('MongoDB (FerretDB via mongoose)', async (count, options) => {
  const url = databases.freshDatabase('flotilla_counters');
  return {
    stores: Array.from({ length: count }, () => new MongoCounterStore(url, options)),
    cleanup: () => databases.dropDatabase(url),
  };
});
