import { randomUUID } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { Admin, Consumer, Kafka, KafkaConfig, KafkaMessage, logLevel, Partitioners, Producer, SASLOptions } from 'kafkajs';
import { createLogger, deferred, ErrorCode, FlotillaError } from '@flotilla/common';
import type { Lane } from '@flotilla/contracts';
import { rememberCoordinators } from './coordinator-cache';
import { CommitOptions, DeferDelivery, deliveryOf, IncomingMessage, MessageBus, OffsetCommit, OutgoingMessage, SubscribeOptions, Subscription, TopicSpec } from './port';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /** TLS to the brokers: `true` for the system CAs, or Node TLS options (a CA bundle, client cert and key). */
  ssl?: boolean | ConnectionOptions;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /**
   * Prepended to every topic and consumer-group name on the broker, so several deployments (or
   * test runs) can share one cluster without seeing each other's messages. Empty by default.
   */
  namespace?: string;
  /**
   * The transactional id of this process's transactional producers: the interactive lane's is this
   * id, the batch lane's this id + `.batch`. A stable id per replica (a StatefulSet pod name) lets
   * the broker fence a zombie predecessor; unique per process by default.
   */
  transactionalId?: string;
  /**
   * kafkajs retries inside a transaction (default: from 20 ms, doubling to 5 s, 15 times). Only
   * benchmarks set it, to compare with the client's defaults.
   */
  transactionRetry?: { initialRetryTime: number; maxRetryTime?: number; retries: number };
  /**
   * Keep coordinator lookups until a request to the coordinator fails (coordinator-cache.ts; on by
   * default). It patches kafkajs for the whole process, so the first bus created decides.
   */
  cacheCoordinators?: boolean;
}

