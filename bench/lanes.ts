/**
 * Priority lanes under a batch backlog: the latency of chat questions (interactive lane) asked over
 * WebSocket at a steady rate, first on an idle system, then right after a backlog of batch requests
 * was published on the public intake topic — one run, side by side.
 *
 *   npm run build && npm run bench:build
 *   node tmp/bench/bench/lanes.js [embedded|distributed] [questions=200] [ratePerSecond=10] [backlog=10000] [priority=strict|shared] [batch-agents=shared|niced]
 *
 * Distributed mode needs the infrastructure (`eval "$(bash scripts/infra.sh env)"`); the backlog is
 * then published with kcat straight onto the public intake topic. Embedded mode has no outside
 * producer for its in-process log, so the backlog goes in through REST `POST /v1/workflows` (which
 * publishes the same SubmitRequest onto the gateway's batch intake topic, read by the same
 * coordinator group); gateway backpressure is switched off for the run so that all of it is
 * accepted. Prints one JSON line per phase and a summary. `strict` (the default configuration) holds
 * the batch lane while chat moves (docs/adr/0015); `shared` runs the earlier shared priority
 * (AGENT_BATCH_CONCURRENCY_WHILE_INTERACTIVE=1, COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE=500);
 * `niced` (distributed only) runs each agent's batch lane in a replica of its own under `nice -n 19`
 * (AGENT_LANES). README "Lanes and backpressure".
 */
import { ChatClient } from '../test/support/chat-client';
import { Mode, SystemUnderTest } from '../test/support/system';
import { publishBacklog } from './backlog';

const QUESTION = 'Where is my order 1001 and can I get delivery by tomorrow?';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface LaneFigures {
  lag: number;
  topics: { topic: string; groupId: string; lag: number }[];
}
interface Lanes {
  interactive: LaneFigures | null;
  batch: LaneFigures | null;
}

/** The gateway's lane figures, measured after now (it measures every BACKPRESSURE_POLL_MS). */
async function lanes(sut: SystemUnderTest): Promise<Lanes> {
  const since = Date.now();
  for (;;) {
    const r = await fetch(`${sut.gatewayUrl}/v1/lanes`);
    if (r.status !== 200) throw new Error(`GET /v1/lanes answered ${r.status}`);
    const body = (await r.json()) as Lanes & { measuredAt: string | null };
    if (body.measuredAt && Date.parse(body.measuredAt) >= since) return body;
    await new Promise((res) => setTimeout(res, 50));
  }
}
/** Batch requests not yet admitted by the coordinator: its batch group's lag over the batch intake topics. */
const intakeLag = (l: Lanes): number => (l.batch?.topics ?? []).filter((t) => t.groupId === 'flotilla-coordinator-batch').reduce((n, t) => n + t.lag, 0);

/** `count` chat questions sent open-loop at `rate` per second, each on an idle connection of a pool. */
async function chatPhase(sut: SystemUnderTest, count: number, rate: number): Promise<{ ms: number[]; timeline: string; errors: string[]; wallMs: number }> {
  const idle: ChatClient[] = [];
  const all: ChatClient[] = [];
  const ms: number[] = [];
  const bySecond: number[][] = [];
  const errors: string[] = [];
  const started = Date.now();
  const asks: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    let client = idle.pop();
    if (!client) {
      client = await ChatClient.connect(sut.wsUrl);
      all.push(client);
    }
    const c = client;
    asks.push(c.ask(QUESTION, { timeoutMs: 120_000 }).then((r) => {
      if (r.answer.type === 'answer') {
        ms.push(r.ms);
        (bySecond[Math.floor(i / rate / 5)] ??= []).push(r.ms);
      }
      else errors.push(String(r.answer['code']));
    }, (err: unknown) => void errors.push((err as Error).message.slice(0, 200))).finally(() => void idle.push(c)));
  }
  await Promise.all(asks);
  const wallMs = Date.now() - started;
  for (const c of all) c.close();
  // Where the slow answers were: the slowest answer of each 5 s of the phase (by when it was asked).
  const timeline = bySecond.map((w) => Math.max(...w)).join(' ');
  return { ms, timeline, errors, wallMs };
}

