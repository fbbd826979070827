import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, waitFor } from '@flotilla/common';
import { decode, DeadLetterRecordedV1, Headers, Messages, Topics } from '@flotilla/contracts';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { CLAIM_CHECK_HEADER, ClaimCheckBus, ClaimReference, PayloadStore, resolveDeadLetterPayload } from './claim-check-bus';
import { EmbeddedMessageBus } from './embedded-bus';
import { IncomingMessage, offsetAfter } from './port';
import { consume, on, outgoing } from './typed';

/** A content-addressed payload store in memory, with a switch to make it unreachable. */
class MemoryPayloadStore implements PayloadStore {
  readonly blobs = new Map<string, Buffer>();
  readonly metas: { topic?: string; tenantId?: string; workflowId?: string }[] = [];
  down = false;
  async put(bytes: Buffer, meta?: { topic?: string; tenantId?: string; workflowId?: string }): Promise<string> {
    if (this.down) throw new Error('store down');
    const id = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    this.blobs.set(id, Buffer.from(bytes));
    this.metas.push(meta ?? {});
    return id;
  }
  async get(id: string): Promise<Buffer | undefined> {
    if (this.down) throw new Error('store down');
    return this.blobs.get(id);
  }
}

const THRESHOLD = 1024;
const total = (offsets: Map<number, bigint>): bigint => [...offsets.values()].reduce((a, b) => a + b, 0n);
const TOPIC = 'blobs';

interface Fixture {
  inner: EmbeddedMessageBus;
  bus: ClaimCheckBus;
  store: MemoryPayloadStore;
  cleanup(): Promise<void>;
}

