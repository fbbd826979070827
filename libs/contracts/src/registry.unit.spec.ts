import { IsString } from 'class-validator';
import { ErrorCode } from '@flotilla/common';
import { decode, defineMessage, defineTopic, MAX_MESSAGE_BYTES } from './registry';
import { Topics } from './topics';

const valid = { type: 'SubmitRequest', version: 1, id: 'm1', data: { requestId: 'r1', tenantId: 'acme', question: 'Where is my order 1001?' } };
const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('decode: the validating factory at every consumer edge', () => {
  it('turns valid bytes into a typed message of the current version', () => {
    const r = decode(Topics.intake, bytes(valid));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.message.data).toEqual(expect.objectContaining({ requestId: 'r1', tenantId: 'acme' }));
  });

  it.each([
    ['empty value', null, ErrorCode.InvalidMessage, /empty message/],
    ['invalid JSON', Buffer.from('{"type":'), ErrorCode.InvalidMessage, /invalid JSON/],
    ['a JSON array', bytes([1, 2]), ErrorCode.InvalidMessage, /JSON object/],
    ['a missing envelope', bytes({ data: {} }), ErrorCode.InvalidMessage, /envelope/],
    ['an unknown type', bytes({ ...valid, type: 'LaunchMissiles' }), ErrorCode.UnknownMessageType, /unknown message type "LaunchMissiles"/],
    ['a newer version', bytes({ ...valid, version: 2 }), ErrorCode.UnknownMessageType, /newer than this consumer understands/],
    ['an older version without upcaster', bytes({ ...valid, version: 0 }), ErrorCode.UnknownMessageType, /no upcaster/],
    ['wrong types', bytes({ ...valid, data: { ...valid.data, question: 42 } }), ErrorCode.InvalidMessage, /question/],
    ['a missing field', bytes({ ...valid, data: { tenantId: 'acme', question: 'q' } }), ErrorCode.InvalidMessage, /requestId/],
    ['an unknown field', bytes({ ...valid, data: { ...valid.data, admin: true } }), ErrorCode.InvalidMessage, /admin/],
    ['a bad id', bytes({ ...valid, data: { ...valid.data, requestId: 'has spaces' } }), ErrorCode.InvalidMessage, /requestId/],
    ['a huge payload', Buffer.alloc(MAX_MESSAGE_BYTES + 1, 32), ErrorCode.PayloadTooLarge, /exceeds/],
  ])('rejects %s with a non-retryable error that says why', (_name, raw, code, reason) => {
    const r = decode(Topics.intake, raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe(code);
      expect(r.error.retryable).toBe(false);
      expect(r.error.message).toMatch(reason);
    }
  });

  it('lists field-level reasons', () => {
    const r = decode(Topics.intake, bytes({ ...valid, data: { requestId: 'a b', tenantId: 'acme', question: '' } }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.fields.map((f) => f.field).sort()).toEqual(['question', 'requestId']);
  });

  it('upcasts an old version through the chain beside the schema', () => {
    class GreetingV2 {
      @IsString() fullName!: string;
    }
    // v1 had `first` and `last`; v2 has `fullName`.
    const Greeting = defineMessage('Greeting', 2, GreetingV2, { 1: (d) => ({ fullName: `${String(d['first'])} ${String(d['last'])}` }) });
    const topic = defineTopic({ name: 't', partitions: 1, key: 'k', messages: [Greeting] });
    const r = decode(topic, bytes({ type: 'Greeting', version: 1, id: 'g', data: { first: 'Ada', last: 'Lovelace' } }));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.message.version).toBe(2);
      expect(r.message.data.fullName).toBe('Ada Lovelace');
    }
  });
});

describe('topics', () => {
  it('defines every wire name once, versioned, and workflow-keyed topics with one partition count', () => {
    const names = Object.values(Topics).map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^flotilla\.[a-z.-]+\.v\d+$/);
    const keyed = Object.values(Topics).filter((t) => t.key === 'workflowId');
    expect(new Set(keyed.map((t) => t.partitions)).size).toBe(1);
  });
});
