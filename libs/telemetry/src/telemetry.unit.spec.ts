import { InMemorySpanExporter, ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createLogger, setLogSink } from '@flotilla/common';
import {
  currentTraceId, flushTelemetry, initTelemetry, injectTraceparent, redactAttributes, shutdownTelemetry, withRemoteParent, withSpan,
} from './index';

const CONFIG = { OTEL_SDK_DISABLED: false, OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_SERVICE_NAME: undefined, OTEL_TRACES_SAMPLER_RATIO: 1, OTEL_BSP_SCHEDULE_DELAY: 10 };
const EMAIL = 'jane.doe@example.com';
const PHONE = '+1 415 555 0134';
const CARD = '4111 1111 1111 1111';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl';
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;

let exporter: InMemorySpanExporter;

beforeEach(() => {
  exporter = new InMemorySpanExporter();
  initTelemetry('telemetry-test', CONFIG, { exporter });
});

afterEach(async () => {
  await shutdownTelemetry();
});

async function finished(): Promise<ReadableSpan[]> {
  await flushTelemetry();
  return exporter.getFinishedSpans();
}

describe('the redacting span processor', () => {
  it('redacts personal data and credentials in every string attribute, event attribute, status and name, and drops free text', async () => {
    const question = `Where is order 1001? Mail me at ${EMAIL} or call ${PHONE}`;
    await expect(withSpan(`lookup for ${EMAIL}`, {
      'flotilla.workflow.id': 'wf_123', 'enduser.email': EMAIL, 'flotilla.note': `call ${PHONE}, card ${CARD}`, 'http.request.header.authorization': `Bearer ${JWT}`,
      'flotilla.question': question, 'gen_ai.prompt': question, 'messaging.message.body': question, 'url.query': `access_token=${JWT}`,
      'flotilla.order.id': '1001', 'flotilla.attempt': 2, 'flotilla.validated': true,
    }, (span) => {
      span.addEvent('contacted', { 'flotilla.contact': EMAIL, answer: 'Your parcel goes to 12 Main St, call +44 20 7946 0958' });
      span.setAttribute('flotilla.token', 'sk-abcdefghijklmnopqrstuvwx');
      throw new Error(`could not reach ${EMAIL} at ${PHONE}`);
    })).rejects.toThrow(EMAIL);

    const [span] = await finished();
    expect(span).toBeDefined();
    const exported = JSON.stringify({ name: span!.name, attributes: span!.attributes, events: span!.events, status: span!.status });
    for (const secret of [EMAIL, PHONE, '415 555 0134', CARD, JWT, 'sk-abcdefghijklmnopqrstuvwx', '7946 0958', 'Where is order']) expect(exported).not.toContain(secret);

    expect(span!.name).toBe('lookup for [redacted:email]');
    expect(span!.attributes).toEqual({
      'flotilla.workflow.id': 'wf_123', 'enduser.email': '[redacted:email]', 'flotilla.note': 'call [redacted:phone], card [redacted:card]',
      'http.request.header.authorization': '[redacted]', 'flotilla.token': '[redacted]',
      'flotilla.order.id': '1001', 'flotilla.attempt': 2, 'flotilla.validated': true,
    });
    expect(span!.events.find((e) => e.name === 'contacted')!.attributes).toEqual({ 'flotilla.contact': '[redacted:email]' });
    const exception = span!.events.find((e) => e.name === 'exception')!;
    expect(exception.attributes!['exception.message']).toBe('could not reach [redacted:email] at [redacted:phone]');
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'could not reach [redacted:email] at [redacted:phone]' });
  });

  it('keeps ids, dates and order numbers, and redacts strings inside arrays', () => {
    expect(redactAttributes({ a: ['x', EMAIL], d: '2026-11-21', o: 'order 1001, tracking 1Z999AA10123456784', n: 7 })).toEqual({
      a: ['x', '[redacted:email]'], d: '2026-11-21', o: 'order 1001, tracking 1Z999AA10123456784', n: 7,
    });
  });
});

