/**
 * How long the gateway's workflow-view projector takes to catch up with a backlog of workflow
 * events, the old per-event path and the batched one side by side on the same log:
 *   npm run build && npm run bench:build
 *   eval "$(bash scripts/infra.sh env)"
 *   node tmp/bench/bench/projector-catchup.js [workflows=1800] [modes=ferretdb,sqlite] [timeoutS=600]
 *
 * The log: `workflows` workflows driven through the real decider (~11 events each, so 1,800 make
 * about 20,000 events), appended as the coordinator appends them (bench/workflow-log.ts). Each path
 * then projects the whole log from the beginning, under a consumer group of its own, into a read
 * model of its own, with the projector's settings (6 partitions at once):
 * - per-event: `consume()` with one `appendEvent` per event — the projector before batching;
 * - batched: `consumeBatches()` with the projector's own `projectWorkflowEvents` (one bulk write
 *   per batch of up to 500 events of a partition).
 * Caught up = the group's committed offsets reach the log's end offsets (what `GET /v1/workflows/:id`
 * reports as `projection.state: current`); a sample of workflows is then read back and checked.
 *
 * ferretdb: Kafka + FerretDB (the distributed adapters) under a fresh namespace and databases.
 * sqlite: the embedded log and read model in one SQLite file, as in embedded mode (each path on its
 * own copy of the written file).
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_TOPICS, Topics } from '@flotilla/contracts';
import { closeEmbeddedDbs } from '@flotilla/embedded-db';
import {
  ConversationStore, MongoConversationStore, MongoWorkflowViewStore, SqliteConversationStore, SqliteWorkflowViewStore, toStoredEvent, WorkflowViewStore,
} from '@flotilla/memory';
import { connectBus, consume, consumeBatches, EmbeddedMessageBus, KafkaMessageBus, MessageBus, on, onBatch, Subscription } from '@flotilla/messaging';
import { projectWorkflowEvents } from '@flotilla/service-gateway';
import { workflowIdFor } from '@flotilla/workflow';
import { requireInfra } from '../test/support/infra';
import { writeLog } from './workflow-log';

type Mode = 'ferretdb' | 'sqlite';
type Path = 'per-event' | 'batched';

interface Target {
  bus: MessageBus;
  store: WorkflowViewStore;
  conversations: ConversationStore;
  close(): Promise<void>;
}

interface Result {
  mode: Mode;
  path: Path;
  events: number;
  caughtUp: boolean;
  ms: number;
  committed: number;
  eventsPerSecond: number;
  sampleOk: string;
}

async function total(offsets: Promise<Map<number, bigint>>): Promise<number> {
  let n = 0;
  for (const v of (await offsets).values()) n += Number(v);
  return n;
}

/** Starts one path's projector on the log and times it until its committed offsets reach the end. */
async function project(mode: Mode, path: Path, target: Target, workflows: number, timeoutMs: number): Promise<Result> {
  const { bus, store, conversations } = target;
  const topic = Topics.workflowEvents.name;
  const group = `bench-projector-${path}-${randomBytes(3).toString('hex')}`;
  const end = await total(bus.endOffsets(topic));
  const started = Date.now();
  const sub: Subscription = path === 'per-event'
    ? await consume(bus, {
      groupId: group, fromBeginning: true, partitionsConcurrently: 6,
      handlers: [on(Topics.workflowEvents, async (event) => {
        const stored = toStoredEvent(event);
        if (stored) await store.appendEvent(stored);
      })],
    })
    : await consumeBatches(bus, {
      groupId: group, fromBeginning: true, partitionsConcurrently: 6,
      handlers: [onBatch(Topics.workflowEvents, (items) => projectWorkflowEvents(store, conversations, items.map((i) => i.message)))],
    });
  let committed = 0;
  let lastReport = started;
  try {
    await sub.ready;
    for (;;) {
      committed = await total(bus.committedOffsets(group, topic));
      if (committed >= end || Date.now() - started > timeoutMs) break;
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        console.error(`  [${mode}/${path}] ${committed}/${end} events after ${Math.round((Date.now() - started) / 1000)} s`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await sub.stop();
  }
  const ms = Date.now() - started;
  // Read back a sample: every workflow of it has its 11 events (finished workflows in bench/workflow-log.ts).
  const sample = [0, Math.floor(workflows / 3), Math.floor(workflows / 2), workflows - 1];
  const counts = await Promise.all(sample.map(async (n) => (await store.load(workflowIdFor('bench', `req-${n}`), 'bench'))?.events.length ?? 0));
  return {
    mode, path, events: end, caughtUp: committed >= end, ms, committed,
    eventsPerSecond: Math.round((committed / ms) * 1000), sampleOk: counts.join('/'),
  };
}

/** Connects one path's bus and stores, projects, and closes them again. */
async function measure(mode: Mode, path: Path, workflows: number, timeoutMs: number, target: Target): Promise<Result> {
  await connectBus(target.bus);
  await target.store.init();
  await target.conversations.init();
  try {
    const r = await project(mode, path, target, workflows, timeoutMs);
    console.error(`[${mode}] ${JSON.stringify(r)}`);
    return r;
  } finally {
    await target.store.close();
    await target.conversations.close();
    await target.bus.disconnect();
    await target.close();
  }
}

async function ferret(workflows: number, timeoutMs: number): Promise<Result[]> {
  const infra = requireInfra();
  const namespace = `bench-projector-${randomBytes(4).toString('hex')}.`;
  const dbUrl = (name: string): string => {
    const u = new URL(infra.mongoUrl);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const writer = new KafkaMessageBus({ brokers: infra.kafkaBrokers.split(','), clientId: 'bench-projector-writer', namespace });
  await connectBus(writer);
  await writer.ensureTopics(ALL_TOPICS);
  const w0 = Date.now();
  const events = await writeLog(writer, 0, workflows, workflows);
  await writer.disconnect();
  console.error(`[ferretdb] wrote ${events} events of ${workflows} workflows in ${Date.now() - w0} ms (namespace ${namespace})`);
  const out: Result[] = [];
  for (const path of ['per-event', 'batched'] as const) {
    const db = dbUrl(`flotilla_bench_projector_${namespace.slice(16, 24)}_${path.replace('-', '_')}`);
    out.push(await measure('ferretdb', path, workflows, timeoutMs, {
      bus: new KafkaMessageBus({ brokers: infra.kafkaBrokers.split(','), clientId: `bench-projector-${path}`, namespace }),
      store: new MongoWorkflowViewStore(db),
      conversations: new MongoConversationStore(db),
      close: async () => undefined,
    }));
  }
  return out;
}

async function sqlite(workflows: number, timeoutMs: number): Promise<Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-projector-bench-'));
  try {
    const base = join(dir, 'log.db');
    const writer = new EmbeddedMessageBus(base);
    await connectBus(writer);
    await writer.ensureTopics(ALL_TOPICS);
    const w0 = Date.now();
    const events = await writeLog(writer, 0, workflows, workflows);
    await writer.disconnect();
    closeEmbeddedDbs();
    console.error(`[sqlite] wrote ${events} events of ${workflows} workflows in ${Date.now() - w0} ms`);
    const out: Result[] = [];
    for (const path of ['per-event', 'batched'] as const) {
      // Log and read model in one file, as in embedded mode; each path on its own copy of the log.
      const file = join(dir, `${path}.db`);
      copyFileSync(base, file);
      out.push(await measure('sqlite', path, workflows, timeoutMs, {
        bus: new EmbeddedMessageBus(file),
        store: new SqliteWorkflowViewStore(file),
        conversations: new SqliteConversationStore(file),
        close: async () => closeEmbeddedDbs(),
      }));
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
  const workflows = Number(process.argv[2] ?? 1800);
  const modes = (process.argv[3] ?? 'ferretdb,sqlite').split(',') as Mode[];
  const timeoutMs = Number(process.argv[4] ?? 600) * 1000;
  const results: Result[] = [];
  for (const mode of modes) results.push(...(mode === 'ferretdb' ? await ferret(workflows, timeoutMs) : await sqlite(workflows, timeoutMs)));
  console.log(`\nProjector catch-up from a backlog: ${workflows} workflows, per-event vs batched on the same log\n`);
  console.table(results.map((r) => ({
    mode: r.mode, path: r.path, 'log events': r.events, 'caught up': r.caughtUp ? 'yes' : `no (timeout ${timeoutMs / 1000} s)`,
    'catch-up ms': r.ms, 'events committed': r.committed, 'events/s': r.eventsPerSecond, 'sample events/wf': r.sampleOk,
  })));
  console.log(JSON.stringify({ workflows, results }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
