/**
 * Time for a coordinator to rebuild its workflow states after `kill -9`, with snapshots off and on,
 * side by side on one log (docs/adr/0010):
 *   npm run build && npm run bench:build
 *   eval "$(bash scripts/infra.sh env)"
 *   node tmp/bench/bench/rebuild.js [inflight=1000] [finished=10000] [rounds=3] [modes=distributed,embedded]
 *
 * The log: `finished` workflows that ran to the end and `inflight` workflows waiting on their
 * tasks, their events decided by the real decider (`@flotilla/workflow` decide) and appended the way
 * the coordinator appends them (same key, headers and envelopes, in transactions of up to 500
 * messages on Kafka — commit markers included). Writing the log directly keeps the set-up to seconds
 * on a loaded machine; the rebuild reads it exactly as it reads one the coordinator wrote.
 *
 * Distributed: a coordinator process (apps/coordinator) on the real Kafka + FerretDB under a fresh
 * KAFKA_NAMESPACE and MongoDB database. Embedded: apps/flotilla on a fresh SQLite file (the log is
 * written while it is down: one process owns the embedded log). The process boots once with
 * snapshots on, replays the log and snapshots it; it is killed with SIGKILL, the last 10 % of the
 * in-flight workflows are appended (the work since the last snapshot), and it is restarted
 * `rounds` times with WORKFLOW_SNAPSHOT_EVERY_EVENTS=0 (replay the whole log) and with snapshots on,
 * alternately. Reported per restart: process start → `workflow state rebuilt from the event log`
 * (and the coordinator's own `ms`: tail start + catch-up), process start → /readyz 200, and the
 * events replayed.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { closeEmbeddedDbs } from '@flotilla/embedded-db';
import { connectBus, EmbeddedMessageBus, KafkaMessageBus, MessageBus } from '@flotilla/messaging';
import { requireInfra } from '../test/support/infra';
import { freePort } from '../test/support/system';
import { writeLog } from './workflow-log';

type Mode = 'distributed' | 'embedded';
const HOUR = '3600000';

function findRoot(dir: string): string {
  for (let d = dir; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, 'nx.json'))) return d;
  throw new Error(`no nx.json above ${dir}`);
}
const ROOT = findRoot(__dirname);


interface LogLine { msg?: string; time?: string; [k: string]: unknown }

/** One service process, started and killed by the bench; its JSON log lines kept. */
class Proc {
  child?: ChildProcess;
  lines: LogLine[] = [];
  private partial = '';
  constructor(private readonly entry: string, readonly env: Record<string, string>, private readonly port: number) {}

