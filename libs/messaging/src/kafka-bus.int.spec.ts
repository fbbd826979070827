import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { waitFor } from '@flotilla/common';
// test/support is the repo's shared test harness, not an Nx project, so it has no package entry point.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { assertReachable, requireInfra } from '../../../test/support/infra';
import { coordinatorLookups } from './coordinator-cache';
import { KafkaMessageBus } from './kafka-bus';
import { runBusConformance } from './testing/bus-conformance';

/*
 * The conformance suite against the real Kafka broker of scripts/infra.sh. Every bus gets its own
 * namespace under this file's random prefix, so its topics and groups never meet another run's; they
 * are deleted again after each test. Without KAFKA_BROKERS (or with an unreachable broker) every test
 * FAILS with the reason — this suite never skips.
 */
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';

const FILE_NAMESPACE = `conf-${randomUUID().slice(0, 8)}`;
let brokers: string[] = [];
let counter = 0;

beforeAll(async () => {
  brokers = requireInfra().kafkaBrokers.split(',').map((b) => b.trim()).filter(Boolean);
  await assertReachable(brokers[0]!, 'Kafka');
});

/** Deletes the topics and consumer groups of one namespace (best effort: the broker may be busy). */
async function dropNamespace(namespace: string): Promise<void> {
  const admin = new Kafka({ clientId: 'conformance-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(namespace));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(namespace));
    if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

runBusConformance('Kafka (kafkajs)', async () => {
  if (brokers.length === 0) throw new Error('KAFKA_BROKERS is not set: run `bash scripts/infra.sh up && eval "$(bash scripts/infra.sh env)"` (this suite does not skip)');
  const namespace = `${FILE_NAMESPACE}-${++counter}.`;
  return {
    bus: new KafkaMessageBus({ brokers, clientId: `conformance-${counter}`, namespace }),
    cleanup: () => dropNamespace(namespace),
  };
});

/** A connected bus in a namespace of its own with `topics` (one partition count each), dropped afterwards. */
async function withBus(suffix: string, topics: Record<string, number>, fn: (bus: KafkaMessageBus) => Promise<void>): Promise<void> {
  const namespace = `${FILE_NAMESPACE}-${suffix}.`;
  const bus = new KafkaMessageBus({ brokers, clientId: suffix, namespace });
  await bus.connect();
  try {
    await bus.ensureTopics(Object.entries(topics).map(([name, partitions]) => ({ name, partitions })));
    await fn(bus);
  } finally {
    await bus.disconnect();
    await dropNamespace(namespace);
  }
}

describe('Kafka transactions per lane', () => {
  it('a chat transition is not queued behind the batch lane, and each lane commits its own group', async () => {
    await withBus('lanes', { in: 1, out: 1 }, async (bus) => {
      const order: string[] = [];
      // 2,000 batch transitions: at most 500 go into one transaction, so they take four or more in a row.
      const batch = Array.from({ length: 2_000 }, (_, i) => bus.publishAndCommit(
        [{ topic: 'out', key: `b${i}`, value: 'x'.repeat(1_000) }],
        [{ groupId: 'g-batch', topic: 'in', partition: 0, offset: String(i + 1) }],
        { lane: 'batch' },
      ).then(() => void order.push(`b${i}`)));
      const chat = bus.publishAndCommit([{ topic: 'out', key: 'chat', value: 'c' }], [{ groupId: 'g-chat', topic: 'in', partition: 0, offset: '1' }], { lane: 'interactive' })
        .then(() => void order.push('chat'));
      await Promise.all([...batch, chat]);
      // One queue would have put the chat transition after every batch one queued before it.
      expect(order.indexOf('chat')).toBeLessThan(order.indexOf('b1999'));
      expect(order).toHaveLength(2_001);
      // Kafka applies a transaction's offsets when its commit markers land, a moment after the commit
      // returns (kafkajs cannot ask OffsetFetch for stable offsets), so read them until they settle.
      const settled = async (group: string, want: bigint): Promise<boolean> => (await bus.committedOffsets(group, 'in')).get(0) === want;
      await waitFor(() => settled('g-batch', 2_000n), 10_000, 'batch offsets applied');
      await waitFor(() => settled('g-chat', 1n), 10_000, 'chat offsets applied');
      expect(await bus.committedOffsets('g-batch', 'in')).toEqual(new Map([[0, 2_000n]]));
      expect(await bus.committedOffsets('g-chat', 'in')).toEqual(new Map([[0, 1n]]));
    });
  }, 60_000);
});

describe('coordinator lookups (coordinator-cache.ts)', () => {
  it('back-to-back transactions do not ask the broker for their coordinators each time, and still commit', async () => {
    await withBus('coord', { in: 2, out: 2 }, async (bus) => {
      await bus.publishAndCommit([{ topic: 'out', key: 'warm', value: 'x' }], [{ groupId: 'g', topic: 'in', partition: 0, offset: '1' }]);
      const asked = coordinatorLookups.asked;
      const remembered = coordinatorLookups.remembered;
      for (let i = 0; i < 30; i++) {
        await bus.publishAndCommit([{ topic: 'out', key: `k${i}`, value: 'x' }], [{ groupId: 'g', topic: 'in', partition: i % 2, offset: String(i + 2) }]);
      }
      // kafkajs as shipped asks four times per transaction (120 here); remembered, ~none.
      expect(coordinatorLookups.asked - asked).toBeLessThanOrEqual(2);
      expect(coordinatorLookups.remembered - remembered).toBeGreaterThanOrEqual(100);
      await waitFor(async () => (await bus.committedOffsets('g', 'in')).get(1) === 31n, 10_000, 'offsets applied');
      expect((await bus.committedOffsets('g', 'in')).get(0)).toBe(30n);
    });
  }, 60_000);
});
