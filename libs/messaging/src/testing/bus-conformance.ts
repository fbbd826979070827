import { randomUUID } from 'node:crypto';
import { deferred, ErrorCode, FlotillaError, waitFor } from '@flotilla/common';
import { decode, DeadLetterRecordedV1, Headers, Messages, SubmitRequestV1, Topics } from '@flotilla/contracts';
import { connectBus } from '../factory';
import { partitionFor } from '../partitioner';
import { DeferDelivery, IncomingMessage, MessageBus, offsetAfter, OutgoingMessage, Subscription } from '../port';
import { consume, consumeBatches, on, onBatch, outgoing } from '../typed';

/**
 * The behaviours every MessageBus adapter must share, so services can run on the embedded log or on
 * Kafka without knowing which. `makeBus` returns a new, not yet connected bus whose topics are
 * invisible to every other bus it made (a fresh file, or a fresh Kafka namespace); `cleanup` removes
 * what it created once the bus is disconnected.
 *
 * Waits poll real conditions with a deadline (`waitFor`); the only timed pause is the observation
 * window that proves `stop()` has NOT returned while a handler is still running.
 */
export interface BusUnderTest {
  bus: MessageBus;
  cleanup(): Promise<void>;
}

const TEST_TIMEOUT_MS = 30_000;
const WAIT_MS = 20_000;

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

interface Seen {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  raw: Buffer | null;
  headers: Record<string, string>;
}

function toSeen(m: IncomingMessage): Seen {
  return {
    topic: m.topic, partition: m.partition, offset: Number(m.offset), key: m.key, value: m.value ? m.value.toString('utf8') : null, raw: m.value, headers: m.headers,
  };
}

async function sumOf(offsets: Promise<Map<number, bigint>>): Promise<number> {
  let total = 0;
  for (const v of (await offsets).values()) total += Number(v);
  return total;
}

