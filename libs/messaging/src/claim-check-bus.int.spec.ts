import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { ErrorCode, FlotillaError, waitFor } from '@flotilla/common';
import { decode, Headers, Messages, Topics } from '@flotilla/contracts';
// test/support is the repo's shared test harness, not an Nx project, so it has no package entry point.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { assertReachable, requireInfra } from '../../../test/support/infra';
import { CLAIM_CHECK_HEADER, ClaimCheckBus, ClaimReference, PayloadStore, resolveDeadLetterPayload } from './claim-check-bus';
import { KafkaMessageBus } from './kafka-bus';
import { IncomingMessage } from './port';
import { consume, deadLetter, on, outgoing } from './typed';

/*
 * Claim checks on the real Kafka broker of scripts/infra.sh, whose default max.message.bytes is
 * ~1 MB. The payload store is an in-memory one (the MongoDB store has its own suite): what this
 * suite proves is what the broker accepts. Topics live under a random namespace, deleted afterwards.
 * Without KAFKA_BROKERS (or with the broker unreachable) it FAILS — it never skips.
 */
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';

class MemoryPayloadStore implements PayloadStore {
  readonly blobs = new Map<string, Buffer>();
  async put(bytes: Buffer): Promise<string> {
    const id = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    this.blobs.set(id, Buffer.from(bytes));
    return id;
  }
  async get(id: string): Promise<Buffer | undefined> {
    return this.blobs.get(id);
  }
}

const NAMESPACE = `claims-${randomUUID().slice(0, 8)}.`;
const TIMEOUT_MS = 90_000;
let brokers: string[] = [];
let inner: KafkaMessageBus;
let bus: ClaimCheckBus;
const store = new MemoryPayloadStore();

beforeAll(async () => {
  brokers = requireInfra().kafkaBrokers.split(',').map((b) => b.trim()).filter(Boolean);
  await assertReachable(brokers[0]!, 'Kafka');
  inner = new KafkaMessageBus({ brokers, clientId: 'claims-int', namespace: NAMESPACE });
  bus = new ClaimCheckBus(inner, { store, thresholdBytes: 256 * 1024 });
  await bus.connect();
  await bus.ensureTopics([{ name: Topics.intake.name, partitions: 3 }, { name: Topics.deadLetters.name, partitions: 1 }, { name: 'blobs', partitions: 1 }]);
}, TIMEOUT_MS);

