import { Admin, Consumer, Kafka, KafkaConfig, logLevel, Partitioners, Producer, SASLOptions } from 'kafkajs';
import { createLogger, deferred, ErrorCode, FlotillaError } from '@flotilla/common';
import { IncomingMessage, MessageBus, OutgoingMessage, SubscribeOptions, Subscription, TopicSpec } from './port';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /**
   * Prepended to every topic and consumer-group name on the broker, so several deployments (or
   * test runs) can share one cluster without seeing each other's messages. Empty by default.
   */
  namespace?: string;
}

const log = createLogger({ component: 'kafka-bus' });

/**
 * Retries an admin call while Kafka says retrying can help. Right after topics are created, a KRaft
 * broker can answer NOT_LEADER / UNKNOWN_TOPIC_OR_PARTITION for a moment while metadata settles.
 */
async function withRetries<T>(what: string, fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await fn();
    } catch (err) {
      const retriable = (err as { retriable?: unknown }).retriable === true;
      if (!retriable || Date.now() + delay > deadline) throw err;
      log.warn(`${what} failed; retrying`, { error: (err as Error).message, delayMs: delay });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function toHeaders(raw: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first.toString();
  }
  return out;
}

/** The production adapter: Apache Kafka through kafkajs (the only place kafkajs is imported). */
export class KafkaMessageBus implements MessageBus {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private producer!: Producer;
  private admin!: Admin;
  private readonly consumers = new Set<Consumer>();
  private connected = false;

  private readonly ns: string;

  constructor(options: KafkaBusOptions) {
    this.ns = options.namespace ?? '';
    const config: KafkaConfig = {
      clientId: options.clientId,
      brokers: options.brokers,
      ssl: options.ssl ?? false,
      logLevel: logLevel.WARN,
      retry: { initialRetryTime: 200, retries: 10 },
      logCreator: () => ({ namespace, level, log: entry }) => {
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) log.error(message, { namespace, ...rest });
        else if (level <= logLevel.WARN) log.warn(message, { namespace, ...rest });
      },
    };
    if (options.sasl) config.sasl = options.sasl as SASLOptions;
    this.kafka = new Kafka(config);
  }

  async connect(): Promise<void> {
    // Idempotent producer: broker-side dedup of retried sends, ordered per partition.
    // The Java-compatible murmur2 partitioner, which the embedded log mirrors (partitioner.ts).
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await this.producer.connect();
    this.producer.on(this.producer.events.DISCONNECT, () => {
      this.connected = false;
    });
    this.producer.on(this.producer.events.CONNECT, () => {
      this.connected = true;
    });
    this.connected = true;
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(this.ns + t.name));
    if (missing.length === 0) return;
    try {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: this.ns + t.name,
          numPartitions: t.partitions,
          replicationFactor: -1,
          configEntries: [{ name: 'cleanup.policy', value: t.cleanupPolicy ?? 'delete' }],
        })),
      });
    } catch (err) {
      // Another replica may have created them first, or (KRaft) the broker's metadata does not list
      // the new topics yet (UNKNOWN_TOPIC_OR_PARTITION); only fail if they are still missing after a while.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const now = new Set(await this.admin.listTopics());
        if (missing.every((t) => now.has(this.ns + t.name))) return;
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const m of messages) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m]);
    try {
      await this.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic.entries()].map(([topic, ms]) => ({
          topic: this.ns + topic,
          messages: ms.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
        })),
      });
    } catch (err) {
      throw new FlotillaError(ErrorCode.DependencyUnavailable, `publish to Kafka failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const offsets = await withRetries('fetching end offsets', () => this.admin.fetchTopicOffsets(this.ns + topic));
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const consumer = this.kafka.consumer({
      groupId: this.ns + options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 20_000,
      // Long-poll at most 1 s: data still arrives at once, and stop() need not wait out a 5 s fetch.
      maxWaitTimeInMs: 1_000,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    this.consumers.add(consumer);
    if (!options.fromBeginning) await this.startAtEnd(this.ns + options.groupId, options.topics.map((t) => this.ns + t));
    const ready = deferred<void>();
    consumer.on(consumer.events.GROUP_JOIN, () => ready.resolve());
    await consumer.connect();
    for (const topic of options.topics) await consumer.subscribe({ topic: this.ns + topic, fromBeginning: options.fromBeginning });
    await consumer.run({
      autoCommit: true,
      autoCommitInterval: 500,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 3,
      eachMessage: async ({ topic, partition, message }) => {
        const incoming: IncomingMessage = {
          topic: topic.slice(this.ns.length),
          partition,
          offset: message.offset,
          key: message.key ? message.key.toString() : null,
          value: message.value,
          headers: toHeaders(message.headers),
          timestamp: message.timestamp,
        };
        // A throw here leaves the offset uncommitted: kafkajs backs off and redelivers it.
        await options.handler(incoming);
      },
    });
    return {
      ready: ready.promise,
      stop: async () => {
        // disconnect() waits for in-flight eachMessage calls and commits their offsets.
        await consumer.disconnect();
        this.consumers.delete(consumer);
      },
    };
  }

  /**
   * A new group that starts "at the end" would, in kafkajs, resolve the end offset only at its first
   * fetch — after `ready` — and silently skip what was published in between. Committing the current
   * high-water marks for a group that has no offsets yet pins the start to now.
   */
  private async startAtEnd(groupId: string, topics: string[]): Promise<void> {
    for (const topic of topics) {
      const committed = await withRetries('fetching group offsets', () => this.admin.fetchOffsets({ groupId, topics: [topic] }));
      const fresh = committed.every((t) => t.partitions.every((p) => p.offset === '-1'));
      if (!fresh) continue;
      const ends = await withRetries('fetching end offsets', () => this.admin.fetchTopicOffsets(topic));
      await withRetries('setting group offsets', () => this.admin.setOffsets({ groupId, topic, partitions: ends.map((o) => ({ partition: o.partition, offset: o.high })) }));
    }
  }

  healthy(): boolean {
    return this.connected;
  }

  async disconnect(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((c) => c.disconnect()));
    this.consumers.clear();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
    this.connected = false;
  }
}