async function waitForAsync(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function submit(requestId: string, tenantId = 'tenant-a'): SubmitRequestV1 {
  return { requestId, tenantId, question: `question of ${requestId}` };
}

export function runBusConformance(name: string, makeBus: () => Promise<BusUnderTest>): void {
  describe(`MessageBus conformance: ${name}`, () => {
    /** Everything a test opened, closed in reverse order after it (subscriptions before buses). */
    const subscriptions: Subscription[] = [];
    const buses: BusUnderTest[] = [];

    async function freshBus(): Promise<MessageBus> {
      const made = await makeBus();
      buses.push(made);
      await connectBus(made.bus);
      return made.bus;
    }

    async function track(subscription: Promise<Subscription>): Promise<Subscription> {
      const s = await subscription;
      subscriptions.push(s);
      await s.ready;
      return s;
    }

    /** Every dead-letter record published on `bus` from now on, decoded, appended to `into`. */
    async function collectDeadLetters(bus: MessageBus, into: DeadLetterRecordedV1[]): Promise<void> {
      await track(bus.subscribe({
        groupId: unique('dlq-reader'), topics: [Topics.deadLetters.name], fromBeginning: true,
        handler: async (m) => {
          const d = decode(Topics.deadLetters, m.value);
          if (!d.ok) throw d.error;
          into.push(d.message.data);
        },
      }));
    }

    async function freshTopic(bus: MessageBus, partitions: number): Promise<string> {
      const topic = unique('conf');
      await bus.ensureTopics([{ name: topic, partitions }]);
      return topic;
    }

    /** Subscribes a recording handler. */
    async function record(bus: MessageBus, groupId: string, topics: string[], fromBeginning = true): Promise<{ seen: Seen[]; sub: Subscription }> {
      const seen: Seen[] = [];
      const sub = await track(bus.subscribe({ groupId, topics, fromBeginning, handler: async (m) => void seen.push(toSeen(m)) }));
      return { seen, sub };
    }

    afterEach(async () => {
      await Promise.allSettled(subscriptions.splice(0).reverse().map((s) => s.stop()));
      for (const made of buses.splice(0).reverse()) {
        await made.bus.disconnect();
        await made.cleanup();
      }
    }, TEST_TIMEOUT_MS);

    describe('transport', () => {
      it('delivers everything published before a fromBeginning subscription, with key, value, headers and partition intact', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 3);
        const sent: OutgoingMessage[] = ['alpha', 'bravo', 'charlie', 'delta'].map((key, i) => ({
          topic, key, value: JSON.stringify({ n: i }), headers: { 'x-test': `h-${i}`, traceparent: `00-${i}` },
        }));
        sent.push({ topic, key: 'bytes', value: Buffer.from([0x00, 0xff, 0x10]) });
        await bus.publish(sent);

        const { seen } = await record(bus, unique('g'), [topic]);
        await waitFor(() => seen.length >= sent.length, WAIT_MS, `all ${sent.length} messages delivered (got ${seen.length})`);

        expect(seen).toHaveLength(sent.length);
        for (const m of sent.slice(0, 4)) {
          const got = seen.find((s) => s.key === m.key);
          expect(got).toMatchObject({
            topic, key: m.key, value: m.value, headers: m.headers,
            // The partition a key lands on is Kafka's murmur2 placement, the same on both adapters.
            partition: partitionFor(m.key, 3),
          });
        }
        const bytes = seen.find((s) => s.key === 'bytes');
        expect(bytes?.headers).toEqual({});
        expect(bytes?.raw).toEqual(Buffer.from([0x00, 0xff, 0x10]));
      }, TEST_TIMEOUT_MS);

      it('puts every message of a key on that key\'s partition and keeps their order', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 4);
        const keys = ['wf-1', 'wf-2', 'wf-3', 'wf-4', 'wf-5'];
        // Several publish calls, interleaving keys, so order must hold across batches too.
        for (let batch = 0; batch < 4; batch++) {
          await bus.publish(keys.flatMap((key) => [0, 1, 2].map((i) => ({ topic, key, value: String(batch * 3 + i) }))));
        }
        const total = keys.length * 12;

        const { seen } = await record(bus, unique('g'), [topic]);
        await waitFor(() => seen.length >= total, WAIT_MS, `all ${total} messages delivered (got ${seen.length})`);

        expect(seen).toHaveLength(total);
        for (const key of keys) {
          const ofKey = seen.filter((s) => s.key === key);
          expect(new Set(ofKey.map((s) => s.partition))).toEqual(new Set([partitionFor(key, 4)]));
          expect(ofKey.map((s) => Number(s.value))).toEqual([...Array(12).keys()]);
          const offsets = ofKey.map((s) => s.offset);
          expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
        }
      }, TEST_TIMEOUT_MS);

      it('with fromBeginning: false, a new group sees only what is published after it is ready', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 2);
        await bus.publish(['a', 'b', 'c', 'd'].map((key) => ({ topic, key, value: `old-${key}` })));

        const { seen } = await record(bus, unique('g'), [topic], false);
        await bus.publish(['a', 'b', 'c', 'd'].map((key) => ({ topic, key, value: `new-${key}` })));
        await waitFor(() => seen.length >= 4, WAIT_MS, `the 4 new messages delivered (got ${seen.length})`);

        expect(seen.map((s) => s.value).sort()).toEqual(['new-a', 'new-b', 'new-c', 'new-d']);
      }, TEST_TIMEOUT_MS);

      it('redelivers a message whose handler threw and never commits past it; the group resumes exactly there', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 2);
        const key = 'order-7';
        await bus.publish([0, 1, 2, 3, 4].map((i) => ({ topic, key, value: `m${i}` })));
        const group = unique('g');

        // 1. m2 always fails: it comes back again and again, and m3 is never handed out past it.
        const first: string[] = [];
        const sub1 = await track(bus.subscribe({
          groupId: group, topics: [topic], fromBeginning: true,
          handler: async (m) => {
            const v = m.value!.toString();
            first.push(v);
            if (v === 'm2') throw new FlotillaError(ErrorCode.DependencyUnavailable, 'downstream is down');
          },
        }));
        await waitFor(() => first.filter((v) => v === 'm2').length >= 2, WAIT_MS, `m2 redelivered after its handler threw (seen ${first.join(',')})`);
        await sub1.stop();
        expect(first.slice(0, 3)).toEqual(['m0', 'm1', 'm2']);
        expect(first.slice(2).every((v) => v === 'm2')).toBe(true);

        // 2. A new member of the same group starts at m2: m0 and m1 were committed, m2 was not.
        const second: string[] = [];
        const sub2 = await track(bus.subscribe({ groupId: group, topics: [topic], fromBeginning: true, handler: async (m) => void second.push(m.value!.toString()) }));
        await waitFor(() => second.includes('m4'), WAIT_MS, `m2..m4 delivered to the resumed group (seen ${second.join(',')})`);
        await sub2.stop();
        expect(second).toEqual(['m2', 'm3', 'm4']);

        // 3. And after a clean stop nothing that was handled is read again.
        await bus.publish([{ topic, key, value: 'm5' }]);
        const third: string[] = [];
        await track(bus.subscribe({ groupId: group, topics: [topic], fromBeginning: true, handler: async (m) => void third.push(m.value!.toString()) }));
        await waitFor(() => third.includes('m5'), WAIT_MS, `m5 delivered (seen ${third.join(',')})`);
        expect(third).toEqual(['m5']);
      }, TEST_TIMEOUT_MS);

      it('publishAndCommit: what a manual-commit consumer publishes and the offset it consumed move together', async () => {
        const bus = await freshBus();
        const input = await freshTopic(bus, 2);
        const output = await freshTopic(bus, 2);
        const group = unique('g');
        await bus.publish([0, 1, 2, 3, 4, 5].map((i) => ({ topic: input, key: `k${i}`, value: `in${i}` })));

        // in2 is consumed but its handler never commits: it must come back to the next member.
        const handled: string[] = [];
        const sub1 = await track(bus.subscribe({
          groupId: group, topics: [input], fromBeginning: true, autoCommit: false,
          handler: async (m) => {
            const v = m.value!.toString();
            handled.push(v);
            if (v === 'in2') return;
            await bus.publishAndCommit([{ topic: output, key: m.key!, value: v.replace('in', 'out') }], [offsetAfter(group, m)]);
          },
        }));
        await waitFor(() => handled.length >= 6, WAIT_MS, `all six handled (seen ${handled.join(',')})`);
        await sub1.stop();
        const committed = await bus.committedOffsets(group, input);
        const p2 = partitionFor('k2', 2);
        const perPartition = new Map<number, number>();
        for (let i = 0; i < 6; i++) perPartition.set(partitionFor(`k${i}`, 2), (perPartition.get(partitionFor(`k${i}`, 2)) ?? 0) + 1);
        // in2's partition committed only up to just before in2 unless a later message there committed past it.
        const afterIn2 = [3, 4, 5].some((i) => partitionFor(`k${i}`, 2) === p2);
        if (!afterIn2) expect(Number(committed.get(p2) ?? 0n)).toBeLessThan(perPartition.get(p2)!);

        const outputs = await record(bus, unique('reader'), [output]);
        await waitFor(() => outputs.seen.length >= 5, WAIT_MS, `five outputs (seen ${outputs.seen.length})`);
        expect(outputs.seen.map((m) => m.value).sort()).toEqual(['out0', 'out1', 'out3', 'out4', 'out5']);

        const again: string[] = [];
        await track(bus.subscribe({ groupId: group, topics: [input], fromBeginning: true, autoCommit: false, handler: async (m) => void again.push(m.value!.toString()) }));
        if (!afterIn2) await waitFor(() => again.includes('in2'), WAIT_MS, `in2 redelivered (seen ${again.join(',')})`);
        expect(again.filter((v) => v !== 'in2' && !afterIn2)).toEqual([]);
      }, TEST_TIMEOUT_MS);

      it('publishAndCommit commits offsets alone too, and of several positions for one partition keeps the furthest', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 1);
        const group = unique('g');
        // Kafka writes a transaction's offsets when its commit markers land, a moment after commit returns.
        const committedTo = async (n: bigint): Promise<boolean> => (await bus.committedOffsets(group, topic)).get(0) === n;
        await bus.publishAndCommit([], [{ groupId: group, topic, partition: 0, offset: '5' }]);
        await waitForAsync(() => committedTo(5n), 'offset 5 committed');
        await bus.publishAndCommit([{ topic, key: 'a', value: 'x' }], [{ groupId: group, topic, partition: 0, offset: '7' }, { groupId: group, topic, partition: 0, offset: '6' }]);
        await waitForAsync(() => committedTo(7n), 'offset 7 committed');
        expect(await bus.committedOffsets(group, topic)).toEqual(new Map([[0, 7n]]));
        // (Kafka's commit marker takes an offset of its own, so end offsets are not a message count here.)
        const reader = await record(bus, unique('reader'), [topic]);
        await waitFor(() => reader.seen.length >= 1, WAIT_MS, 'the published message is visible');
        expect(reader.seen.map((m) => m.value)).toEqual(['x']);
      }, TEST_TIMEOUT_MS);

      it('DeferDelivery pauses only its partition and delivers the same message again later', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 2);
        const slowKey = ['a', 'b', 'c', 'd', 'e'].find((k) => partitionFor(k, 2) === 0)!;
        const fastKey = ['a', 'b', 'c', 'd', 'e'].find((k) => partitionFor(k, 2) === 1)!;
        const dueAt = Date.now() + 1500;
        await bus.publish([{ topic, key: slowKey, value: 'later' }, { topic, key: slowKey, value: 'after-later' }]);
        const seen: { value: string; at: number }[] = [];
        let deferred = 0;
        await track(bus.subscribe({
          groupId: unique('g'), topics: [topic], fromBeginning: true,
          handler: async (m) => {
            const v = m.value!.toString();
            if (v === 'later' && Date.now() < dueAt) {
              deferred++;
              throw new DeferDelivery(dueAt - Date.now());
            }
            seen.push({ value: v, at: Date.now() });
          },
        }));
        await waitFor(() => deferred >= 1, WAIT_MS, 'the delayed message was offered once');
        await bus.publish([{ topic, key: fastKey, value: 'now' }]);
        await waitFor(() => seen.some((s) => s.value === 'after-later'), WAIT_MS, `the paused partition resumed (seen ${JSON.stringify(seen)})`);
        const order = seen.map((s) => s.value);
        // The other partition was not held up; the deferred one kept its order and was not skipped.
        expect(order.indexOf('now')).toBeLessThan(order.indexOf('later'));
        expect(order.filter((v) => v === 'later')).toHaveLength(1);
        expect(order.indexOf('later')).toBeLessThan(order.indexOf('after-later'));
        expect(seen.find((s) => s.value === 'later')!.at).toBeGreaterThanOrEqual(dueAt);
        expect(deferred).toBeLessThanOrEqual(3);
      }, TEST_TIMEOUT_MS);

      it('startAt positions a new group on given offsets', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 1);
        await bus.publish([0, 1, 2, 3].map((i) => ({ topic, key: 'k', value: `m${i}` })));
        const seen: string[] = [];
        await track(bus.subscribe({ groupId: unique('g'), topics: [topic], fromBeginning: true, startAt: { [topic]: { 0: '2' } }, handler: async (m) => void seen.push(m.value!.toString()) }));
        await waitFor(() => seen.length >= 2, WAIT_MS, `m2, m3 delivered (seen ${seen.join(',')})`);
        expect(seen).toEqual(['m2', 'm3']);
      }, TEST_TIMEOUT_MS);

      it('reports the end offset of each partition as the number of messages written to it', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 3);
        expect(await bus.endOffsets(topic)).toEqual(new Map([[0, 0n], [1, 0n], [2, 0n]]));

        const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k1', 'k1', 'k2'];
        await bus.publish(keys.map((key) => ({ topic, key, value: key })));
        await bus.publish([{ topic, key: 'k3', value: 'again' }]);

        const expected = new Map<number, bigint>([[0, 0n], [1, 0n], [2, 0n]]);
        for (const key of [...keys, 'k3']) {
          const p = partitionFor(key, 3);
          expected.set(p, expected.get(p)! + 1n);
        }
        expect(await bus.endOffsets(topic)).toEqual(expected);
      }, TEST_TIMEOUT_MS);

      it('gives every message to each of two different groups', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 3);
        const sent = [...Array(12).keys()].map((i) => ({ topic, key: `key-${i % 5}`, value: `v${i}` }));
        await bus.publish(sent);

        const a = await record(bus, unique('ga'), [topic]);
        const b = await record(bus, unique('gb'), [topic]);
        await waitFor(() => a.seen.length >= 12 && b.seen.length >= 12, WAIT_MS, `both groups got 12 (a=${a.seen.length}, b=${b.seen.length})`);

        const values = sent.map((m) => m.value).sort();
        expect(a.seen.map((s) => s.value).sort()).toEqual(values);
        expect(b.seen.map((s) => s.value).sort()).toEqual(values);
      }, TEST_TIMEOUT_MS);

      it('stop() waits for an in-flight handler to finish and commits what it handled', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 1);
        const group = unique('g');
        const started = deferred<void>();
        const release = deferred<void>();
        const handled: string[] = [];
        const sub = await track(bus.subscribe({
          groupId: group, topics: [topic], fromBeginning: true,
          handler: async (m) => {
            const v = m.value!.toString();
            if (v === 'slow') {
              started.resolve();
              await release.promise;
            }
            handled.push(v);
          },
        }));
        await bus.publish([{ topic, key: 'k', value: 'slow' }, { topic, key: 'k', value: 'next' }]);
        await started.promise;

        let stopped = false;
        let handledWhenStopped: string[] = [];
        const stopping = sub.stop().then(() => {
          stopped = true;
          handledWhenStopped = [...handled];
        });
        // Observation window: a stop() that does not wait for the handler would return within it.
        await new Promise((r) => setTimeout(r, 300));
        expect(stopped).toBe(false);
        release.resolve();
        await stopping;
        expect(handledWhenStopped[0]).toBe('slow');

        // What the stopped member handled was committed: the group does not see it again.
        const { seen } = await record(bus, group, [topic]);
        const rest = ['slow', 'next'].slice(handledWhenStopped.length);
        if (rest.length > 0) await waitFor(() => seen.length >= rest.length, WAIT_MS, `the unhandled rest delivered (${seen.length}/${rest.length})`);
        await bus.publish([{ topic, key: 'k', value: 'marker' }]);
        await waitFor(() => seen.some((s) => s.value === 'marker'), WAIT_MS, 'marker delivered');
        expect(seen.map((s) => s.value)).toEqual([...rest, 'marker']);
      }, TEST_TIMEOUT_MS);
    });

    describe('batch delivery (batchHandler)', () => {
      it('hands consecutive messages of one partition, in offset order and at most maxBatchSize at once, and commits them after the batch', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 3);
        const keys = ['wf-1', 'wf-2', 'wf-3', 'wf-4'];
        await bus.publish(keys.flatMap((key) => [0, 1, 2, 3, 4, 5].map((i) => ({ topic, key, value: `${key}:${i}` }))));
        const group = unique('g');
        const batches: Seen[][] = [];
        const sub = await track(bus.subscribe({ groupId: group, topics: [topic], fromBeginning: true, maxBatchSize: 4, batchHandler: async (ms) => void batches.push(ms.map(toSeen)) }));
        await waitFor(() => batches.flat().length >= 24, WAIT_MS, `all 24 messages delivered (got ${batches.flat().length})`);
        await sub.stop();

        for (const batch of batches) {
          expect(batch.length).toBeGreaterThanOrEqual(1);
          expect(batch.length).toBeLessThanOrEqual(4);
          expect(new Set(batch.map((m) => m.partition)).size).toBe(1);
          expect(batch.map((m) => m.offset)).toEqual(batch.map((_, i) => batch[0]!.offset + i));
        }
        const all = batches.flat();
        expect(all).toHaveLength(24);
        for (const key of keys) expect(all.filter((m) => m.key === key).map((m) => m.value)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${key}:${i}`));
        // The whole partition arrived in batches of four where it could (24 messages, 3 partitions).
        expect(batches.length).toBeLessThan(24);

        // Committed: the group's next member gets only what is new.
        await bus.publish([{ topic, key: 'wf-1', value: 'wf-1:new' }]);
        const again: string[] = [];
        await track(bus.subscribe({ groupId: group, topics: [topic], fromBeginning: true, batchHandler: async (ms) => void again.push(...ms.map((m) => m.value!.toString())) }));
        await waitFor(() => again.includes('wf-1:new'), WAIT_MS, `the new message delivered (seen ${again.join(',')})`);
        expect(again).toEqual(['wf-1:new']);
      }, TEST_TIMEOUT_MS);

      it('redelivers a whole batch whose handler threw and commits nothing of it', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 1);
        await bus.publish([0, 1, 2, 3, 4].map((i) => ({ topic, key: 'k', value: `m${i}` })));
        const group = unique('g');
        const calls: string[][] = [];
        const sub1 = await track(bus.subscribe({
          groupId: group, topics: [topic], fromBeginning: true,
          batchHandler: async (ms) => {
            calls.push(ms.map((m) => m.value!.toString()));
            throw new FlotillaError(ErrorCode.DependencyUnavailable, 'the read model is down');
          },
        }));
        await waitFor(() => calls.length >= 2, WAIT_MS, `the failed batch delivered again (calls ${JSON.stringify(calls)})`);
        await sub1.stop();
        // The same batch, from its first message, every time.
        for (const call of calls) expect(call[0]).toBe('m0');

        const second: string[] = [];
        await track(bus.subscribe({ groupId: group, topics: [topic], fromBeginning: true, batchHandler: async (ms) => void second.push(...ms.map((m) => m.value!.toString())) }));
        await waitFor(() => second.includes('m4'), WAIT_MS, `all delivered to the next member (seen ${second.join(',')})`);
        expect(second).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      }, TEST_TIMEOUT_MS);

      it('refuses a subscription with both handlers or neither', async () => {
        const bus = await freshBus();
        const topic = await freshTopic(bus, 1);
        await expect(bus.subscribe({ groupId: unique('g'), topics: [topic], fromBeginning: true })).rejects.toMatchObject({ code: ErrorCode.ConfigInvalid });
        await expect(bus.subscribe({ groupId: unique('g'), topics: [topic], fromBeginning: true, handler: async () => undefined, batchHandler: async () => undefined }))
          .rejects.toMatchObject({ code: ErrorCode.ConfigInvalid });
      }, TEST_TIMEOUT_MS);
    });

    describe('consumeBatches() with validation at the edge and dead-lettering', () => {
      const intake = Topics.intake;

      async function batchHarness(handle: (requestIds: string[]) => Promise<void>): Promise<{ bus: MessageBus; handled: string[]; batches: string[][]; deadLetters: DeadLetterRecordedV1[]; group: string }> {
        const bus = await freshBus();
        const group = unique('svc');
        const handled: string[] = [];
        const batches: string[][] = [];
        const deadLetters: DeadLetterRecordedV1[] = [];
        await collectDeadLetters(bus, deadLetters);
        await track(consumeBatches(bus, {
          groupId: group,
          handlers: [onBatch(intake, async (items) => {
            const ids = items.map((i) => i.message.data.requestId);
            batches.push(ids);
            await handle(ids);
            handled.push(...ids);
          })],
        }));
        return { bus, handled, batches, deadLetters, group };
      }

      const valid = (requestId: string, key: string): OutgoingMessage => outgoing(intake, Messages.SubmitRequest, key, submit(requestId), { tenantId: 'tenant-a' });

      it('dead-letters the invalid messages of a batch with their reason and hands the rest on in order', async () => {
        const h = await batchHarness(async () => undefined);
        const key = unique('req');
        await h.bus.publish([valid(`${key}-a`, key), { topic: intake.name, key, value: 'not json' }, valid(`${key}-b`, key), { topic: intake.name, key, value: '' }, valid(`${key}-c`, key)]);
        await waitFor(() => h.handled.includes(`${key}-c`), WAIT_MS, `the last valid message handled (handled ${h.handled.join(',')})`);
        await waitFor(() => h.deadLetters.length >= 2, WAIT_MS, `2 dead letters read (got ${h.deadLetters.length})`);

        expect(h.handled).toEqual([`${key}-a`, `${key}-b`, `${key}-c`]);
        expect(h.deadLetters.map((d) => ({ offset: d.offset, reason: d.reason, consumerGroup: d.consumerGroup })).sort((a, b) => Number(a.offset) - Number(b.offset))).toEqual([
          { offset: '1', reason: expect.stringMatching(/invalid JSON/) as unknown, consumerGroup: h.group },
          { offset: '3', reason: expect.stringMatching(/empty message/) as unknown, consumerGroup: h.group },
        ]);
      }, TEST_TIMEOUT_MS);

      it('singles out a message the handler refuses: it is dead-lettered, every other message of the batch is handled in order', async () => {
        const h = await batchHarness(async (ids) => {
          if (ids.some((id) => id.endsWith('-poison'))) throw new FlotillaError(ErrorCode.InvalidMessage, 'this one can never be projected', { retryable: false });
        });
        const key = unique('req');
        const ids = ['a', 'b', 'poison', 'c', 'd'].map((s) => `${key}-${s}`);
        await h.bus.publish(ids.map((id) => valid(id, key)));
        await waitFor(() => h.handled.includes(`${key}-d`), WAIT_MS, `the last message handled (handled ${h.handled.join(',')})`);
        await waitFor(() => h.deadLetters.length >= 1, WAIT_MS, 'the poison message dead-lettered');

        expect(h.handled).toEqual(ids.filter((id) => !id.endsWith('-poison')));
        expect(h.deadLetters).toHaveLength(1);
        expect(h.deadLetters[0]).toMatchObject({ offset: '2', key, reason: 'this one can never be projected', errorCode: ErrorCode.InvalidMessage, attempts: 1, consumerGroup: h.group });
        // The batch was tried whole first (one write for many messages), and only then one by one.
        expect(h.batches[0]!.length).toBeGreaterThan(1);
      }, TEST_TIMEOUT_MS);
    });

    describe('consume() with validation at the edge and dead-lettering', () => {
      const intake = Topics.intake;

      interface Harness {
        bus: MessageBus;
        handled: string[];
        deadLetters: DeadLetterRecordedV1[];
        group: string;
      }

      /**
       * A fresh bus (so the shared Flotilla topics start empty), a typed consumer on the intake topic
       * and a reader of the dead-letter topic.
       */
      async function harness(options: {
        handle?: (data: SubmitRequestV1) => Promise<void>;
        maxAttempts?: number;
        wrap?: (bus: MessageBus) => MessageBus;
      } = {}): Promise<Harness> {
        const bus = await freshBus();
        const group = unique('svc');
        const handled: string[] = [];
        const deadLetters: DeadLetterRecordedV1[] = [];
        await collectDeadLetters(bus, deadLetters);
        await track(consume(options.wrap ? options.wrap(bus) : bus, {
          groupId: group,
          maxAttempts: options.maxAttempts,
          handlers: [on(intake, async (message) => {
            await options.handle?.(message.data);
            handled.push(message.data.requestId);
          })],
        }));
        return { bus, handled, deadLetters, group };
      }

      function valid(requestId: string, key: string): OutgoingMessage {
        return outgoing(intake, Messages.SubmitRequest, key, submit(requestId), { tenantId: 'tenant-a' });
      }

      function envelope(overrides: Record<string, unknown>): string {
        return JSON.stringify({ type: 'SubmitRequest', version: 1, id: 'msg_1', data: submit('req-x'), metadata: { occurredAt: new Date().toISOString() }, ...overrides });
      }

      /** Waits until `requestId` was handled, then for exactly `count` dead letters. */
      async function settle(h: Harness, requestId: string, count: number): Promise<void> {
        await waitFor(() => h.handled.includes(requestId), WAIT_MS, `${requestId} handled (handled: ${h.handled.join(',')})`);
        // The dead letters of earlier messages on the partition were written before it was handled.
        expect(await sumOf(h.bus.endOffsets(Topics.deadLetters.name))).toBe(count);
        await waitFor(() => h.deadLetters.length >= count, WAIT_MS, `${count} dead letters read (got ${h.deadLetters.length})`);
      }

      const invalidCases: { what: string; value: string | Buffer; errorCode: ErrorCode; reason: RegExp; payload?: string; encoding?: 'utf8' | 'base64' }[] = [
        { what: 'invalid JSON', value: '{"type": "SubmitRequest", ', errorCode: ErrorCode.InvalidMessage, reason: /invalid JSON/ },
        {
          what: 'data that fails the schema',
          value: envelope({ data: { requestId: 'not a valid id!', tenantId: 'tenant-a', question: '' } }),
          errorCode: ErrorCode.InvalidMessage,
          reason: /SubmitRequest v1 failed validation: .*requestId: requestId must be .*question: /,
        },
        { what: 'an unknown message type', value: envelope({ type: 'DeleteEverything' }), errorCode: ErrorCode.UnknownMessageType, reason: /unknown message type "DeleteEverything" on flotilla\.intake\.v1/ },
        { what: 'a newer version than the consumer knows', value: envelope({ version: 2 }), errorCode: ErrorCode.UnknownMessageType, reason: /SubmitRequest version 2 is newer than this consumer understands \(1\)/ },
        { what: 'an empty value', value: '', errorCode: ErrorCode.InvalidMessage, reason: /empty message/ },
        {
          what: 'bytes that are not text', value: Buffer.from([0xff, 0xfe, 0x00, 0x01]), errorCode: ErrorCode.InvalidMessage, reason: /invalid JSON/,
          payload: Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64'), encoding: 'base64',
        },
      ];

      it.each(invalidCases)('dead-letters $what with its reason and keeps consuming the partition', async (c) => {
        const h = await harness();
        const key = unique('req');
        await h.bus.publish([
          { topic: intake.name, key, value: c.value, headers: { [Headers.workflowId]: 'wf-9', [Headers.tenantId]: 'tenant-a' } },
          valid(`${key}-ok`, key),
        ]);
        await settle(h, `${key}-ok`, 1);

        expect(h.handled).toEqual([`${key}-ok`]);
        expect(h.deadLetters).toHaveLength(1);
        const dl = h.deadLetters[0]!;
        expect(dl).toMatchObject({
          sourceTopic: intake.name, partition: partitionFor(key, intake.partitions), offset: '0', key,
          headers: { [Headers.workflowId]: 'wf-9', [Headers.tenantId]: 'tenant-a' },
          payload: c.payload ?? (typeof c.value === 'string' ? c.value : c.value.toString('utf8')),
          payloadEncoding: c.encoding ?? 'utf8',
          errorCode: c.errorCode, attempts: 1, consumerGroup: h.group, workflowId: 'wf-9',
        });
        expect(dl.reason).toMatch(c.reason);
      }, TEST_TIMEOUT_MS);

      it('dead-letters a run of different invalid messages in order and then handles the valid one behind them', async () => {
        const h = await harness();
        const key = unique('req');
        await h.bus.publish([...invalidCases.map((c) => ({ topic: intake.name, key, value: c.value })), valid(`${key}-ok`, key)]);
        await settle(h, `${key}-ok`, invalidCases.length);

        expect(h.handled).toEqual([`${key}-ok`]);
        expect(h.deadLetters.map((d) => d.offset)).toEqual(invalidCases.map((_, i) => String(i)));
        expect(h.deadLetters.map((d) => d.errorCode)).toEqual(invalidCases.map((c) => c.errorCode));
      }, TEST_TIMEOUT_MS);

      it('dead-letters after one attempt when the handler throws a non-retryable error', async () => {
        const calls = new Map<string, number>();
        const h = await harness({
          maxAttempts: 4,
          handle: async (data) => {
            calls.set(data.requestId, (calls.get(data.requestId) ?? 0) + 1);
            if (data.requestId.endsWith('-bad')) throw new FlotillaError(ErrorCode.ToolFailed, 'the carrier API rejected the order');
          },
        });
        const key = unique('req');
        await h.bus.publish([valid(`${key}-bad`, key), valid(`${key}-ok`, key)]);
        await settle(h, `${key}-ok`, 1);

        expect(calls.get(`${key}-bad`)).toBe(1);
        expect(h.handled).toEqual([`${key}-ok`]);
        expect(h.deadLetters[0]).toMatchObject({
          sourceTopic: intake.name, offset: '0', key, errorCode: ErrorCode.ToolFailed, reason: 'the carrier API rejected the order', attempts: 1, consumerGroup: h.group,
        });
      }, TEST_TIMEOUT_MS);

      it.each([
        { what: 'a retryable FlotillaError', error: (): Error => new FlotillaError(ErrorCode.DependencyUnavailable, 'inventory service is down'), errorCode: ErrorCode.DependencyUnavailable, reason: 'inventory service is down' },
        { what: 'a plain Error (treated as retryable INTERNAL)', error: (): Error => new Error('socket hang up'), errorCode: ErrorCode.Internal, reason: 'socket hang up' },
      ])('retries $what up to maxAttempts, then dead-letters it with attempts = maxAttempts', async (c) => {
        const calls = new Map<string, number>();
        const h = await harness({
          maxAttempts: 3,
          handle: async (data) => {
            calls.set(data.requestId, (calls.get(data.requestId) ?? 0) + 1);
            if (data.requestId.endsWith('-bad')) throw c.error();
          },
        });
        const key = unique('req');
        await h.bus.publish([valid(`${key}-bad`, key), valid(`${key}-ok`, key)]);
        await settle(h, `${key}-ok`, 1);

        expect(calls.get(`${key}-bad`)).toBe(3);
        expect(h.handled).toEqual([`${key}-ok`]);
        expect(h.deadLetters[0]).toMatchObject({ offset: '0', key, errorCode: c.errorCode, reason: c.reason, attempts: 3, consumerGroup: h.group });
      }, TEST_TIMEOUT_MS);

      it('handles a message whose retryable failure clears on a later attempt, without dead-lettering it', async () => {
        const calls = new Map<string, number>();
        const h = await harness({
          maxAttempts: 3,
          handle: async (data) => {
            const n = (calls.get(data.requestId) ?? 0) + 1;
            calls.set(data.requestId, n);
            if (data.requestId.endsWith('-flaky') && n < 2) throw new FlotillaError(ErrorCode.Timeout, 'slow dependency');
          },
        });
        const key = unique('req');
        await h.bus.publish([valid(`${key}-flaky`, key), valid(`${key}-ok`, key)]);
        await settle(h, `${key}-ok`, 0);

        expect(calls.get(`${key}-flaky`)).toBe(2);
        expect(h.handled).toEqual([`${key}-flaky`, `${key}-ok`]);
        expect(h.deadLetters).toEqual([]);
      }, TEST_TIMEOUT_MS);

      it('redelivers a poison message when its dead-letter record cannot be written, instead of dropping it', async () => {
        let dlqWrites = 0;
        const h = await harness({
          wrap: (bus) => ({
            kind: bus.kind,
            connect: () => bus.connect(),
            ensureTopics: (t) => bus.ensureTopics(t),
            subscribe: (o) => bus.subscribe(o),
            endOffsets: (t) => bus.endOffsets(t),
            healthy: () => bus.healthy(),
            disconnect: () => bus.disconnect(),
            publish: async (ms) => {
              if (ms.some((m) => m.topic === Topics.deadLetters.name) && ++dlqWrites === 1) {
                throw new FlotillaError(ErrorCode.DependencyUnavailable, 'dead-letter topic unavailable');
              }
              await bus.publish(ms);
            },
          }),
        });
        const key = unique('req');
        await h.bus.publish([{ topic: intake.name, key, value: 'not json' }, valid(`${key}-ok`, key)]);
        await settle(h, `${key}-ok`, 1);

        expect(dlqWrites).toBe(2);
        expect(h.handled).toEqual([`${key}-ok`]);
        expect(h.deadLetters[0]).toMatchObject({ offset: '0', payload: 'not json', errorCode: ErrorCode.InvalidMessage });
      }, TEST_TIMEOUT_MS);
    });
  });
}