interface PendingTransaction {
  messages: OutgoingMessage[];
  offsets: OffsetCommit[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One lane's transactions: its own transactional producer and group-commit queue. */
interface TransactionLane {
  transactionalId: string;
  producer?: Promise<Producer>;
  queue: PendingTransaction[];
  running: boolean;
}

/**
 * Retries inside a transaction (kafkajs's own retrier): start at 5 ms and double up to 5 s; about
 * 40 s in all, longer than a broker restart's leader election. The common retry is the next
 * transaction's first request meeting CONCURRENT_TRANSACTIONS while the broker writes the previous
 * commit's markers, which takes a few milliseconds on a healthy broker: with coordinator lookups
 * cached (coordinator-cache.ts) nothing else sits between two transactions, and a 20 ms first retry
 * (the Java producer's) made a back-to-back transaction wait ~20 ms for markers done in ~5
 * (bench/kafka-transactions.ts `coordinators`).
 */
const TX_RETRY = { initialRetryTime: 5, maxRetryTime: 5_000, retries: 17 };

/** kafkajs's text for CONCURRENT_TRANSACTIONS (the previous commit's markers are still being written). */
const EXPECTED_RETRY = /another concurrent operation on the same transaction/;

/** At most this many callers' work goes into one transaction. */
const MAX_GROUP_COMMIT = 500;

const log = createLogger({ component: 'kafka-bus' });

/**
 * Retries an admin call while Kafka says retrying can help. Right after topics are created, a KRaft
 * broker can answer NOT_LEADER / UNKNOWN_TOPIC_OR_PARTITION for a moment while metadata settles.
 */
async function withRetries<T>(what: string, fn: () => Promise<T>, timeoutMs = 20_000, firstDelayMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = firstDelayMs; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await fn();
    } catch (err) {
      const retriable = (err as { retriable?: unknown }).retriable === true;
      if (!retriable || Date.now() + delay > deadline) throw err;
      log[delay < 100 ? 'debug' : 'warn'](`${what} failed; retrying`, { error: (err as Error).message, delayMs: delay });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** `err` marked retriable for withRetries (the cause kept). */
function retriable(err: unknown): Error {
  return Object.assign(new Error((err as Error).message, { cause: err }), { retriable: true });
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
  private readonly txLanes: Record<Lane, TransactionLane>;
  private readonly transactionRetry: NonNullable<KafkaBusOptions['transactionRetry']>;

  constructor(options: KafkaBusOptions) {
    this.ns = options.namespace ?? '';
    const transactionalId = this.ns + (options.transactionalId ?? `${options.clientId}-${randomUUID()}`);
    this.txLanes = {
      interactive: { transactionalId, queue: [], running: false },
      batch: { transactionalId: `${transactionalId}.batch`, queue: [], running: false },
    };
    this.transactionRetry = options.transactionRetry ?? TX_RETRY;
    const config: KafkaConfig = {
      clientId: options.clientId,
      brokers: options.brokers,
      ssl: options.ssl ?? false,
      logLevel: logLevel.WARN,
      retry: { initialRetryTime: 200, retries: 10 },
      logCreator: () => ({ namespace, level, log: entry }) => {
        const { message, ...rest } = entry;
        // CONCURRENT_TRANSACTIONS right after a commit is expected and retried in ~20 ms (TX_RETRY):
        // kafkajs reports each at ERROR, which would bury real errors.
        if (EXPECTED_RETRY.test(String(rest['error'] ?? message))) log.debug(message, { namespace, ...rest });
        else if (level <= logLevel.ERROR) log.error(message, { namespace, ...rest });
        else if (level <= logLevel.WARN) log.warn(message, { namespace, ...rest });
      },
    };
    if (options.sasl) config.sasl = options.sasl as SASLOptions;
    this.kafka = new Kafka(config);
    if (options.cacheCoordinators !== false) rememberCoordinators();
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
    try {
      await this.producer.sendBatch({ acks: -1, topicMessages: this.topicMessages(messages) });
    } catch (err) {
      throw new FlotillaError(ErrorCode.DependencyUnavailable, `publish to Kafka failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Group commit: callers queue their messages and offsets; one transaction at a time takes everything
   * queued so far (a transactional producer runs one transaction at a time), so concurrent partitions
   * share the cost of a commit instead of waiting in line for one each. Each lane has a producer and
   * a queue of its own: a chat transition is never queued behind a batch transaction, nor waits for
   * one in flight (ADR 0013).
   */
  publishAndCommit(messages: OutgoingMessage[], offsets: OffsetCommit[], options: CommitOptions = {}): Promise<void> {
    const lane = this.txLanes[options.lane ?? 'interactive'];
    return new Promise<void>((resolve, reject) => {
      lane.queue.push({ messages, offsets, resolve, reject });
      void this.drainTransactions(lane);
    });
  }

  private async drainTransactions(lane: TransactionLane): Promise<void> {
    if (lane.running) return;
    lane.running = true;
    try {
      while (lane.queue.length > 0) {
        const batch = lane.queue.splice(0, MAX_GROUP_COMMIT);
        try {
          // CONCURRENT_TRANSACTIONS (the previous commit's markers still being written) and other
          // retriable answers: abort, back off briefly, and run the transaction again.
          await withRetries('committing a transaction', () => this.commitTransaction(lane, batch), 15_000, 20);
          for (const b of batch) b.resolve();
        } catch (err) {
          const error = new FlotillaError(ErrorCode.DependencyUnavailable, `Kafka transaction failed: ${(err as Error).message}`, { cause: err });
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      lane.running = false;
    }
  }

  private transactionalProducer(lane: TransactionLane): Promise<Producer> {
    lane.producer ??= (async () => {
      const producer = this.kafka.producer({
        transactionalId: lane.transactionalId, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner, transactionTimeout: 30_000,
        // A transaction that starts right after the previous commit finds the broker still writing
        // that commit's markers and gets CONCURRENT_TRANSACTIONS; the markers take milliseconds, so
        // retry after ~20 ms as the Java producer does (KAFKA-5477), not after the client's 200 ms —
        // with back-to-back transitions that default cost 200–600 ms per coordinator decision.
        retry: this.transactionRetry,
      });
      await producer.connect();
      return producer;
    })();
    const pending = lane.producer;
    // A producer that failed to connect is not kept: the next transaction tries a new one.
    pending.catch(() => {
      if (lane.producer === pending) lane.producer = undefined;
    });
    return pending;
  }

  /**
   * Drops a lane's transactional producer: the next transaction connects a new one, whose
   * initTransactions (same transactional id) fences this one and aborts what it left open.
   */
  private async replaceProducer(lane: TransactionLane): Promise<void> {
    const broken = lane.producer;
    lane.producer = undefined;
    await broken?.then((p) => p.disconnect()).catch(() => undefined);
  }

  private async commitTransaction(lane: TransactionLane, batch: PendingTransaction[]): Promise<void> {
    const producer = await this.transactionalProducer(lane);
    let transaction: Awaited<ReturnType<Producer['transaction']>>;
    try {
      transaction = await producer.transaction();
    } catch (err) {
      // The producer cannot begin (its transaction state is stuck, e.g. ABORTING after an abort the
      // broker never answered): a new producer can.
      await this.replaceProducer(lane);
      throw retriable(err);
    }
    try {
      const messages = batch.flatMap((b) => b.messages);
      if (messages.length > 0) await transaction.sendBatch({ acks: -1, topicMessages: this.topicMessages(messages) });
      // The highest position per group/topic/partition: offsets only move forward.
      const positions = new Map<string, Map<string, Map<number, bigint>>>();
      for (const o of batch.flatMap((b) => b.offsets)) {
        const byTopic = positions.get(o.groupId) ?? new Map<string, Map<number, bigint>>();
        const byPartition = byTopic.get(o.topic) ?? new Map<number, bigint>();
        const offset = BigInt(o.offset);
        if ((byPartition.get(o.partition) ?? -1n) < offset) byPartition.set(o.partition, offset);
        byTopic.set(o.topic, byPartition);
        positions.set(o.groupId, byTopic);
      }
      for (const [groupId, byTopic] of positions) {
        await transaction.sendOffsets({
          consumerGroupId: this.ns + groupId,
          topics: [...byTopic].map(([topic, parts]) => ({
            topic: this.ns + topic,
            partitions: [...parts].map(([partition, offset]) => ({ partition, offset: offset.toString() })),
          })),
        });
      }
      await transaction.commit();
    } catch (err) {
      const aborted = await transaction.abort().then(() => true, () => false);
      if (aborted && (err as { retriable?: unknown }).retriable === true) throw err;
      // A producer whose transaction failed for good (fenced, timed out) is replaced — and so is one
      // whose abort failed (a broker restart): kafkajs leaves it in ABORTING, refusing every later
      // transaction. Nothing of this one was committed, so the batch is tried again on the new one.
      await this.replaceProducer(lane);
      throw aborted ? err : retriable(err);
    }
  }

  private topicMessages(messages: OutgoingMessage[]): { topic: string; messages: { key: string; value: string | Buffer; headers?: Record<string, string> }[] }[] {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const m of messages) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m]);
    return [...byTopic.entries()].map(([topic, ms]) => ({
      topic: this.ns + topic,
      messages: ms.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
    }));
  }

  async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const committed = await withRetries('fetching group offsets', () => this.admin.fetchOffsets({ groupId: this.ns + groupId, topics: [this.ns + topic] }));
    const out = new Map<number, bigint>();
    for (const t of committed) for (const p of t.partitions) if (p.offset !== '-1') out.set(p.partition, BigInt(p.offset));
    return out;
  }

  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const offsets = await withRetries('fetching end offsets', () => this.admin.fetchTopicOffsets(this.ns + topic));
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const delivery = deliveryOf(options);
    const consumer = this.kafka.consumer({
      groupId: this.ns + options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 20_000,
      // Long-poll at most 1 s: data still arrives at once, and stop() need not wait out a 5 s fetch.
      maxWaitTimeInMs: 1_000,
      ...(options.maxBytesPerPartition ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 5_000 },
    });
    this.consumers.add(consumer);
    await this.positionNewGroup(options);
    const ready = deferred<void>();
    consumer.on(consumer.events.GROUP_JOIN, () => ready.resolve());
    await consumer.connect();
    for (const topic of options.topics) await consumer.subscribe({ topic: this.ns + topic, fromBeginning: options.fromBeginning });
    const autoCommit = options.autoCommit ?? true;
    const resumeTimers = new Set<NodeJS.Timeout>();
    await consumer.run({
      autoCommit,
      autoCommitInterval: 500,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 3,
      // Message by message (or slice by slice for a batch consumer), like eachMessage, but a deferred
      // message can pause its partition without being resolved: the fetch position stays on it, so it
      // is fetched again after the pause.
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause }) => {
        const toIncoming = (message: KafkaMessage): IncomingMessage => ({
          topic: batch.topic.slice(this.ns.length),
          partition: batch.partition,
          offset: message.offset,
          key: message.key ? message.key.toString() : null,
          value: message.value,
          headers: toHeaders(message.headers),
          timestamp: message.timestamp,
        });
        // A batch consumer gets the fetched batch in slices of at most maxBatchSize; otherwise a
        // slice is one message. Each slice is resolved (and so committable) only once handled.
        const size = delivery.kind === 'batch' ? delivery.maxBatchSize : 1;
        for (let i = 0; i < batch.messages.length; i += size) {
          if (!isRunning() || isStale()) return;
          const slice = batch.messages.slice(i, i + size);
          try {
            // A throw here leaves the offsets unresolved: kafkajs backs off and redelivers them.
            if (delivery.kind === 'batch') await delivery.handler(slice.map(toIncoming));
            else await delivery.handler(toIncoming(slice[0]!));
          } catch (err) {
            if (!(err instanceof DeferDelivery)) throw err;
            const resume = pause();
            const timer = setTimeout(() => {
              resumeTimers.delete(timer);
              resume();
            }, Math.max(1, err.ms));
            resumeTimers.add(timer);
            return;
          }
          resolveOffset(slice[slice.length - 1]!.offset);
          await heartbeat();
          if (autoCommit) await commitOffsetsIfNecessary();
        }
      },
    });
    return {
      ready: ready.promise,
      stop: async () => {
        for (const timer of resumeTimers) clearTimeout(timer);
        // disconnect() waits for in-flight handlers and (auto-commit) commits their offsets.
        await consumer.disconnect();
        this.consumers.delete(consumer);
      },
    };
  }

  /**
   * Where a group with no committed offsets starts. A new group that starts "at the end" would, in
   * kafkajs, resolve the end offset only at its first fetch — after `ready` — and silently skip what
   * was published in between; committing the current high-water marks pins the start to now. Explicit
   * start positions (`startAt`, e.g. after a snapshot) are committed the same way.
   */
  private async positionNewGroup(options: SubscribeOptions): Promise<void> {
    const groupId = this.ns + options.groupId;
    for (const name of options.topics) {
      const topic = this.ns + name;
      const startAt = options.startAt?.[name];
      if (options.fromBeginning && !startAt) continue;
      const committed = await withRetries('fetching group offsets', () => this.admin.fetchOffsets({ groupId, topics: [topic] }));
      const fresh = committed.every((t) => t.partitions.every((p) => p.offset === '-1'));
      if (!fresh) continue;
      const ends = await withRetries('fetching end offsets', () => this.admin.fetchTopicOffsets(topic));
      const partitions = ends.map((o) => ({
        partition: o.partition,
        offset: startAt?.[o.partition] ?? (options.fromBeginning ? o.low : o.high),
      }));
      await withRetries('setting group offsets', () => this.admin.setOffsets({ groupId, topic, partitions }));
    }
  }

  healthy(): boolean {
    return this.connected;
  }

  async disconnect(): Promise<void> {
    await Promise.allSettled([...this.consumers].map((c) => c.disconnect()));
    this.consumers.clear();
    await this.producer?.disconnect();
    for (const lane of Object.values(this.txLanes)) {
      await lane.producer?.then((p) => p.disconnect()).catch(() => undefined);
      lane.producer = undefined;
    }
    await this.admin?.disconnect();
    this.connected = false;
  }
}
