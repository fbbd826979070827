import { ErrorCode, FlotillaError } from '@flotilla/common';
import { decode, Headers, Messages, Topics } from '@flotilla/contracts';
import { IncomingMessage } from './port';
import { deadLetter, outgoing } from './typed';

describe('outgoing', () => {
  const data = { requestId: 'req-1', tenantId: 'tenant-a', question: 'Where is order 1001?' };

  it('builds a message that the consumer-side decode accepts as the same typed message', () => {
    const m = outgoing(Topics.intake, Messages.SubmitRequest, 'req-1', data, { tenantId: 'tenant-a', workflowId: 'wf-1', traceparent: '00-abc-def-01' }, 'msg_1');
    expect(m).toMatchObject({ topic: Topics.intake.name, key: 'req-1' });
    expect(m.headers).toEqual({
      [Headers.messageType]: 'SubmitRequest@v1', [Headers.tenantId]: 'tenant-a', [Headers.workflowId]: 'wf-1', [Headers.traceparent]: '00-abc-def-01',
    });
    const decoded = decode(Topics.intake, m.value as string);
    expect(decoded.ok && decoded.message).toMatchObject({ type: 'SubmitRequest', version: 1, id: 'msg_1', data, metadata: { tenantId: 'tenant-a', workflowId: 'wf-1' } });
  });

  it('stamps occurredAt, gives every message its own id, and sets only the headers it has values for', () => {
    const a = JSON.parse(outgoing(Topics.intake, Messages.SubmitRequest, 'k', data, {}).value as string) as { id: string; metadata: { occurredAt: string } };
    const b = outgoing(Topics.intake, Messages.SubmitRequest, 'k', data, {});
    expect(Number.isNaN(Date.parse(a.metadata.occurredAt))).toBe(false);
    expect(a.id).not.toBe((JSON.parse(b.value as string) as { id: string }).id);
    expect(b.headers).toEqual({ [Headers.messageType]: 'SubmitRequest@v1' });
  });
});

describe('deadLetter', () => {
  const raw = (value: Buffer | null): IncomingMessage => ({
    topic: Topics.intake.name, partition: 4, offset: '17', key: 'req-9', value,
    headers: { [Headers.tenantId]: 'tenant-a', [Headers.workflowId]: 'wf-9' }, timestamp: '0',
  });

  it('records where the message came from, why it failed and how often, as a valid DeadLetterRecorded', () => {
    const record = deadLetter(raw(Buffer.from('{oops')), 'svc', new FlotillaError(ErrorCode.InvalidMessage, 'invalid JSON'), 1);
    expect(record).toMatchObject({ topic: Topics.deadLetters.name, key: Topics.intake.name });
    const decoded = decode(Topics.deadLetters, record.value as string);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.message.data).toMatchObject({
      sourceTopic: Topics.intake.name, partition: 4, offset: '17', key: 'req-9', payload: '{oops', payloadEncoding: 'utf8',
      reason: 'invalid JSON', errorCode: ErrorCode.InvalidMessage, attempts: 1, consumerGroup: 'svc', workflowId: 'wf-9',
    });
    expect(decoded.message.metadata).toMatchObject({ tenantId: 'tenant-a', workflowId: 'wf-9' });
  });

  it('gives a redelivered poison message the same record id, so the dead-letter topic can be deduplicated', () => {
    const error = new FlotillaError(ErrorCode.ToolFailed, 'no');
    const id = (v: string): string => (JSON.parse(v) as { id: string }).id;
    const first = deadLetter(raw(Buffer.from('x')), 'svc', error, 1).value as string;
    const again = deadLetter(raw(Buffer.from('x')), 'svc', error, 3).value as string;
    expect(id(first)).toBe(id(again));
    expect(id(first)).toBe(`dlq_${Topics.intake.name}_4_17`);
  });

  it('keeps a binary payload losslessly as base64 and an empty one as empty text', () => {
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const bin = JSON.parse(deadLetter(raw(bytes), 'svc', new FlotillaError(ErrorCode.InvalidMessage, 'x'), 1).value as string) as { data: { payload: string; payloadEncoding: string } };
    expect(bin.data.payloadEncoding).toBe('base64');
    expect(Buffer.from(bin.data.payload, 'base64')).toEqual(bytes);
    const empty = JSON.parse(deadLetter(raw(null), 'svc', new FlotillaError(ErrorCode.InvalidMessage, 'x'), 1).value as string) as { data: { payload: string; payloadEncoding: string } };
    expect(empty.data).toMatchObject({ payload: '', payloadEncoding: 'utf8' });
  });
});
