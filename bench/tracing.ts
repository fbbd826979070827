/**
 * What tracing costs (docs/adr/0011): the demo question's end-to-end latency, embedded, on three
 * systems started side by side and asked in turn (rotating order every round, so machine noise
 * falls on all of them alike):
 *   off     — OTEL_SDK_DISABLED=true: no spans, no trace context;
 *   local   — tracing on, no exporter: spans created and propagated, not exported;
 *   export  — tracing on, exporting OTLP/HTTP JSON to a local sink (this process) every 2 s.
 *   npm run build && npm run bench:build && node tmp/bench/bench/tracing.js [runs=30]
 * Prints p50/p95/mean per variant, the ratios to `off`, CPU per question (Linux: the Flotilla
 * process's user+system time from /proc), and what the sink received. Latency is mostly waiting
 * (the embedded log's polling, the business service), so CPU is the sharper measure of the cost.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { ChatClient } from '../test/support/chat-client';
import { SystemUnderTest } from '../test/support/system';

const QUESTION = 'Where is my order 1001 and can I get delivery by tomorrow?';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** An OTLP/HTTP sink: counts requests, bytes and spans, answers 200. */
async function startSink(): Promise<{ url: string; stats: { requests: number; bytes: number; spans: number }; close(): Promise<void> }> {
  const stats = { requests: 0, bytes: 0, spans: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      stats.requests++;
      stats.bytes += body.length;
      stats.spans += (body.toString('utf8').match(/"spanId"/g) ?? []).length;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    stats,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface Variant { name: string; env: Record<string, string>; sut?: SystemUnderTest; chat?: ChatClient; times: number[]; cpuMs: number }

/** User + system CPU of a process so far, in ms (Linux /proc; clock ticks of 10 ms). */
function cpuMsOf(pid: number | undefined): number {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
const pidOf = (v: Variant): number | undefined => v.sut?.procs.get('flotilla')?.child?.pid;

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 30);
  const sink = await startSink();
  const variants: Variant[] = [
    { name: 'off', env: { OTEL_SDK_DISABLED: 'true' }, times: [], cpuMs: 0 },
    { name: 'local', env: {}, times: [], cpuMs: 0 },
    { name: 'export', env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_BSP_SCHEDULE_DELAY: '2000' }, times: [], cpuMs: 0 },
  ];
  try {
    for (const v of variants) {
      v.sut = await SystemUnderTest.start('embedded', v.env);
      v.chat = await ChatClient.connect(v.sut.wsUrl);
      await v.chat.ask(QUESTION); // warm-up, not counted
      await v.chat.ask(QUESTION);
    }
    const spansBefore = sink.stats.spans;
    for (const v of variants) v.cpuMs = -cpuMsOf(pidOf(v));
    for (let i = 0; i < runs; i++) {
      for (let j = 0; j < variants.length; j++) {
        const v = variants[(i + j) % variants.length]!;
        const r = await v.chat!.ask(QUESTION);
        if (r.answer.type !== 'answer') throw new Error(`${v.name} run ${i}: ${JSON.stringify(r.answer)}`);
        v.times.push(r.ms);
      }
    }
    await new Promise((r) => setTimeout(r, 2_500)); // the last batch of spans (exporting counts as CPU too)
    for (const v of variants) v.cpuMs += cpuMsOf(pidOf(v));
    const stats = (v: Variant): { p50Ms: number; p95Ms: number; meanMs: number; cpuMsPerQuestion: number } => {
      const sorted = [...v.times].sort((a, b) => a - b);
      return {
        p50Ms: pct(sorted, 50), p95Ms: pct(sorted, 95), meanMs: Math.round(v.times.reduce((a, b) => a + b, 0) / v.times.length),
        cpuMsPerQuestion: +(v.cpuMs / runs).toFixed(1),
      };
    };
    const off = stats(variants[0]!);
    const rows = variants.map((v) => {
      const s = stats(v);
      return {
        variant: v.name, ...s,
        p50Ratio: +(s.p50Ms / off.p50Ms).toFixed(3), meanRatio: +(s.meanMs / off.meanMs).toFixed(3), cpuRatio: +(s.cpuMsPerQuestion / off.cpuMsPerQuestion).toFixed(3),
      };
    });
    console.table(rows);
    console.log(JSON.stringify({
      runs, question: 'demo (order 1001)', mode: 'embedded', variants: rows,
      exported: { spansPerQuestion: Math.round((sink.stats.spans - spansBefore) / runs), requests: sink.stats.requests, kilobytes: Math.round(sink.stats.bytes / 1024) },
    }));
  } finally {
    for (const v of variants) {
      v.chat?.close();
      await v.sut?.stop();
    }
    await sink.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