async function fixture(thresholdBytes = THRESHOLD): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-claims-'));
  const file = join(dir, 'flotilla.db');
  const inner = new EmbeddedMessageBus(file);
  const store = new MemoryPayloadStore();
  const bus = new ClaimCheckBus(inner, { store, thresholdBytes });
  await bus.connect();
  await bus.ensureTopics([{ name: TOPIC, partitions: 2 }, { name: Topics.intake.name, partitions: 2 }, { name: Topics.deadLetters.name, partitions: 1 }]);
  return {
    inner, bus, store,
    cleanup: async () => {
      await bus.disconnect();
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Everything on `topics` as the given bus delivers it, until `count` arrived. */
async function read(bus: { subscribe: EmbeddedMessageBus['subscribe'] }, topics: string[], count: number, group = `g-${randomBytes(4).toString('hex')}`): Promise<IncomingMessage[]> {
  const seen: IncomingMessage[] = [];
  const sub = await bus.subscribe({ groupId: group, topics, fromBeginning: true, handler: async (m) => void seen.push(m) });
  try {
    await waitFor(() => seen.length >= count, 5_000, `${count} messages on ${topics.join(',')}`);
  } finally {
    await sub.stop();
  }
  return seen;
}

describe('ClaimCheckBus over the embedded log', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await fixture();
  });
  afterEach(() => f.cleanup());

  it('publishes a value of exactly the threshold as it is, and one byte more by reference', async () => {
    const atLimit = Buffer.alloc(THRESHOLD, 'a');
    const over = Buffer.alloc(THRESHOLD + 1, 'b');
    await f.bus.publish([{ topic: TOPIC, key: 'k', value: atLimit }, { topic: TOPIC, key: 'k', value: over, headers: { [Headers.tenantId]: 't1', [Headers.workflowId]: 'wf1' } }]);

    const raw = await read(f.inner, [TOPIC], 2);
    expect(raw[0]!.value).toEqual(atLimit);
    expect(raw[0]!.headers[CLAIM_CHECK_HEADER]).toBeUndefined();
    const id = raw[1]!.headers[CLAIM_CHECK_HEADER]!;
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.parse(raw[1]!.value!.toString()) as ClaimReference).toEqual({ claimCheck: id, bytes: THRESHOLD + 1 });
    expect(raw[1]!.headers[Headers.tenantId]).toBe('t1');
    expect(f.store.metas).toEqual([{ topic: TOPIC, tenantId: 't1', workflowId: 'wf1' }]);

    // Through the decorator the handler sees the original value, without the claim header.
    const resolved = await read(f.bus, [TOPIC], 2);
    expect(resolved.map((m) => m.value)).toEqual([atLimit, over]);
    expect(resolved[1]!.headers).toEqual({ [Headers.tenantId]: 't1', [Headers.workflowId]: 'wf1' });
  });

  it('measures string values in UTF-8 bytes, not characters', async () => {
    const text = 'é'.repeat(THRESHOLD / 2 + 1); // THRESHOLD/2 + 1 characters, THRESHOLD + 2 bytes
    await f.bus.publish([{ topic: TOPIC, key: 'k', value: text }]);
    const [raw] = await read(f.inner, [TOPIC], 1);
    expect(raw!.headers[CLAIM_CHECK_HEADER]).toBeDefined();
    const [resolved] = await read(f.bus, [TOPIC], 1);
    expect(resolved!.value!.toString('utf8')).toBe(text);
  });

  it('claims large values in publishAndCommit too, and commits the offsets with them', async () => {
    const big = randomBytes(THRESHOLD * 3);
    await f.bus.publishAndCommit([{ topic: TOPIC, key: 'k', value: big }], [{ groupId: 'g1', topic: TOPIC, partition: 1, offset: '7' }]);
    expect(await f.bus.committedOffsets('g1', TOPIC)).toEqual(new Map([[1, 7n]]));
    const [raw] = await read(f.inner, [TOPIC], 1);
    expect(raw!.value!.length).toBeLessThan(200);
    const [resolved] = await read(f.bus, [TOPIC], 1);
    expect(resolved!.value).toEqual(big);
  });

  it('publishes nothing when the payload cannot be stored, and says retrying can help', async () => {
    f.store.down = true;
    await expect(f.bus.publish([{ topic: TOPIC, key: 'k', value: Buffer.alloc(THRESHOLD + 1) }])).rejects.toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
    expect(await f.bus.endOffsets(TOPIC)).toEqual(new Map([[0, 0n], [1, 0n]]));
  });

  it('dead-letters a reference whose payload is gone, with the reason, and goes on with the next message', async () => {
    await f.bus.publish([{ topic: TOPIC, key: 'k', value: Buffer.alloc(THRESHOLD + 1, 'x'), headers: { [Headers.tenantId]: 't1' } }]);
    f.store.blobs.clear();
    await f.bus.publish([{ topic: TOPIC, key: 'k', value: 'small and fine' }]);

    const handled: string[] = [];
    const sub = await f.bus.subscribe({ groupId: 'reader', topics: [TOPIC], fromBeginning: true, handler: async (m) => void handled.push(m.value!.toString()) });
    await waitFor(() => handled.length === 1, 5_000, 'the next message handled');
    await sub.stop();
    expect(handled).toEqual(['small and fine']);
    expect(total(await f.bus.committedOffsets('reader', TOPIC))).toBe(2n);

    const [dlq] = await read(f.bus, [Topics.deadLetters.name], 1);
    const decoded = decode(Topics.deadLetters, dlq!.value);
    if (!decoded.ok) throw decoded.error;
    const data: DeadLetterRecordedV1 = decoded.message.data;
    expect(data).toMatchObject({ sourceTopic: TOPIC, consumerGroup: 'reader', errorCode: ErrorCode.InvalidMessage, attempts: 1 });
    expect(data.reason).toMatch(/^claim check sha256:[0-9a-f]{64} is not in the payload store/);
    // The record keeps the reference, so the message can be replayed once the payload is restored.
    expect(data.headers[CLAIM_CHECK_HEADER]).toMatch(/^sha256:/);
    expect(data.headers[Headers.tenantId]).toBe('t1');
  });

  it('commits a dead-lettered reference atomically on a manual-commit subscription', async () => {
    await f.bus.publish([{ topic: TOPIC, key: 'k', value: Buffer.alloc(THRESHOLD + 1, 'x') }]);
    f.store.blobs.clear();
    let called = 0;
    const sub = await f.bus.subscribe({
      groupId: 'manual', topics: [TOPIC], fromBeginning: true, autoCommit: false, handler: async (m) => {
        called++;
        await f.bus.publishAndCommit([], [offsetAfter('manual', m)]);
      },
    });
    await waitFor(async () => total(await f.bus.committedOffsets('manual', TOPIC)) === 1n, 5_000, 'the dead letter committed the offset');
    await sub.stop();
    expect(called).toBe(0);
    expect((await f.bus.endOffsets(Topics.deadLetters.name)).get(0)).toBe(1n);
  });

  it('redelivers, rather than dead-letters, while the payload store is unreachable', async () => {
    const big = Buffer.alloc(THRESHOLD + 1, 'z');
    await f.bus.publish([{ topic: TOPIC, key: 'k', value: big }]);
    f.store.down = true;
    const handled: Buffer[] = [];
    const sub = await f.bus.subscribe({ groupId: 'patient', topics: [TOPIC], fromBeginning: true, handler: async (m) => void handled.push(m.value!) });
    await new Promise((r) => setTimeout(r, 300));
    expect(handled).toEqual([]);
    f.store.down = false;
    await waitFor(() => handled.length === 1, 5_000, 'delivered once the store is back');
    await sub.stop();
    expect(handled[0]).toEqual(big);
    expect(await f.bus.endOffsets(Topics.deadLetters.name)).toEqual(new Map([[0, 0n]]));
  });

  it('dead-letters a 2 MB poison message as a small record whose payload is retrievable in full', async () => {
    const poison = randomBytes(2 * 1024 * 1024); // not JSON, not even UTF-8: recorded as base64
    await f.inner.publish([{ topic: Topics.intake.name, key: 'r-huge', value: poison, headers: { [Headers.tenantId]: 'acme' } }]);
    const handled: unknown[] = [];
    const sub = await consume(f.bus, { groupId: 'intake-reader', handlers: [on(Topics.intake, async (m) => void handled.push(m))] });
    await waitFor(async () => (await f.bus.endOffsets(Topics.deadLetters.name)).get(0) === 1n, 10_000, 'the poison message dead-lettered');
    await sub.stop();
    expect(handled).toEqual([]);

    // On the log, and for every consumer, the record is small and valid: its payload is a reference.
    const [record] = await read(f.bus, [Topics.deadLetters.name], 1);
    expect(record!.value!.length).toBeLessThan(2000);
    const decoded = decode(Topics.deadLetters, record!.value);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.message.type).toBe(Messages.DeadLetterRecorded.type);
    expect(decoded.message.id).toMatch(/^dlq_flotilla\.intake\.v1_\d+_0$/);
    expect(decoded.message.metadata.tenantId).toBe('acme');
    const data = decoded.message.data;
    expect(data).toMatchObject({ sourceTopic: Topics.intake.name, payloadEncoding: 'utf8', errorCode: ErrorCode.PayloadTooLarge });
    const id = data.headers[CLAIM_CHECK_HEADER]!;
    expect(JSON.parse(data.payload) as ClaimReference).toEqual({ claimCheck: id, bytes: poison.length });
    expect(f.store.metas.at(-1)).toEqual({ topic: Topics.intake.name, tenantId: 'acme', workflowId: undefined });

    // For the review inbox: resolved to the original bytes (base64, as the record of a binary payload).
    const resolved = await resolveDeadLetterPayload(f.bus, data);
    expect(resolved.payloadEncoding).toBe('base64');
    expect(Buffer.from(resolved.payload, 'base64').equals(poison)).toBe(true);
    expect(resolved.headers).toEqual({ [Headers.tenantId]: 'acme' });
    // Too large to copy, or gone: the reference stays, nothing throws.
    expect(await resolveDeadLetterPayload(f.bus, data, 1024)).toBe(data);
    f.store.blobs.clear();
    expect(await resolveDeadLetterPayload(f.bus, data)).toBe(data);
  });

  it('dead-letters a claimed message its handler rejects, keeping the same claim as the record\'s payload', async () => {
    const text = JSON.stringify({ type: 'SubmitRequest', version: 1, id: 'm1', data: { requestId: 'r-2', tenantId: 'acme', question: 'q'.repeat(THRESHOLD * 4) } });
    await f.bus.publish([{ topic: Topics.intake.name, key: 'r-2', value: text, headers: { [Headers.tenantId]: 'acme' } }]);
    const [raw] = await read(f.inner, [Topics.intake.name], 1);
    const claim = raw!.headers[CLAIM_CHECK_HEADER]!;
    const sub = await consume(f.bus, { groupId: 'strict', handlers: [on(Topics.intake, async () => void 0)] });
    await waitFor(async () => (await f.bus.endOffsets(Topics.deadLetters.name)).get(0) === 1n, 10_000, 'dead-lettered (question too long)');
    await sub.stop();
    const [record] = await read(f.bus, [Topics.deadLetters.name], 1);
    const decoded = decode(Topics.deadLetters, record!.value);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.message.data.headers[CLAIM_CHECK_HEADER]).toBe(claim);
    expect(f.store.blobs.size).toBe(1); // content-addressed: the same bytes are stored once
    const resolved = await resolveDeadLetterPayload(f.bus, decoded.message.data);
    expect(resolved).toMatchObject({ payload: text, payloadEncoding: 'utf8' });
  });

  it('round-trips a large valid message through consume() to a typed handler', async () => {
    const message = outgoing(Topics.intake, Messages.SubmitRequest, 'r-1', { requestId: 'r-1', tenantId: 'acme', question: 'Where is my order 1001?', sessionId: 's'.repeat(100) }, { tenantId: 'acme' });
    const small = new ClaimCheckBus(f.inner, { store: f.store, thresholdBytes: 64 });
    await small.publish([message]);
    const seen: string[] = [];
    const sub = await consume(small, { groupId: 'typed', handlers: [on(Topics.intake, async (m) => void seen.push(m.data.requestId))] });
    await waitFor(() => seen.length === 1, 5_000, 'typed delivery');
    await sub.stop();
    expect(seen).toEqual(['r-1']);
  });
});

describe('ClaimCheckBus with claim checks off', () => {
  it('passes every message through unchanged at threshold 0', async () => {
    const f = await fixture(0);
    try {
      const big = randomBytes(64 * 1024);
      await f.bus.publish([{ topic: TOPIC, key: 'k', value: big }]);
      const [raw] = await read(f.inner, [TOPIC], 1);
      expect(raw!.value).toEqual(big);
      expect(f.store.blobs.size).toBe(0);
    } finally {
      await f.cleanup();
    }
  });
});
