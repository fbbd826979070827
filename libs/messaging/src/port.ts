import { ErrorCode, FlotillaError } from '@flotilla/common';
import type { Lane } from '@flotilla/contracts';

/**
 * The messaging port: everything a service needs from a log-based broker and nothing more.
 * Delivery is at-least-once: an offset is committed only after its handler resolved, so a crash
 * redelivers; handlers must therefore be idempotent (they dedup by message/task id). A consumer that
 * publishes what it consumed into can make that step exactly-once with `publishAndCommit`.
 */
export interface OutgoingMessage {
  topic: string;
  key: string;
  value: string | Buffer;
  headers?: Record<string, string>;
}

export interface CommitOptions {
  /**
   * The lane of the work being committed (default `interactive`). Kafka runs each lane's
   * transactions on a transactional producer of its own, so a chat transition never waits behind a
   * batch transaction (in flight or queued); the embedded log commits every lane the same way.
   * All the offsets of one consumer group must be committed in one lane, so they only move forward.
   */
  lane?: Lane;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  cleanupPolicy?: 'delete' | 'compact';
}

/** A consumer group's position after a message: `offset` is the next offset the group will read. */
export interface OffsetCommit {
  groupId: string;
  topic: string;
  partition: number;
  offset: string;
}

/** The commit that marks `message` consumed by `groupId`. */
export const offsetAfter = (groupId: string, message: Pick<IncomingMessage, 'topic' | 'partition' | 'offset'>): OffsetCommit => ({
  groupId, topic: message.topic, partition: message.partition, offset: (BigInt(message.offset) + 1n).toString(),
});

/**
 * Thrown by a handler that cannot take a message YET (a delayed message not yet due): the adapter
 * pauses that one partition for `ms` and then delivers the same message again. Nothing is committed
 * past it and no other partition waits — the consumer never sleeps on it.
 */
export class DeferDelivery extends Error {
  constructor(readonly ms: number) {
    super(`delivery deferred by ${ms} ms`);
    this.name = 'DeferDelivery';
  }
}

export interface SubscribeOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts: the beginning of the log, or its end. */
  fromBeginning: boolean;
  /**
   * Where a group with no committed offset starts on given partitions (topic → partition → offset),
   * overriding `fromBeginning` there — e.g. just after a snapshot.
   */
  startAt?: Record<string, Record<number, string>>;
  /** Handles one message at a time. Exactly one of `handler` and `batchHandler` is given. */
  handler?: (message: IncomingMessage) => Promise<void>;
  /**
   * Handles consecutive messages of ONE partition at once, in offset order (at most `maxBatchSize`).
   * The batch's offsets are committed only after it resolved; a throw redelivers the whole batch
   * (a `DeferDelivery` pauses the partition first), so the handler must be idempotent over a
   * replayed batch. For consumers whose cost is per write, not per message (read-model projectors).
   */
  batchHandler?: (messages: IncomingMessage[]) => Promise<void>;
  /** The most messages one `batchHandler` call gets (default 500). */
  maxBatchSize?: number;
  /** How many partitions are handled at once; order is kept within a partition. */
  partitionsConcurrently?: number;
  /**
   * How much one fetch reads per partition (Kafka; the client's default, 1 MiB, when absent). Small
   * for consumers that defer (DeferDelivery): each look after a pause fetches again from the
   * deferred message, and all that was read past it is decoded and dropped.
   */
  maxBytesPerPartition?: number;
  /**
   * `true` (the default): the adapter commits a message's offset once its handler resolved.
   * `false`: the adapter never commits; the handler commits with `publishAndCommit`, atomically
   * with what it publishes (exactly-once consume → produce).
   */
  autoCommit?: boolean;
  /**
   * The work lane of every message of this subscription (default `interactive`). Within one
   * process, a batch subscription's messages are handled after interactive work (embedded mode: see
   * LaneTurns); consumers of shared topics stay `interactive` whatever a message's `flotilla-lane`
   * header says (a chat message must not wait behind batch turns on its partition). Kafka consumers
   * ignore it: lanes there are separate topics and consumer groups.
   */
  lane?: Lane;
}

/** The default of `SubscribeOptions.maxBatchSize`. */
export const DEFAULT_MAX_BATCH_SIZE = 500;

/**
 * How a subscription delivers: one message at a time, or in batches. Adapters call this once in
 * `subscribe`; naming neither handler, or both, is a programming error no retry fixes.
 */
export function deliveryOf(options: SubscribeOptions):
  | { kind: 'each'; handler: (message: IncomingMessage) => Promise<void> }
  | { kind: 'batch'; handler: (messages: IncomingMessage[]) => Promise<void>; maxBatchSize: number } {
  if (options.handler && !options.batchHandler) return { kind: 'each', handler: options.handler };
  if (options.batchHandler && !options.handler) {
    const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new FlotillaError(ErrorCode.ConfigInvalid, `maxBatchSize must be a positive integer, got ${maxBatchSize}`, { retryable: false });
    return { kind: 'batch', handler: options.batchHandler, maxBatchSize };
  }
  throw new FlotillaError(ErrorCode.ConfigInvalid, `subscription ${options.groupId} must give exactly one of handler and batchHandler`, { retryable: false });
}

export interface Subscription {
  /** Stops fetching, lets in-flight handlers finish, commits, and leaves the group. */
  stop(): Promise<void>;
  /** Resolves once the consumer has joined its group and been assigned partitions. */
  readonly ready: Promise<void>;
}

/** Several subscriptions as one: ready once all are, stopped together. */
export function allSubscriptions(subscriptions: readonly Subscription[]): Subscription {
  return {
    ready: Promise.all(subscriptions.map((s) => s.ready)).then(() => undefined),
    stop: async () => {
      await Promise.all(subscriptions.map((s) => s.stop()));
    },
  };
}

export interface MessageBus {
  /** `kafka` or `embedded`; for logs and readiness only — services never branch on it. */
  readonly kind: 'kafka' | 'embedded';
  connect(): Promise<void>;
  /** Creates missing topics with their explicit partition counts. */
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  publish(messages: OutgoingMessage[]): Promise<void>;
  /**
   * Publishes `messages` and commits `offsets` atomically: consumers (read-committed) see the
   * messages if and only if the offsets moved. Kafka: a transaction with sendOffsets; embedded: one
   * SQLite transaction. Concurrent calls may be grouped into one transaction (group commit).
   */
  publishAndCommit(messages: OutgoingMessage[], offsets: OffsetCommit[], options?: CommitOptions): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** The next offset to be written on each partition of a topic (the high-water mark). */
  endOffsets(topic: string): Promise<Map<number, bigint>>;
  /**
   * A group's committed offset on each partition of a topic; partitions it never committed are absent.
   * On Kafka, offsets committed in a transaction show here only once its markers land, a moment after
   * `publishAndCommit` resolves: poll when the latest value matters.
   */
  committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>>;
  /** True while connected and able to publish. */
  healthy(): boolean;
  disconnect(): Promise<void>;
}
