import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
// test/support is the repo's shared test harness, not an Nx project, so it has no package entry point.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { assertReachable, requireInfra } from '../../../test/support/infra';
import { MongoWorkflowViewStore } from './mongo-view-store';
import { runViewStoreConformance } from './testing/view-store-conformance';

/*
 * The conformance suite against the real MongoDB-compatible server (FerretDB) of scripts/infra.sh,
 * in a database of its own (the path of MONGO_URL is replaced by a random name) that is dropped
 * afterwards. Without MONGO_URL, or with the server unreachable, every test FAILS — it never skips.
 */
let mongoUrl = '';

beforeAll(async () => {
  mongoUrl = requireInfra().mongoUrl;
  await assertReachable(mongoUrl, 'MongoDB (FerretDB)');
});

/** MONGO_URL with its database replaced, keeping host, credentials and query options. */
function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

runViewStoreConformance('MongoDB (FerretDB via mongoose)', async () => {
  if (!mongoUrl) throw new Error('MONGO_URL is not set: run `bash scripts/infra.sh up && eval "$(bash scripts/infra.sh env)"` (this suite does not skip)');
  const url = withDatabase(mongoUrl, `flotilla_views_${randomUUID().slice(0, 8)}`);
  return {
    store: new MongoWorkflowViewStore(url),
    cleanup: async () => {
      const connection = await mongoose.createConnection(url, { serverSelectionTimeoutMS: 5_000 }).asPromise();
      try {
        await connection.dropDatabase();
      } finally {
        await connection.close();
      }
    },
  };
});
