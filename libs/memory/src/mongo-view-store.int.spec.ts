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

describe('MongoWorkflowViewStore on FerretDB: views and heads are caches of the stored documents', () => {
  // FerretDB applies an update as read, change, write back: of two members racing on one document,
  // one update can be lost; and a crash between an insert and the view's update leaves the view
  // without events whose redelivered inserts are refused. A load must still return every stored event.
  const url = (): string => withDatabase(mongoUrl, `flotilla_heads_${randomUUID().slice(0, 8)}`);
  let store: MongoWorkflowViewStore;
  let raw: mongoose.Connection;

  beforeAll(async () => {
    const u = url();
    store = new MongoWorkflowViewStore(u);
    await store.init();
    raw = await mongoose.createConnection(u, { serverSelectionTimeoutMS: 5_000 }).asPromise();
  });

  afterAll(async () => {
    await store?.close();
    await raw?.dropDatabase();
    await raw?.close();
  });

  it('reads events and tokens a view or head lacks', async () => {
    const wf = `wf_${randomUUID().replace(/-/g, '')}`;
    const at = '2026-01-01T00:00:00.000Z';
    const events = Array.from({ length: 5 }, (_, sequence) => ({ workflowId: wf, tenantId: 'tenant-a', sequence, type: 'StepCompleted', version: 1, id: `evt_${sequence}`, data: { sequence }, occurredAt: at }));
    const tokens = Array.from({ length: 4 }, (_, seq) => ({ workflowId: wf, tenantId: 'tenant-a', taskId: 'task_a', seq, text: `t${seq}`, occurredAt: at }));
    await store.appendEvents(events);
    await store.appendStreamTokens(tokens);
    // The view lost positions 1 and 3 (a lost update) and 4 with its `last` (a crash before writing it).
    await raw.collection('workflow_views').updateOne({ _id: wf as never }, { $set: { last: 2 }, $unset: { 'events.s1': '', 'events.s3': '', 'events.s4': '' } });
    await raw.collection('workflow_stream_heads').updateOne({ _id: wf as never }, { $set: { 'tasks.task_a': 0 } });

    expect((await store.load(wf, 'tenant-a'))?.events).toEqual(events);
    expect(await store.loadStreamTokens(wf, 'tenant-a')).toEqual(tokens);
    expect(await store.load(wf, 'tenant-b')).toBeNull();
  });

  it('reads a workflow whose view was never written (a crash between the inserts and the view)', async () => {
    const wf = `wf_${randomUUID().replace(/-/g, '')}`;
    const events = Array.from({ length: 3 }, (_, sequence) => ({ workflowId: wf, tenantId: 'tenant-a', sequence, type: 'StepCompleted', version: 1, id: `evt_${sequence}`, data: { sequence }, occurredAt: '2026-01-01T00:00:00.000Z' }));
    await store.appendEvents(events);
    await raw.collection('workflow_views').deleteOne({ _id: wf as never });
    await store.appendEvents(events);

    expect((await store.load(wf, 'tenant-a'))?.events).toEqual(events);
    expect(await store.load(wf, 'tenant-b')).toBeNull();
  });
});
