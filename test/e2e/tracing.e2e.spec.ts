import { createServer, IncomingMessage, Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { ChatClient, pollWorkflow } from '../support/chat-client';
import { SystemUnderTest } from '../support/system';

/*
 * Distributed tracing end to end (docs/adr/0011), in whichever mode the jest project selects. The
 * system exports its spans (OTLP/HTTP, JSON) to a tiny collector this test runs on 127.0.0.1, and
 * the test reads what actually left the processes:
 *  - a chat question is ONE trace: gateway → coordinator → planner / tool / validator → coordinator
 *    → gateway, every span's parent is a span of the same trace, one root (the gateway's ask);
 *  - personal data in the question (an email address, a phone number) and the question text itself
 *    appear nowhere in what was exported;
 *  - a REST request continues the caller's traceparent.
 */
jest.setTimeout(240_000);

/** An OTLP attribute value (JSON encoding). */
interface AnyValue { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number; arrayValue?: { values?: AnyValue[] } }
interface KeyValue { key: string; value?: AnyValue }
interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number;
  attributes?: KeyValue[]; events?: { name: string; attributes?: KeyValue[] }[]; status?: { code?: number; message?: string };
}
interface OtlpBody { resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[] }

interface SpanRecord {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

function plain(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  return undefined;
}
const attrs = (kvs: KeyValue[] | undefined): Record<string, unknown> => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, plain(kv.value)]));

