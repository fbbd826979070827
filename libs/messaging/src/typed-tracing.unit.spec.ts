import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@flotilla/common';
import { Headers, Messages, Topics } from '@flotilla/contracts';
import { injectTraceparent, recordSpans, SpanRecording, withSpan } from '@flotilla/telemetry';
import { EmbeddedMessageBus } from './embedded-bus';
import { connectBus } from './factory';
import { Subscription } from './port';
import { consume, on, outgoing, traceHeaders } from './typed';

/** The tracing hooks of typed.ts (docs/adr/0011): producers stamp trace context, consumers continue it. */
const QUESTION = 'Where is order 1001? Mail jane.doe@example.com';
const request = (requestId: string): { requestId: string; tenantId: string; question: string } => ({ requestId, tenantId: 'acme', question: QUESTION });
const tp = (traceId: string, spanId: string): string => `00-${traceId}-${spanId}-01`;

let recording: SpanRecording;
let bus: EmbeddedMessageBus;
const subs: Subscription[] = [];

beforeEach(async () => {
  recording = recordSpans('messaging-test');
  bus = new EmbeddedMessageBus(join(mkdtempSync(join(tmpdir(), 'tracing-')), 'log.db'));
  await connectBus(bus);
});

afterEach(async () => {
  await Promise.all(subs.splice(0).map((s) => s.stop()));
  await bus.disconnect();
  await recording.stop();
});

describe('outgoing()', () => {
  it('carries the active span as traceparent (header and metadata) when the caller gave none, and keeps one it gave', async () => {
    const explicit = tp('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331');
    const [stamped, kept, headers] = await withSpan('publish', {}, () => [
      outgoing(Topics.intake, Messages.SubmitRequest, 'r-1', request('r-1'), { tenantId: 'acme' }),
      outgoing(Topics.intake, Messages.SubmitRequest, 'r-2', request('r-2'), { tenantId: 'acme', traceparent: explicit }),
      traceHeaders(),
    ] as const);
    const [span] = await recording.spans();
    const mine = tp(span!.traceId, span!.spanId);
    expect(stamped.headers![Headers.traceparent]).toBe(mine);
    expect((JSON.parse(stamped.value as string) as { metadata: { traceparent: string } }).metadata.traceparent).toBe(mine);
    expect(kept.headers![Headers.traceparent]).toBe(explicit);
    expect(headers).toEqual({ [Headers.traceparent]: mine });
    // Outside any span there is nothing to carry.
    expect(outgoing(Topics.intake, Messages.SubmitRequest, 'r-3', request('r-3'), {}).headers![Headers.traceparent]).toBeUndefined();
    expect(traceHeaders()).toEqual({});
  });
});

describe('consume()', () => {
  it('handles each message in a CONSUMER span under the producer\'s span, with ids only, and what it publishes continues the trace', async () => {
    const forwarded: (string | undefined)[] = [];
    subs.push(await consume(bus, {
      groupId: 'svc-a',
      handlers: [on(Topics.intake, async (m) => {
        await bus.publish([outgoing(Topics.apiIntake, Messages.SubmitRequest, m.data.requestId, m.data, { tenantId: 'acme', workflowId: 'wf_1' })]);
      })],
    }));
    subs.push(await consume(bus, {
      groupId: 'svc-b',
      handlers: [on(Topics.apiIntake, async (m) => void forwarded.push(m.metadata.traceparent))],
    }));
    await withSpan('chat ask', {}, () => bus.publish([outgoing(Topics.intake, Messages.SubmitRequest, 'r-1', request('r-1'), { tenantId: 'acme', workflowId: 'wf_1' })]), { kind: 'server' });
    await waitFor(() => forwarded.length === 1, 10_000, 'the forwarded message');
    // svc-b can handle the forwarded message before svc-a's span has ended (it ends once svc-a's handler has returned).
    await waitFor(async () => (await recording.spans()).some((s) => s.name === `process ${Topics.intake.name}`), 10_000, 'svc-a\'s span ended');

    const spans = await recording.spans();
    const root = spans.find((s) => s.name === 'chat ask')!;
    const a = spans.find((s) => s.name === `process ${Topics.intake.name}`)!;
    const b = spans.find((s) => s.name === `process ${Topics.apiIntake.name}`)!;
    expect(a).toMatchObject({ kind: 'consumer', traceId: root.traceId, parentSpanId: root.spanId, status: 'unset' });
    expect(b).toMatchObject({ kind: 'consumer', traceId: root.traceId, parentSpanId: a.spanId });
    expect(forwarded[0]).toBe(tp(a.traceId, a.spanId));
    expect(a.attributes).toEqual({
      'messaging.system': 'flotilla-embedded', 'messaging.operation.type': 'process', 'messaging.destination.name': Topics.intake.name,
      'messaging.destination.partition.id': expect.stringMatching(/^\d+$/), 'messaging.kafka.offset': 0, 'messaging.consumer.group.name': 'svc-a',
      'flotilla.message.type': 'SubmitRequest@v1', 'flotilla.workflow.id': 'wf_1', 'flotilla.tenant.id': 'acme',
    });
    expect(JSON.stringify(spans)).not.toContain('jane.doe');
    expect(JSON.stringify(spans)).not.toContain('Where is order');
  });

  it('marks a dead-lettered message\'s span failed, and a message without trace context starts a trace of its own', async () => {
    subs.push(await consume(bus, { groupId: 'svc-a', handlers: [on(Topics.intake, async () => undefined)] }));
    await withSpan('unrelated', {}, () => bus.publish([{ topic: Topics.intake.name, key: 'k', value: '{not json', headers: {} }]));
    await waitFor(async () => (await recording.spans()).some((s) => s.name.startsWith('process')), 10_000, 'the consumer span');
    const spans = await recording.spans();
    const unrelated = spans.find((s) => s.name === 'unrelated')!;
    const processed = spans.find((s) => s.name === `process ${Topics.intake.name}`)!;
    expect(processed.parentSpanId).toBeUndefined();
    expect(processed.traceId).not.toBe(unrelated.traceId);
    expect(processed).toMatchObject({ status: 'error', attributes: expect.objectContaining({ 'flotilla.outcome': 'dead-lettered' }) });
  });

  it('gives answer-stream tokens no span of their own, but runs their handler in the producer\'s context', async () => {
    const seen: (string | undefined)[] = [];
    subs.push(await consume(bus, { groupId: 'svc-a', handlers: [on(Topics.answerStream, async () => void seen.push(injectTraceparent()))] }));
    const sent = await withSpan('step compose', {}, async () => {
      const m = outgoing(Topics.answerStream, Messages.AnswerTokenStreamed, 'wf_1', { workflowId: 'wf_1', taskId: 'task_1', seq: 0, text: 'Order' }, { workflowId: 'wf_1' });
      await bus.publish([m]);
      return m.headers![Headers.traceparent];
    });
    await waitFor(() => seen.length === 1, 10_000, 'the token');
    expect(seen[0]).toBe(sent);
    expect((await recording.spans()).map((s) => s.name)).toEqual(['step compose']);
  });
});