  async start(): Promise<{ startedAt: number; readyMs: number }> {
    this.lines = [];
    this.partial = '';
    const startedAt = Date.now();
    const child = spawn(process.execPath, [join(ROOT, this.entry)], { cwd: ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (chunk: Buffer): void => {
      const text = this.partial + chunk.toString();
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const l of parts) {
        if (!l.startsWith('{')) continue;
        try {
          this.lines.push(JSON.parse(l) as LogLine);
        } catch {
          // not a log line
        }
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    for (;;) {
      if (child.exitCode !== null) {
        const errors = this.lines.filter((l) => l['level'] === 'error').slice(-5);
        throw new Error(`${this.entry} exited with ${child.exitCode}: ${JSON.stringify(errors.length ? errors : this.lines.slice(-5))}`);
      }
      try {
        if ((await fetch(`http://127.0.0.1:${this.port}/readyz`)).status === 200) return { startedAt, readyMs: Date.now() - startedAt };
      } catch {
        // not listening yet
      }
      if (Date.now() - startedAt > 300_000) throw new Error(`${this.entry} not ready after 300 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async waitLine(match: (l: LogLine) => boolean, what: string, timeoutMs = 300_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.filter(match).at(-1);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no "${what}" in the log of ${this.entry}: ${JSON.stringify(this.lines.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** kill -9: no shutdown hooks, no final snapshot. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await exited;
  }
}

interface Round {
  mode: Mode;
  snapshots: 'off' | 'on';
  startToRebuiltMs: number;
  rebuildMs: number;
  startToReadyMs: number;
  eventsApplied: number;
  workflows: number;
  running: number;
  from: string;
}

const REBUILT = 'workflow state rebuilt from the event log';

async function restart(proc: Proc, mode: Mode, snapshots: 'off' | 'on', everyEvents: string): Promise<Round> {
  await proc.kill();
  proc.env['WORKFLOW_SNAPSHOT_EVERY_EVENTS'] = snapshots === 'off' ? '0' : everyEvents;
  // No new snapshot during the rounds: each restart with snapshots replays the same stretch of log.
  proc.env['WORKFLOW_SNAPSHOT_INTERVAL_MS'] = HOUR;
  const { startedAt, readyMs } = await proc.start();
  const rebuilt = await proc.waitLine((l) => l.msg === REBUILT, REBUILT);
  if (process.env['BENCH_DUMP']) for (const l of proc.lines) if (l.msg !== undefined && Date.parse(l.time ?? '') <= Date.parse(rebuilt.time!)) console.error(`  ${l.time} ${l.msg} ${JSON.stringify({ ...l, time: undefined, msg: undefined, level: undefined }).slice(0, 300)}`);
  const loaded = proc.lines.find((l) => l.msg === 'workflow snapshot loaded; replaying the log after it');
  const fromLog = proc.lines.find((l) => l.msg === 'rebuilding workflow states from the beginning of the log');
  return {
    mode, snapshots,
    startToRebuiltMs: Date.parse(rebuilt.time!) - startedAt,
    rebuildMs: Number(rebuilt['ms']),
    startToReadyMs: readyMs,
    eventsApplied: Number(rebuilt['eventsApplied']),
    workflows: Number(rebuilt['workflows']),
    running: Number(rebuilt['running']),
    from: loaded ? `snapshot (load ${String(loaded['ms'])} ms)` : fromLog ? `log (${String(fromLog['reason'])})` : 'log (snapshots off)',
  };
}

async function run(mode: Mode, inflight: number, finished: number, rounds: number): Promise<{ rounds: Round[]; events: number }> {
  const everyEvents = '5000';
  const dataDir = mkdtempSync(join(tmpdir(), `flotilla-rebuild-${mode}-`));
  const port = await freePort();
  const common: Record<string, string> = {
    LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: String(port), FLOTILLA_DATA_DIR: dataDir,
    WORKFLOW_SNAPSHOT_EVERY_EVENTS: everyEvents, WORKFLOW_SNAPSHOT_INTERVAL_MS: '2000',
    STEP_TIMEOUTS_MS: `plan=${HOUR},compose=${HOUR},retrieve=${HOUR},tool=${HOUR},validate=${HOUR}`, WORKFLOW_DEADLINE_MS: HOUR,
  };
  let proc: Proc;
  let writer: MessageBus;
  if (mode === 'distributed') {
    const infra = requireInfra();
    const namespace = `bench-rebuild-${randomBytes(4).toString('hex')}.`;
    const mongo = new URL(infra.mongoUrl);
    mongo.pathname = `/flotilla_${namespace.slice(0, -1).replace(/[^A-Za-z0-9_]/g, '_')}`;
    writer = new KafkaMessageBus({ brokers: infra.kafkaBrokers.split(','), clientId: 'bench-rebuild-writer', namespace });
    proc = new Proc('apps/coordinator/dist/main.js', {
      ...common, FLOTILLA_MODE: 'distributed', KAFKA_BROKERS: infra.kafkaBrokers, KAFKA_NAMESPACE: namespace, KAFKA_CLIENT_ID: 'flotilla-bench', MONGO_URL: mongo.toString(),
    }, port);
    console.error(`[${mode}] namespace ${namespace}, database ${mongo.pathname.slice(1)}`);
  } else {
    writer = new EmbeddedMessageBus(join(dataDir, 'flotilla.db'));
    proc = new Proc('apps/flotilla/dist/main.js', { ...common, FLOTILLA_MODE: 'embedded', SAMPLE_BUSINESS_PORT: String(await freePort()) }, port);
  }
  const out: Round[] = [];
  try {
    // 90 % of the in-flight workflows start before the last snapshot, 10 % after it (a kill -9
    // always loses the work since the last snapshot, which the restart replays from the log).
    const before = finished + Math.round(inflight * 0.9);
    const w0 = Date.now();
    await connectBus(writer);
    let events = await writeLog(writer, 0, before, finished);
    if (mode === 'embedded') {
      await writer.disconnect();
      closeEmbeddedDbs(); // the flotilla process owns the embedded log while it runs
    }
    console.error(`[${mode}] wrote ${events} events (${finished} finished + ${before - finished} in-flight workflows) in ${Date.now() - w0} ms`);

    // First boot: a full replay, snapshotted as it goes and once it has caught up.
    await proc.start();
    const first = await proc.waitLine((l) => l.msg === REBUILT, REBUILT);
    await proc.waitLine((l) => l.msg === 'workflow snapshot saved' && Number(l['running']) >= before - finished, 'a snapshot of every workflow in flight');
    console.error(`[${mode}] first boot: ${JSON.stringify({ ms: first['ms'], eventsApplied: first['eventsApplied'], running: first['running'] })}; snapshot saved`);
    await proc.kill();
    if (mode === 'embedded') await connectBus(writer);
    const after = await writeLog(writer, before, finished + inflight, finished);
    await writer.disconnect();
    if (mode === 'embedded') closeEmbeddedDbs();
    events += after;
    console.error(`[${mode}] killed; wrote ${after} more events (${finished + inflight - before} more in-flight workflows) after the snapshot`);

    for (let r = 0; r < rounds; r++) {
      for (const snapshots of ['off', 'on'] as const) {
        const round = await restart(proc, mode, snapshots, everyEvents);
        console.error(`[${mode}] ${JSON.stringify(round)}`);
        out.push(round);
      }
    }
    return { rounds: out, events };
  } finally {
    await proc.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function main(): Promise<void> {
  process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
  const inflight = Number(process.argv[2] ?? 1000);
  const finished = Number(process.argv[3] ?? 10_000);
  const rounds = Number(process.argv[4] ?? 3);
  const modes = (process.argv[5] ?? 'distributed,embedded').split(',') as Mode[];
  const rows: Record<string, unknown>[] = [];
  const all: Round[] = [];
  for (const mode of modes) {
    const { rounds: rs, events } = await run(mode, inflight, finished, rounds);
    all.push(...rs);
    for (const snapshots of ['off', 'on'] as const) {
      const mine = rs.filter((r) => r.snapshots === snapshots);
      rows.push({
        mode, snapshots, 'log events': events,
        'start→rebuilt ms': median(mine.map((r) => r.startToRebuiltMs)),
        'rebuild ms': median(mine.map((r) => r.rebuildMs)),
        'start→ready ms': median(mine.map((r) => r.startToReadyMs)),
        'events replayed': median(mine.map((r) => r.eventsApplied)),
        workflows: median(mine.map((r) => r.workflows)),
        running: median(mine.map((r) => r.running)),
        from: mine[0]?.from ?? '',
      });
    }
  }
  console.log(`\nCoordinator rebuild after kill -9: ${inflight} workflows in flight, ${finished} finished before them; median of ${rounds} restarts each\n`);
  console.table(rows);
  console.log(JSON.stringify({ inflight, finished, rounds, all }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