describe('trace context propagation', () => {
  it('round-trips: inject in a span, extract on the other side, and the child continues the trace under that span', async () => {
    let sent: string | undefined;
    let parentTrace: string | undefined;
    await withSpan('publish', {}, () => {
      sent = injectTraceparent();
      parentTrace = currentTraceId();
    }, { kind: 'producer' });
    expect(sent).toMatch(TRACEPARENT);
    expect(injectTraceparent()).toBeUndefined(); // nothing active outside the span

    let relayed: string | undefined;
    await withRemoteParent(sent, () => withSpan('process flotilla.tasks.tool.v1', { 'messaging.system': 'kafka' }, () => {
      relayed = injectTraceparent();
    }, { kind: 'consumer' }));

    const spans = await finished();
    const publish = spans.find((s) => s.name === 'publish')!;
    const processed = spans.find((s) => s.name.startsWith('process'))!;
    expect(publish.spanContext().traceId).toBe(parentTrace);
    expect(sent).toBe(`00-${publish.spanContext().traceId}-${publish.spanContext().spanId}-01`);
    expect(processed.kind).toBe(SpanKind.CONSUMER);
    expect(processed.spanContext().traceId).toBe(publish.spanContext().traceId);
    expect(processed.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(processed.parentSpanContext?.isRemote).toBe(true);
    // What the consumer publishes in turn names its own span as the parent.
    expect(relayed).toBe(`00-${processed.spanContext().traceId}-${processed.spanContext().spanId}-01`);
  });

  it('starts a new trace for a missing or malformed traceparent, never inside whatever was active', async () => {
    await withSpan('unrelated', {}, async () => {
      await withRemoteParent(undefined, () => withSpan('fresh', {}, () => undefined));
      await withRemoteParent('00-garbage', () => withSpan('garbled', {}, () => undefined));
    });
    const spans = await finished();
    const unrelated = spans.find((s) => s.name === 'unrelated')!;
    for (const name of ['fresh', 'garbled']) {
      const s = spans.find((x) => x.name === name)!;
      expect(s.parentSpanContext).toBeUndefined();
      expect(s.spanContext().traceId).not.toBe(unrelated.spanContext().traceId);
    }
  });

  it('does not mark expected errors (a deferral) as failures', async () => {
    class Deferred extends Error {
      override name = 'DeferDelivery';
    }
    await expect(withSpan('deferred', {}, () => {
      throw new Deferred('later');
    }, { expected: (e) => e instanceof Deferred })).rejects.toThrow('later');
    const [span] = await finished();
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.events.map((e) => e.name)).toEqual(['DeferDelivery']);
  });

  it('puts the active span\'s ids on log lines written inside it, and nothing outside', async () => {
    // The correlation wraps the sink that was current when tracing started: restart tracing over a capture.
    await shutdownTelemetry();
    const lines: string[] = [];
    const previous = setLogSink((l) => void lines.push(l));
    const spans = new InMemorySpanExporter();
    initTelemetry('logs', CONFIG, { exporter: spans });
    let span: ReadableSpan | undefined;
    try {
      const log = createLogger({ service: 'test' });
      await withSpan('work', {}, () => log.warn('inside', { email: EMAIL }));
      log.warn('outside');
      await flushTelemetry();
      [span] = spans.getFinishedSpans();
    } finally {
      await shutdownTelemetry(); // puts back the capturing sink…
      setLogSink(previous); // …and this the one before it
    }
    const [inside, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(inside).toMatchObject({ trace_id: span!.spanContext().traceId, span_id: span!.spanContext().spanId, msg: 'inside', email: '[redacted:email]' });
    expect(outside).not.toHaveProperty('trace_id');
    expect(outside).toMatchObject({ msg: 'outside' });
  });

  it('with tracing disabled, runs the code and propagates nothing', async () => {
    await shutdownTelemetry();
    initTelemetry('off', { ...CONFIG, OTEL_SDK_DISABLED: true });
    const out = await withSpan('noop', {}, () => injectTraceparent());
    expect(out).toBeUndefined();
    expect(withRemoteParent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', () => currentTraceId())).toBeUndefined();
  });
});
