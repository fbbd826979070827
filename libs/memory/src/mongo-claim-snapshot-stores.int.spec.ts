import { MongoClaimCheckStore } from './mongo-claim-check-store';
import { MongoSnapshotStore } from './mongo-snapshot-store';
import { runClaimSnapshotConformance } from './testing/claim-snapshot-conformance';
import { MongoTestDatabases } from './testing/mongo-test-db';

/*
 * The conformance suite against the real FerretDB of scripts/infra.sh: each replica is its own
 * store with its own mongoose connection, on one fresh database; damage goes straight to the
 * collections, as a bad disk or a half-written copy would.
 */
const databases = new MongoTestDatabases();

beforeAll(() => databases.require());

const flipFirstByte = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b[0]! ^ 0xff]), b.subarray(1)]);
const bytesOf = (data: unknown): Buffer => (Buffer.isBuffer(data) ? data : Buffer.from((data as { buffer: Uint8Array }).buffer));

runClaimSnapshotConformance('MongoDB (FerretDB via mongoose)', async (count) => {
  const url = databases.freshDatabase('flotilla_claims');
  const clock = { now: new Date('2026-11-21T10:00:00.000Z') };
  return {
    claims: Array.from({ length: count }, () => new MongoClaimCheckStore(url, () => clock.now)),
    snapshots: Array.from({ length: count }, () => new MongoSnapshotStore(url)),
    clock,
    damageClaim: (id) => databases.withConnection(url, async (c) => {
      const chunk = await c.collection('claim_checks').findOne({ _id: `${id}#0` as never });
      await c.collection('claim_checks').updateOne({ _id: `${id}#0` as never }, { $set: { data: flipFirstByte(bytesOf(chunk!['data'])) } });
    }),
    damageNewestSnapshot: (stream) => databases.withConnection(url, async (c) => {
      const [header] = await c.collection('snapshots').find({ stream }).sort({ takenAt: -1, _id: -1 }).limit(1).toArray();
      const chunkId = `${String(header!._id)}#0`;
      const chunk = await c.collection('snapshot_chunks').findOne({ _id: chunkId as never });
      await c.collection('snapshot_chunks').updateOne({ _id: chunkId as never }, { $set: { data: flipFirstByte(bytesOf(chunk!['data'])) } });
    }),
    cleanup: () => databases.dropDatabase(url),
  };
});
