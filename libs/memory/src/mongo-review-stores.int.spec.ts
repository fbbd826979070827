import { MongoAuditLog } from './mongo-audit-log';
import { MongoDeadLetterStore } from './mongo-dead-letter-store';
import { runReviewStoresConformance } from './testing/review-stores-conformance';
import { MongoTestDatabases } from './testing/mongo-test-db';

/*
 * The conformance suite against the real FerretDB of scripts/infra.sh: each replica is its own
 * instance with its own mongoose connection, on one fresh database; tampering goes straight to the
 * collection, as someone with database access would.
 */
const databases = new MongoTestDatabases();

beforeAll(() => databases.require());

runReviewStoresConformance('MongoDB (FerretDB via mongoose)', async (count) => {
  const url = databases.freshDatabase('flotilla_review');
  const audit = (use: (c: import('mongoose').Collection) => Promise<unknown>): Promise<void> =>
    databases.withConnection(url, async (c) => {
      await use(c.collection('audit_log'));
    });
  return {
    deadLetters: Array.from({ length: count }, () => new MongoDeadLetterStore(url)),
    audits: Array.from({ length: count }, () => new MongoAuditLog(url)),
    tamper: (seq, field, value) => audit((c) => c.updateOne({ _id: seq as never }, { $set: { [field]: value } })),
    remove: (seq) => audit((c) => c.deleteOne({ _id: seq as never })),
    cleanup: () => databases.dropDatabase(url),
  };
});
