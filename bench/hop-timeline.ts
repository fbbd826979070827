/**
 * Where the time of one demo question goes, hop by hop:
 *   node tmp/bench/bench/hop-timeline.js distributed [runs] [backlog=0]
 * Runs a tiny OTLP/HTTP receiver on 127.0.0.1, starts the system exporting its spans to it, asks the
 * demo question over WebSocket `runs` times (one at a time) and prints, for the run with the median
 * latency, every span of its trace in start order: offset from the ask, duration and the gap since
 * the previous span ended (time spent in brokers, queues and fetch waits rather than in handlers).
 * Then the medians over all runs of time inside spans vs between them. With a backlog, that many batch
 * requests are published first (bench/backlog.ts) and the slowest run is printed as well: where a
 * chat question waits while batch work runs.
 */
import { createServer, IncomingMessage } from 'node:http';
import { ChatClient } from '../test/support/chat-client';
import { Mode, SystemUnderTest } from '../test/support/system';
import { publishBacklog } from './backlog';

const QUESTION = 'Where is my order 1001 and can I get delivery by tomorrow?';

interface KeyValue { key: string; value?: { stringValue?: string } }
interface OtlpSpan { traceId: string; spanId: string; name: string; kind: number; startTimeUnixNano: string; endTimeUnixNano: string; attributes?: KeyValue[] }
interface OtlpBody { resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[] }
interface Span { service: string; traceId: string; name: string; startMs: number; endMs: number; agent?: string }

const spans: Span[] = [];

async function receive(req: IncomingMessage): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpBody;
  for (const rs of body.resourceSpans ?? []) {
    const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue ?? '?';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          service, traceId: s.traceId, name: s.name,
          startMs: Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000, endMs: Number(BigInt(s.endTimeUnixNano) / 1000n) / 1000,
          agent: s.attributes?.find((a) => a.key === 'flotilla.agent')?.value?.stringValue,
        });
      }
    }
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const mode = (process.argv[2] ?? 'distributed') as Mode;
  const runs = Number(process.argv[3] ?? 10);
  const backlog = Number(process.argv[4] ?? 0);
  const server = createServer((req, res) => void receive(req).then(() => res.writeHead(200).end('{}'), (err: unknown) => res.writeHead(400).end(String(err))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const sut = await SystemUnderTest.start(mode, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '200', ...(backlog ? { BACKPRESSURE_BATCH_LAG: '0', LOG_LEVEL: 'error' } : {}) });
  const chat = await ChatClient.connect(sut.wsUrl);
  const asked: { workflowId: string; sentMs: number; ms: number }[] = [];
  try {
    await chat.ask(QUESTION); // warm-up
    if (backlog) {
      await publishBacklog(sut, backlog);
      await new Promise((r) => setTimeout(r, 3_000)); // batch work under way
    }
    for (let i = 0; i < runs; i++) {
      const sentMs = Date.now();
      const r = await chat.ask(QUESTION);
      asked.push({ workflowId: r.workflowId, sentMs, ms: r.ms });
    }
    await new Promise((r) => setTimeout(r, 2_000)); // the batch span processors flush
  } finally {
    chat.close();
    await sut.stop();
    server.close();
  }
  // A run's trace: the trace of the spans that started in its window.
  const inSpans: number[] = [];
  const between: number[] = [];
  const timelines = asked.map((a) => {
    const window = spans.filter((s) => s.startMs >= a.sentMs && s.startMs <= a.sentMs + a.ms).sort((x, y) => x.startMs - y.startMs);
    const byTrace = new Map<string, Span[]>();
    for (const s of window) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
    const trace = [...byTrace.values()].sort((x, y) => y.length - x.length)[0] ?? [];
    // Union of span intervals = time some process was working on it; the rest is waiting between hops.
    let covered = 0;
    let reach = a.sentMs;
    for (const s of trace) {
      if (s.endMs > reach) {
        covered += s.endMs - Math.max(reach, s.startMs);
        reach = s.endMs;
      }
    }
    inSpans.push(covered);
    between.push(a.ms - covered);
    return { ...a, trace };
  });
  const sorted = [...timelines].sort((x, y) => x.ms - y.ms);
  console.log(`mode=${mode} runs=${runs} backlog=${backlog} latency p50=${median(asked.map((a) => a.ms))} ms; median time inside spans ${median(inSpans).toFixed(0)} ms, between spans ${median(between).toFixed(0)} ms`);
  const print = (label: string, run: (typeof timelines)[number]): void => {
    console.log(`${label} (${run.ms} ms), its spans:`);
    let lastEnd = run.sentMs;
    for (const s of run.trace) {
      const gap = s.startMs - lastEnd;
      console.log(`  +${(s.startMs - run.sentMs).toFixed(0).padStart(5)} ms  ${(s.endMs - s.startMs).toFixed(1).padStart(7)} ms  gap ${gap.toFixed(0).padStart(5)} ms  ${s.service}${s.agent ? `/${s.agent}` : ''}  ${s.name}`);
      lastEnd = Math.max(lastEnd, s.endMs);
    }
  };
  print('median run', sorted[Math.floor(sorted.length / 2)]!);
  if (backlog) print('slowest run', sorted.at(-1)!);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
