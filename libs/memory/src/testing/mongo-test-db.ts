import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
// test/support is the repo's shared test harness, not an Nx project, so it has no package entry point.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { assertReachable, requireInfra } from '../../../../test/support/infra';

/**
 * The real MongoDB-compatible server (FerretDB) of scripts/infra.sh, for the int specs: each call
 * of `freshDatabase` names a database of its own (MONGO_URL's path replaced by a random name) and
 * `dropDatabase` removes it. Without MONGO_URL, or with the server unreachable, the suites FAIL —
 * they never skip.
 */
export class MongoTestDatabases {
  private mongoUrl = '';

  /** For beforeAll: fails the suite when the server is missing. */
  async require(): Promise<void> {
    this.mongoUrl = requireInfra().mongoUrl;
    await assertReachable(this.mongoUrl, 'MongoDB (FerretDB)');
  }

  freshDatabase(prefix: string): string {
    if (!this.mongoUrl) throw new Error('MONGO_URL is not set: run `bash scripts/infra.sh up && eval "$(bash scripts/infra.sh env)"` (this suite does not skip)');
    const u = new URL(this.mongoUrl);
    u.pathname = `/${prefix}_${randomUUID().slice(0, 8)}`;
    return u.toString();
  }

  async withConnection<T>(url: string, use: (connection: mongoose.Connection) => Promise<T>): Promise<T> {
    const connection = await mongoose.createConnection(url, { serverSelectionTimeoutMS: 5_000 }).asPromise();
    try {
      return await use(connection);
    } finally {
      await connection.close();
    }
  }

  async dropDatabase(url: string): Promise<void> {
    await this.withConnection(url, (c) => c.dropDatabase());
  }
}