afterAll(async () => {
  await bus?.disconnect();
  const admin = new Kafka({ clientId: 'claims-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(NAMESPACE));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(NAMESPACE));
    if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}, TIMEOUT_MS);

/** The first `count` messages of a topic, read by a fresh group through `via`. */
async function readAll(via: KafkaMessageBus | ClaimCheckBus, topic: string, count: number): Promise<IncomingMessage[]> {
  const seen: IncomingMessage[] = [];
  const sub = await via.subscribe({ groupId: `reader-${randomUUID().slice(0, 8)}`, topics: [topic], fromBeginning: true, handler: async (m) => void seen.push(m) });
  try {
    await sub.ready;
    await waitFor(() => seen.length >= count, 30_000, `${count} message(s) on ${topic}`);
  } finally {
    await sub.stop();
  }
  return seen;
}

const dlqCount = async (): Promise<bigint> => (await bus.endOffsets(Topics.deadLetters.name)).get(0) ?? 0n;

describe('ClaimCheckBus on Kafka (max.message.bytes ~1 MB)', () => {
  it('the problem: the dead-letter record of a raw 0.9 MB poison message is refused by the broker without claim checks', async () => {
    const poison = randomBytes(900 * 1024); // binary: the record carries it as base64, ~1.2 MB
    const raw: IncomingMessage = { topic: Topics.intake.name, partition: 0, offset: '0', key: 'r', value: poison, headers: {}, timestamp: '0' };
    await expect(inner.publish([deadLetter(raw, 'g', new FlotillaError(ErrorCode.InvalidMessage, 'x'), 1)])).rejects.toThrow(/larger than the max message size/);
  }, TIMEOUT_MS);

  it('dead-letters a raw 0.9 MB poison message as a small record whose payload is retrievable, and the consumer goes on', async () => {
    const poison = randomBytes(900 * 1024);
    const before = await dlqCount();
    // Straight onto the topic, as an outside producer would: the broker takes 0.9 MB.
    await inner.publish([{ topic: Topics.intake.name, key: 'r-poison', value: poison, headers: { [Headers.tenantId]: 'acme' } }]);
    const good = outgoing(Topics.intake, Messages.SubmitRequest, 'r-poison', { requestId: 'r-ok', tenantId: 'acme', question: 'Where is my order 1001?' }, { tenantId: 'acme' });
    await inner.publish([good]);

    const handled: string[] = [];
    const sub = await consume(bus, { groupId: `svc-${randomUUID().slice(0, 8)}`, handlers: [on(Topics.intake, async (m) => void handled.push(m.data.requestId))] });
    try {
      await sub.ready;
      await waitFor(() => handled.includes('r-ok'), 60_000, 'the valid message after the poison one handled');
    } finally {
      await sub.stop();
    }
    expect(await dlqCount()).toBe(before + 1n);

    const records = await readAll(bus, Topics.deadLetters.name, Number(before) + 1);
    const record = records.at(-1)!;
    expect(record.value!.length).toBeLessThan(4096);
    const decoded = decode(Topics.deadLetters, record.value);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.message.data).toMatchObject({ sourceTopic: Topics.intake.name, key: 'r-poison', errorCode: ErrorCode.InvalidMessage });
    const reference = JSON.parse(decoded.message.data.payload) as ClaimReference;
    expect(reference).toEqual({ claimCheck: decoded.message.data.headers[CLAIM_CHECK_HEADER], bytes: poison.length });
    const resolved = await resolveDeadLetterPayload(bus, decoded.message.data);
    expect(resolved.payloadEncoding).toBe('base64');
    expect(Buffer.from(resolved.payload, 'base64').equals(poison)).toBe(true);
  }, TIMEOUT_MS);

  it('carries a 1.5 MB value by reference: the log holds a few bytes, a subscriber gets all of it back', async () => {
    const big = randomBytes(1.5 * 1024 * 1024);
    await bus.publish([{ topic: 'blobs', key: 'k', value: big, headers: { [Headers.tenantId]: 'acme' } }]);
    const [raw] = await readAll(inner, 'blobs', 1);
    expect(raw!.value!.length).toBeLessThan(200);
    expect(raw!.headers[CLAIM_CHECK_HEADER]).toMatch(/^sha256:/);
    const [resolved] = await readAll(bus, 'blobs', 1);
    expect(resolved!.value!.equals(big)).toBe(true);
    expect(resolved!.headers).toEqual({ [Headers.tenantId]: 'acme' });
  }, TIMEOUT_MS);

  it('dead-letters a claimed 1.5 MB message no consumer may decode (MAX_MESSAGE_BYTES) by reference, inside a transaction too', async () => {
    const before = await dlqCount();
    const big = Buffer.from(JSON.stringify({ type: 'SubmitRequest', version: 1, data: { pad: 'x'.repeat(1.5 * 1024 * 1024) } }));
    await bus.publish([{ topic: Topics.intake.name, key: 'r-big', value: big }]);
    const group = `exactly-once-${randomUUID().slice(0, 8)}`;
    const sub = await consume(bus, { groupId: group, autoCommit: false, handlers: [on(Topics.intake, async () => void 0)] });
    try {
      await sub.ready;
      await waitFor(async () => (await dlqCount()) >= before + 1n, 60_000, 'the oversized message dead-lettered');
    } finally {
      await sub.stop();
    }
    const records = await readAll(bus, Topics.deadLetters.name, Number(before) + 1);
    const decoded = decode(Topics.deadLetters, records.at(-1)!.value);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.message.data.errorCode).toBe(ErrorCode.PayloadTooLarge);
    const resolved = await resolveDeadLetterPayload(bus, decoded.message.data);
    expect(resolved).toMatchObject({ payloadEncoding: 'utf8', payload: big.toString('utf8') });
  }, TIMEOUT_MS);
});
