/**
 * The messaging port: everything a service needs from a log-based broker and nothing more.
 * Delivery is at-least-once: an offset is committed only after its handler resolved, so a crash
 * redelivers; handlers must therefore be idempotent (they dedup by message/task id).
 */
export interface OutgoingMessage {
  topic: string;
  key: string;
  value: string | Buffer;
  headers?: Record<string, string>;
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

export interface SubscribeOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts: the beginning of the log, or its end. */
  fromBeginning: boolean;
  handler: (message: IncomingMessage) => Promise<void>;
  /** How many partitions are handled at once; order is kept within a partition. */
  partitionsConcurrently?: number;
}

export interface Subscription {
  /** Stops fetching, lets in-flight handlers finish, commits, and leaves the group. */
  stop(): Promise<void>;
  /** Resolves once the consumer has joined its group and been assigned partitions. */
  readonly ready: Promise<void>;
}

export interface MessageBus {
  /** `kafka` or `embedded`; for logs and readiness only — services never branch on it. */
  readonly kind: 'kafka' | 'embedded';
  connect(): Promise<void>;
  /** Creates missing topics with their explicit partition counts. */
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  publish(messages: OutgoingMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** The next offset to be written on each partition of a topic (the high-water mark). */
  endOffsets(topic: string): Promise<Map<number, bigint>>;
  /** True while connected and able to publish. */
  healthy(): boolean;
  disconnect(): Promise<void>;
}