/** A minimal OTLP/HTTP trace receiver: POST /v1/traces with a JSON ExportTraceServiceRequest. */
class OtlpReceiver {
  readonly spans: SpanRecord[] = [];
  /** Every request body as received, to search for leaked personal data. */
  readonly raw: string[] = [];
  readonly contentTypes = new Set<string>();
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.receive(req).then(
      () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
      (err: unknown) => res.writeHead(400).end(String(err)),
    ));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private async receive(req: IncomingMessage): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`unexpected ${req.method} ${req.url}`);
    this.contentTypes.add(String(req.headers['content-type']));
    const text = Buffer.concat(chunks).toString('utf8');
    this.raw.push(text);
    const body = JSON.parse(text) as OtlpBody;
    for (const rs of body.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)['service.name']);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, kind: s.kind, attributes: attrs(s.attributes),
          });
        }
      }
    }
  }

  trace(traceId: string): SpanRecord[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/**
 * Which service produced a span: the resource's service.name in distributed mode; embedded, every
 * span says `flotilla` and the span itself tells (the agent of a step, the consumer group, the
 * gateway's server spans).
 */
function serviceOf(span: SpanRecord): string {
  const agent = span.attributes['flotilla.agent'];
  if (typeof agent === 'string') return agent;
  const group = span.attributes['messaging.consumer.group.name'];
  if (typeof group === 'string') {
    const m = /^flotilla-(gateway|coordinator|planner|retriever|tool|validator)\b/.exec(group);
    if (m) return m[1]!;
  }
  if (span.kind === KIND.server) return 'gateway';
  return span.service;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until no new span has arrived for `quietMs` (the batch processors flush every 100 ms here). */
async function settled(receiver: OtlpReceiver, quietMs = 1_500): Promise<void> {
  let count = -1;
  let since = Date.now();
  for (;;) {
    if (receiver.spans.length !== count) {
      count = receiver.spans.length;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const EMAIL = 'jane.doe@example.com';
const PHONE = '+1 415 555 0134';
const QUESTION = `Where is my order 1001 and can I get delivery by tomorrow? Email me at ${EMAIL} or call ${PHONE}.`;

const receiver = new OtlpReceiver();
let sut: SystemUnderTest;
let chat: ChatClient;

beforeAll(async () => {
  await receiver.start();
  sut = await SystemUnderTest.start(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' });
  chat = await ChatClient.connect(sut.wsUrl);
});

afterAll(async () => {
  chat?.close();
  await sut?.stop();
  await receiver.stop();
  // For a look at the traces: TRACING_E2E_DUMP=tmp/spans.json
  if (process.env['TRACING_E2E_DUMP']) writeFileSync(process.env['TRACING_E2E_DUMP'], JSON.stringify(receiver.spans, null, 1));
});

describe('a chat question', () => {
  let workflowId: string;
  let traceId: string;
  let trace: SpanRecord[];

  beforeAll(async () => {
    const asked = await chat.ask(QUESTION);
    expect(asked.answer.type).toBe('answer');
    workflowId = asked.workflowId;
    await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'completed');
    // The ask's own span ends once the answer was sent; then everything of the workflow is exported.
    traceId = await until('the coordinator span of the workflow', () => receiver.spans.find((s) => s.attributes['flotilla.workflow.id'] === workflowId && serviceOf(s) === 'coordinator')?.traceId);
    await until('the root span of the trace', () => receiver.trace(traceId).find((s) => !s.parentSpanId));
    await settled(receiver);
    trace = receiver.trace(traceId);
  });

  it('is one trace across gateway, coordinator, planner, tool and validator', () => {
    // Every span about this workflow, in every service, is in this one trace.
    const about = receiver.spans.filter((s) => s.attributes['flotilla.workflow.id'] === workflowId);
    expect(about.length).toBeGreaterThan(10);
    expect(new Set(about.map((s) => s.traceId))).toEqual(new Set([traceId]));

    const services = new Set(trace.map(serviceOf));
    for (const s of ['gateway', 'coordinator', 'planner', 'tool', 'validator']) expect(services).toContain(s);
    if (sut.mode === 'distributed') {
      // Six processes: the spans really came from each service's own process.
      const resources = new Set(trace.map((s) => s.service));
      for (const s of ['gateway', 'coordinator', 'planner', 'tool', 'validator']) expect(resources).toContain(s);
      for (const s of trace.filter((x) => x.kind === KIND.consumer)) expect(s.service).toBe(serviceOf(s));
    } else {
      expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['flotilla']));
    }

    // The agents' steps of the demo plan, each a span of its agent.
    const steps = trace.filter((s) => s.name.startsWith('step '));
    expect(steps.map((s) => s.attributes['flotilla.step.id'])).toEqual(expect.arrayContaining(['plan', 'lookup-order', 'track-shipment', 'estimate-delivery', 'compose', 'validate']));
    for (const s of steps) {
      expect(s.attributes['flotilla.workflow.id']).toBe(workflowId);
      expect(s.attributes['flotilla.step.outcome']).toBe('succeeded');
      expect(s.attributes['flotilla.lane']).toBe('interactive');
      expect(typeof s.attributes['flotilla.step.attempt']).toBe('number');
    }
  });

  it('has consistent parent links: one root (the gateway ask), every other parent in the trace, hop by hop', () => {
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    expect(byId.size).toBe(trace.length); // no span exported twice
    const roots = trace.filter((s) => !s.parentSpanId);
    expect(roots).toHaveLength(1);
    expect(roots[0]).toMatchObject({ name: 'chat ask', kind: KIND.server });
    expect(serviceOf(roots[0]!)).toBe('gateway');
    for (const s of trace) if (s.parentSpanId) expect(byId.get(s.parentSpanId)).toBeDefined();

    const parent = (s: SpanRecord): SpanRecord => byId.get(s.parentSpanId!)!;
    // gateway ask → coordinator consumes the request
    const intake = trace.filter((s) => s.name.startsWith('process ') && s.name.includes('intake') && serviceOf(s) === 'coordinator');
    expect(intake).toHaveLength(1);
    expect(intake[0]!.kind).toBe(KIND.consumer);
    expect(parent(intake[0]!)).toBe(roots[0]);
    // coordinator → agent: a task consumed by the agent, under the coordinator span that dispatched it
    for (const step of trace.filter((s) => s.name.startsWith('step '))) {
      const task = parent(step);
      expect(task.kind).toBe(KIND.consumer);
      expect(task.name).toMatch(/^process .*flotilla\.tasks\.(planner|retriever|tool|validator)\.interactive\.v1$/);
      expect(serviceOf(task)).toBe(step.attributes['flotilla.agent']);
      const dispatcher = parent(task);
      expect(serviceOf(dispatcher)).toBe('coordinator');
      expect(dispatcher.kind).toBe(KIND.consumer);
    }
    // agent → coordinator: each step result consumed under the step that reported it
    const results = trace.filter((s) => s.name.endsWith('flotilla.step-results.v1') && serviceOf(s) === 'coordinator');
    expect(results.length).toBeGreaterThanOrEqual(6);
    for (const r of results) {
      expect(parent(r).name).toMatch(/^step /);
      expect(r.attributes).toMatchObject({ 'messaging.destination.name': expect.stringContaining('flotilla.step-results.v1'), 'flotilla.workflow.id': workflowId });
      expect(typeof r.attributes['messaging.kafka.offset']).toBe('number');
    }
    // coordinator → gateway: the workflow's events reach the gateway under the coordinator span that decided them
    const events = trace.filter((s) => s.name.endsWith('flotilla.workflow-events.v1') && serviceOf(s) === 'gateway');
    expect(events.length).toBeGreaterThan(5);
    for (const e of events) expect(serviceOf(parent(e))).toBe('coordinator');
  });

  it('exports no personal data and no question or answer text', () => {
    expect(receiver.raw.length).toBeGreaterThan(0);
    expect([...receiver.contentTypes].every((t) => t.startsWith('application/json'))).toBe(true);
    const everything = receiver.raw.join('\n');
    for (const leak of [EMAIL, 'jane.doe', 'example.com', PHONE, '415 555 0134', '4155550134', QUESTION, 'can I get delivery by tomorrow', 'Where is my order']) {
      expect(everything).not.toContain(leak);
    }
    for (const s of receiver.spans) {
      for (const [k, v] of Object.entries(s.attributes)) {
        expect(k).not.toMatch(/(^|\.)(question|answer|prompt|text|body)$/);
        if (typeof v === 'string') expect(v).not.toMatch(/@example\.com|555 0134/);
      }
    }
  });
});

describe('a REST request', () => {
  it('continues the caller\'s traceparent into the workflow', async () => {
    const clientTrace = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const r = await fetch(`${sut.gatewayUrl}/v1/workflows`, {
      method: 'POST',
      // A user agent that names a person: recorded on the server span, redacted before export.
      headers: { 'content-type': 'application/json', traceparent: `00-${clientTrace}-${clientSpan}-01`, 'user-agent': `shop-backend/2.1 (+mailto:${EMAIL}; ${PHONE})` },
      body: JSON.stringify({ question: `What is your return policy? I am ${EMAIL}.` }),
    });
    expect(r.status).toBe(202);
    const { workflowId } = (await r.json()) as { workflowId: string };
    await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'completed', 60_000);
    const server = await until('the REST server span', () => receiver.trace(clientTrace).find((s) => s.kind === KIND.server));
    expect(server).toMatchObject({ name: 'POST /v1/workflows', parentSpanId: clientSpan });
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST', 'http.route': '/v1/workflows', 'http.response.status_code': 202,
      'user_agent.original': 'shop-backend/2.1 (+mailto:[redacted:email]; [redacted:phone])',
    });
    await until('the coordinator span of the REST workflow', () => receiver.trace(clientTrace).find((s) => s.attributes['flotilla.workflow.id'] === workflowId && serviceOf(s) === 'coordinator'));
    await settled(receiver);
    const about = receiver.spans.filter((s) => s.attributes['flotilla.workflow.id'] === workflowId);
    expect(new Set(about.map((s) => s.traceId))).toEqual(new Set([clientTrace]));
    const everything = receiver.raw.join('\n');
    for (const leak of [EMAIL, PHONE, 'return policy']) expect(everything).not.toContain(leak);
  });
});