function summary(ms: number[]): { p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50Ms: pct(s, 50), p95Ms: pct(s, 95), p99Ms: pct(s, 99), maxMs: s.at(-1)! };
}

async function main(): Promise<void> {
  const mode = (process.argv[2] ?? 'embedded') as Mode;
  const questions = Number(process.argv[3] ?? 200);
  const rate = Number(process.argv[4] ?? 10);
  const backlog = Number(process.argv[5] ?? 10_000);
  const priority = process.argv[6] === 'shared' ? 'shared' : 'strict';
  const batchAgents = process.argv[7] === 'niced' ? 'niced' : 'shared';
  const shared: Record<string, string> = priority === 'shared' ? { AGENT_BATCH_CONCURRENCY_WHILE_INTERACTIVE: '1', COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE: '500' } : {};
  const sut = await SystemUnderTest.start(mode, { BACKPRESSURE_BATCH_LAG: '0', BACKPRESSURE_POLL_MS: '200', LOG_LEVEL: 'error', ...shared }, batchAgents === 'niced' ? { batchAgents: { nice: 19 } } : {});
  try {
    // Warm up at the phase's own rate for 15 s (JIT, connection pools, Kafka fetch sessions): the
    // first seconds of a fresh system are slower than any later ones, and would land in the idle phase.
    await chatPhase(sut, Math.max(10, Math.round(rate * 15)), rate);

    const idle = await chatPhase(sut, questions, rate);
    const idleFigures = { phase: 'without backlog', mode, priority, batchAgents, questions, ratePerSecond: rate, answered: idle.ms.length, errors: idle.errors.length, ...summary(idle.ms), wallMs: idle.wallMs, slowestPer5s: idle.timeline };
    console.log(JSON.stringify(idleFigures));

    // Let the coordinator see chat end first (it paces batch work while a chat input or finish is
    // under 5 s old, ADR 0016), so the lane-alone figure below is the lane's own throughput.
    await new Promise((r) => setTimeout(r, 6_000));
    const publishMs = await publishBacklog(sut, backlog);
    // The batch lane alone for a few seconds: its throughput when no chat holds it back.
    const alone0 = await lanes(sut);
    const aloneT0 = Date.now();
    await new Promise((r) => setTimeout(r, 5_000));
    const before = await lanes(sut);
    const aloneAdmitted = intakeLag(alone0) - intakeLag(before);
    const batchAloneWorkflowsPerSecond = Math.round((aloneAdmitted / ((Date.now() - aloneT0) / 1000)) * 10) / 10;
    const t0 = Date.now();
    const busy = await chatPhase(sut, questions, rate);
    const after = await lanes(sut);
    const seconds = (Date.now() - t0) / 1000;
    const admitted = intakeLag(before) - intakeLag(after);
    const busyFigures = {
      phase: 'with backlog', mode, priority, batchAgents, questions, ratePerSecond: rate, backlog, backlogPublishMs: publishMs, answered: busy.ms.length, errors: busy.errors.length,
      ...summary(busy.ms), wallMs: busy.wallMs, slowestPer5s: busy.timeline,
      batchLagBefore: before.batch?.lag, batchLagAfter: after.batch?.lag,
      batchWorkflowsAdmittedPerSecond: Math.round((admitted / seconds) * 10) / 10,
      batchAloneWorkflowsPerSecond,
      batchLaneDrainedPerSecond: Math.round((((before.batch?.lag ?? 0) - (after.batch?.lag ?? 0)) / seconds) * 10) / 10,
    };
    console.log(JSON.stringify(busyFigures));
    if (busy.errors.length) console.log(JSON.stringify({ sampleErrors: busy.errors.slice(0, 5) }));
    const ratio = (k: 'p50Ms' | 'p95Ms' | 'p99Ms'): number => Math.round((busyFigures[k] / idleFigures[k]) * 100) / 100;
    console.log(JSON.stringify({ summary: 'with/without backlog', p50: ratio('p50Ms'), p95: ratio('p95Ms'), p99: ratio('p99Ms') }));
  } finally {
    await sut.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
