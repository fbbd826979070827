/**
 * The read model under polling clients, distributed mode (six processes on the real Kafka and
 * FerretDB): submits `workflows` REST requests, then polls `GET /v1/workflows/:id` in rounds of 16
 * workflows with `clients` concurrent pollers, 3 s apart, and prints per round the p50 and max
 * latency and what the answers said (status : projection.pendingEvents).
 *
 *   npm run build && npm run bench:build && eval "$(bash scripts/infra.sh env)"
 *   node tmp/bench/bench/read-model.js [workflows=200] [rounds=12] [clients=8] [idleMsBeforePolling=0]
 */
import { SystemUnderTest } from '../test/support/system';

async function main(): Promise<void> {
  const [workflows = 200, rounds = 12, clients = 8, idleMs = 0] = process.argv.slice(2).map(Number);
  const sut = await SystemUnderTest.start('distributed', { LOG_LEVEL: 'warn' });
  try {
    const ids: string[] = [];
    const submitStart = Date.now();
    for (let i = 0; i < workflows; i++) {
      const r = await fetch(`${sut.gatewayUrl}/v1/workflows`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ question: 'Where is my order 1002?', requestId: `rm-${Date.now()}-${i}` }),
      });
      if (r.status !== 202) throw new Error(`POST /v1/workflows answered ${r.status}: ${await r.text()}`);
      ids.push(((await r.json()) as { workflowId: string }).workflowId);
    }
    console.log(JSON.stringify({ submitted: workflows, ms: Date.now() - submitStart }));
    await new Promise((r) => setTimeout(r, idleMs));
    const t0 = Date.now();
    for (let round = 0; round < rounds; round++) {
      const times: number[] = [];
      const answers: Record<string, number> = {};
      const queue = ids.slice((round * 16) % ids.length, ((round * 16) % ids.length) + 16);
      await Promise.all(Array.from({ length: clients }, async () => {
        for (let id = queue.shift(); id; id = queue.shift()) {
          const started = Date.now();
          let answer: string;
          try {
            const r = await fetch(`${sut.gatewayUrl}/v1/workflows/${id}`, { signal: AbortSignal.timeout(15_000) });
            const b = (await r.json()) as { status: string; projection?: { pendingEvents?: number } };
            answer = `${r.status}:${b.status}:${b.projection?.pendingEvents}`;
          } catch (e) {
            answer = `error:${(e as Error).name}`;
          }
          times.push(Date.now() - started);
          answers[answer] = (answers[answer] ?? 0) + 1;
        }
      }));
      times.sort((x, y) => x - y);
      console.log(JSON.stringify({ round, atS: Math.round((Date.now() - t0) / 1000), p50: times[Math.floor(times.length / 2)], max: times.at(-1), answers }));
      await new Promise((r) => setTimeout(r, 3000));
    }
  } finally {
    await sut.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
