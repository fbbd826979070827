/**
 * End-to-end latency of the demo question, asked over WebSocket one at a time, in one mode:
 *   npm run bench:latency -- embedded [runs]
 *   npm run bench:latency -- distributed [runs]     (needs scripts/infra.sh up + env)
 * Reports p50/p95/max of the time from sending `ask` to receiving `answer`, plus time to ready.
 */
import { ChatClient } from '../test/support/chat-client';
import { Mode, SystemUnderTest } from '../test/support/system';

const QUESTION = 'Where is my order 1001 and can I get delivery by tomorrow?';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const mode = (process.argv[2] ?? 'embedded') as Mode;
  const runs = Number(process.argv[3] ?? 20);
  const bootStart = Date.now();
  const sut = await SystemUnderTest.start(mode);
  const bootMs = Date.now() - bootStart;
  const chat = await ChatClient.connect(sut.wsUrl);
  try {
    await chat.ask(QUESTION); // warm-up, not counted
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await chat.ask(QUESTION);
      if (r.answer.type !== 'answer') throw new Error(`run ${i}: ${JSON.stringify(r.answer)}`);
      times.push(r.ms);
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(JSON.stringify({ mode, runs, bootToReadyMs: bootMs, p50Ms: pct(sorted, 50), p95Ms: pct(sorted, 95), maxMs: sorted.at(-1), minMs: sorted[0] }));
  } finally {
    chat.close();
    await sut.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
