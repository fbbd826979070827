import { createLogger, ErrorCode, FlotillaError, Logger, newId } from '@flotilla/common';
import {
  decode, DeadLetterRecordedV1, encode, Envelope, Headers, MessageDef, MessageOf, Messages, Metadata, TopicDef, Topics,
} from '@flotilla/contracts';
import { injectTraceparent, SpanHandle, withRemoteParent, withSpan } from '@flotilla/telemetry';
import { DeferDelivery, IncomingMessage, MessageBus, offsetAfter, OutgoingMessage, SubscribeOptions, Subscription } from './port';

type AnyTopic = TopicDef<readonly MessageDef<string, object>[]>;

/** A handler bound to one topic; it receives only valid, current-version messages. */
export interface TopicHandler {
  topic: AnyTopic;
  handle(message: Envelope, raw: IncomingMessage): Promise<void>;
}

/** Binds a typed handler to a topic. */
export function on<TDefs extends readonly MessageDef<string, object>[]>(
  topic: TopicDef<TDefs>,
  handle: (message: MessageOf<TDefs[number]>, raw: IncomingMessage) => Promise<void>,
): TopicHandler {
  return { topic: topic as unknown as AnyTopic, handle: handle as unknown as TopicHandler['handle'] };
}

export interface ConsumeOptions {
  groupId: string;
  handlers: TopicHandler[];
  fromBeginning?: boolean;
  startAt?: SubscribeOptions['startAt'];
  partitionsConcurrently?: number;
  /** SubscribeOptions.maxBytesPerPartition: small for consumers that defer. */
  maxBytesPerPartition?: number;
  /**
   * `false`: handlers commit their input with `bus.publishAndCommit(…, [offsetAfter(groupId, raw)])`
   * (exactly-once consume → produce); dead letters are then committed the same way.
   */
  autoCommit?: boolean;
  /** Attempts for retryable failures before the message is dead-lettered. */
  maxAttempts?: number;
  logger?: Logger;
  /** `batch` for the batch lane's topics: within one process, served after interactive work (SubscribeOptions.lane). */
  lane?: SubscribeOptions['lane'];
}

/** Builds the wire form of a message ready to publish on a topic, with Flotilla's headers. */
export function outgoing<TType extends string, TData extends object>(
  topic: { name: string },
  def: MessageDef<TType, TData>,
  key: string,
  data: TData,
  metadata: Omit<Metadata, 'occurredAt'> & { occurredAt?: string },
  id: string = newId('msg'),
): OutgoingMessage {
  const meta: Metadata = { ...metadata, occurredAt: metadata.occurredAt ?? new Date().toISOString() };
  // Tracing (docs/adr/0011): a message the caller gave no trace context carries the active span's.
  if (!meta.traceparent) {
    const traceparent = injectTraceparent();
    if (traceparent) meta.traceparent = traceparent;
  }
  const envelope = encode(def, id, data, meta);
  const headers: Record<string, string> = { [Headers.messageType]: `${def.type}@v${def.version}` };
  if (meta.tenantId) headers[Headers.tenantId] = meta.tenantId;
  if (meta.workflowId) headers[Headers.workflowId] = meta.workflowId;
  if (meta.traceparent) headers[Headers.traceparent] = meta.traceparent;
  return { topic: topic.name, key, value: JSON.stringify(envelope), headers };
}

/**
 * The trace-context header of the active span (`{}` when there is none), for messages built without
 * `outgoing()` (e.g. workflow events): their consumers' spans then continue the same trace.
 */
export function traceHeaders(): Record<string, string> {
  const traceparent = injectTraceparent();
  return traceparent ? { [Headers.traceparent]: traceparent } : {};
}

/** Headers that carry credentials; a dead-letter record keeps that they were there, never their value. */
const CREDENTIAL_HEADERS = new Set(['flotilla-api-key', 'authorization', 'x-api-key']);

function redactCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, CREDENTIAL_HEADERS.has(k.toLowerCase()) ? '[redacted]' : v]));
}

/** The dead-letter record for a message that could not be processed (credentials in headers redacted). */
export function deadLetter(raw: IncomingMessage, groupId: string, error: FlotillaError, attempts: number): OutgoingMessage {
  const value = raw.value ?? Buffer.alloc(0);
  const text = value.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(value);
  const data: DeadLetterRecordedV1 = {
    sourceTopic: raw.topic,
    partition: raw.partition,
    offset: raw.offset,
    key: raw.key,
    headers: redactCredentials(raw.headers),
    payload: isText ? text : value.toString('base64'),
    payloadEncoding: isText ? 'utf8' : 'base64',
    reason: error.message,
    errorCode: error.code,
    attempts,
    consumerGroup: groupId,
    workflowId: raw.headers[Headers.workflowId],
    recordedAt: new Date().toISOString(),
  };
  // Keyed by source topic/partition/offset so a redelivered poison message maps to the same record id.
  return outgoing(Topics.deadLetters, Messages.DeadLetterRecorded, raw.topic, data, { workflowId: data.workflowId, tenantId: raw.headers[Headers.tenantId] }, `dlq_${raw.topic}_${raw.partition}_${raw.offset}`);
}

/**
 * Topics whose messages are fragments of one stream (answer tokens): a span per message would be
 * most of a trace and most of tracing's cost, and the producing step's span already covers the
 * stream. Their handlers still run in the producer's context; they get no span of their own.
 */
const UNTRACED_EACH = new Set<string>([Topics.answerStream.name]);
const NO_SPAN: SpanHandle = { setAttribute: () => undefined, addEvent: () => undefined, fail: () => undefined, rename: () => undefined };

/** The envelope's `metadata.traceparent` of a message that has no traceparent header (an outside publisher's). */
function traceparentInValue(raw: IncomingMessage): string | undefined {
  if (!raw.value || raw.value.length > 1_000_000) return undefined;
  const text = raw.value.toString('utf8');
  if (!text.includes('"traceparent"')) return undefined;
  try {
    const tp = (JSON.parse(text) as { metadata?: { traceparent?: unknown } }).metadata?.traceparent;
    return typeof tp === 'string' ? tp : undefined;
  } catch {
    return undefined;
  }
}

/** Decodes a message for its topic; a decoder that throws marks the message poison, never stalls. */
function decodeAtEdge(topic: AnyTopic, raw: IncomingMessage): ReturnType<typeof decode> {
  try {
    return decode(topic, raw.value);
  } catch (err) {
    return { ok: false, error: new FlotillaError(ErrorCode.InvalidMessage, `message could not be decoded: ${(err as Error).message}`, { retryable: false }) };
  }
}

/**
 * Runs `work` until it succeeds, fails with a non-retryable error, or has failed `maxAttempts`
 * times; returns `undefined` on success, else the last error and how many attempts were made.
 * `DeferDelivery` is passed through to the adapter.
 */
async function withAttempts(
  work: () => Promise<void>,
  maxAttempts: number,
  onFailure: (attempt: number, error: FlotillaError, last: boolean) => void,
): Promise<{ error: FlotillaError; attempts: number } | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      await work();
      return undefined;
    } catch (err) {
      if (err instanceof DeferDelivery) throw err;
      const error = FlotillaError.from(err);
      const last = !error.retryable || attempt >= maxAttempts;
      onFailure(attempt, error, last);
      if (last) return { error, attempts: attempt };
      // Bounded in-place backoff (100 ms, 400 ms, ...); delay topics replace this for long retries.
      await new Promise((r) => setTimeout(r, 100 * 4 ** (attempt - 1)));
    }
  }
}

/**
 * Consumes topics with validation at the edge and a dead-letter path: an invalid message, or one
 * whose handler fails with a non-retryable error or runs out of attempts, becomes a dead-letter
 * record with its reason and the consumer moves on. Only a failure to write that record is thrown
 * to the adapter, which then redelivers — nothing is ever dropped silently.
 */
export async function consume(bus: MessageBus, options: ConsumeOptions): Promise<Subscription> {
  const logger = options.logger ?? createLogger({ component: 'consumer', groupId: options.groupId });
  const byTopic = new Map(options.handlers.map((h) => [h.topic.name, h]));
  const maxAttempts = options.maxAttempts ?? 3;
  const autoCommit = options.autoCommit ?? true;
  const publishDeadLetter = (raw: IncomingMessage, record: OutgoingMessage): Promise<void> =>
    autoCommit ? bus.publish([record]) : bus.publishAndCommit([record], [offsetAfter(options.groupId, raw)], { lane: options.lane });

  const handler = async (raw: IncomingMessage, span: SpanHandle): Promise<void> => {
    const bound = byTopic.get(raw.topic);
    if (!bound) throw new Error(`no handler for topic ${raw.topic}`);
    const decoded = decodeAtEdge(bound.topic, raw);
    if (!decoded.ok) {
      logger.warn('invalid message dead-lettered', { topic: raw.topic, partition: raw.partition, offset: raw.offset, reason: decoded.error.message });
      span.setAttribute('flotilla.outcome', 'dead-lettered');
      span.fail(decoded.error.code);
      await publishDeadLetter(raw, deadLetter(raw, options.groupId, decoded.error, 1));
      return;
    }
    const failed = await withAttempts(() => bound.handle(decoded.message, raw), maxAttempts, (attempt, error, last) => logger.error(last ? 'handler failed; dead-lettering' : 'handler failed; retrying', {
      topic: raw.topic, partition: raw.partition, offset: raw.offset, attempt, code: error.code, err: error,
    }));
    if (failed) {
      span.setAttribute('flotilla.outcome', 'dead-lettered');
      span.setAttribute('flotilla.attempts', failed.attempts);
      await publishDeadLetter(raw, deadLetter(raw, options.groupId, failed.error, failed.attempts));
    }
  };
  // Each message is handled in a CONSUMER span whose parent is the producer's traceparent (header,
  // else envelope metadata): one trace follows a workflow across every hop. Ids only, never payloads.
  const system = bus.kind === 'kafka' ? 'kafka' : 'flotilla-embedded';
  const traced = (raw: IncomingMessage): Promise<void> => (UNTRACED_EACH.has(raw.topic) ? withRemoteParent(raw.headers[Headers.traceparent], () => handler(raw, NO_SPAN)) : withRemoteParent(raw.headers[Headers.traceparent] ?? traceparentInValue(raw), () => withSpan(`process ${raw.topic}`, {
    'messaging.system': system,
    'messaging.operation.type': 'process',
    'messaging.destination.name': raw.topic,
    'messaging.destination.partition.id': String(raw.partition),
    'messaging.kafka.offset': Number(raw.offset),
    'messaging.consumer.group.name': options.groupId,
    'flotilla.message.type': raw.headers[Headers.messageType],
    'flotilla.workflow.id': raw.headers[Headers.workflowId],
    'flotilla.tenant.id': raw.headers[Headers.tenantId],
  }, (span) => handler(raw, span), { kind: 'consumer', expected: (err) => err instanceof DeferDelivery })));
  return bus.subscribe({
    groupId: options.groupId,
    topics: [...byTopic.keys()],
    fromBeginning: options.fromBeginning ?? true,
    startAt: options.startAt,
    partitionsConcurrently: options.partitionsConcurrently,
    maxBytesPerPartition: options.maxBytesPerPartition,
    autoCommit,
    lane: options.lane,
    handler: traced,
  });
}

/** A valid, current-version message of a batch, with the raw message it came from. */
export interface BatchItem<TMessage = Envelope> {
  message: TMessage;
  raw: IncomingMessage;
}

/** A batch handler bound to one topic; it receives only valid, current-version messages, in log order. */
export interface BatchTopicHandler {
  topic: AnyTopic;
  handleBatch(items: BatchItem[]): Promise<void>;
}

/**
 * Binds a typed batch handler to a topic. The handler gets consecutive messages of one partition
 * and must be idempotent: a batch is redelivered whole after a crash, and replayed item by item to
 * single out a message it cannot take (see `consumeBatches`).
 */
export function onBatch<TDefs extends readonly MessageDef<string, object>[]>(
  topic: TopicDef<TDefs>,
  handleBatch: (items: BatchItem<MessageOf<TDefs[number]>>[]) => Promise<void>,
): BatchTopicHandler {
  return { topic: topic as unknown as AnyTopic, handleBatch: handleBatch as unknown as BatchTopicHandler['handleBatch'] };
}

/** `consume`'s options with batch handlers; the adapter always commits a batch once it is handled. */
export interface ConsumeBatchesOptions extends Omit<ConsumeOptions, 'handlers' | 'autoCommit' | 'lane'> {
  handlers: BatchTopicHandler[];
  /** The most messages one batch holds (default 500). */
  maxBatchSize?: number;
  /** Attempts for retryable failures, of the whole batch and then of each message, before dead-lettering. */
  maxAttempts?: number;
}

/**
 * `consume` for handlers whose cost is per write rather than per message (read-model projectors):
 * each call gets up to `maxBatchSize` consecutive messages of one partition, and the adapter commits
 * their offsets only after the call resolved (at-least-once; the handler is idempotent).
 *
 * Poison never blocks a batch. Invalid messages are dead-lettered with their reason and left out.
 * If the handler fails the batch for good (a non-retryable error, or `maxAttempts` retryable ones),
 * the batch is replayed one message at a time, in log order — so order per key holds — and each
 * message then succeeds or is dead-lettered exactly as `consume` would, and the rest go on. Only a
 * failure to write a dead-letter record reaches the adapter, which redelivers the batch.
 */
export async function consumeBatches(bus: MessageBus, options: ConsumeBatchesOptions): Promise<Subscription> {
  const logger = options.logger ?? createLogger({ component: 'batch-consumer', groupId: options.groupId });
  const byTopic = new Map(options.handlers.map((h) => [h.topic.name, h]));
  const maxAttempts = options.maxAttempts ?? 3;
  const system = bus.kind === 'kafka' ? 'kafka' : 'flotilla-embedded';

  const handleBatch = async (raws: IncomingMessage[], span: SpanHandle): Promise<void> => {
    const first = raws[0]!;
    const bound = byTopic.get(first.topic);
    if (!bound) throw new Error(`no handler for topic ${first.topic}`);
    const items: BatchItem[] = [];
    const deadLetters: OutgoingMessage[] = [];
    for (const raw of raws) {
      const decoded = decodeAtEdge(bound.topic, raw);
      if (decoded.ok) {
        items.push({ message: decoded.message, raw });
        continue;
      }
      logger.warn('invalid message dead-lettered', { topic: raw.topic, partition: raw.partition, offset: raw.offset, reason: decoded.error.message });
      deadLetters.push(deadLetter(raw, options.groupId, decoded.error, 1));
    }
    const batchFailed = items.length === 0 ? undefined : await withAttempts(() => bound.handleBatch(items), maxAttempts, (attempt, error, last) => logger.error(
      last ? 'batch handler failed; replaying the batch one message at a time' : 'batch handler failed; retrying the batch',
      { topic: first.topic, partition: first.partition, fromOffset: first.offset, messages: items.length, attempt, code: error.code, err: error },
    ));
    if (batchFailed) {
      for (const item of items) {
        const { raw } = item;
        const failed = await withAttempts(() => bound.handleBatch([item]), maxAttempts, (attempt, error, last) => logger.error(last ? 'handler failed; dead-lettering' : 'handler failed; retrying', {
          topic: raw.topic, partition: raw.partition, offset: raw.offset, attempt, code: error.code, err: error,
        }));
        if (failed) deadLetters.push(deadLetter(raw, options.groupId, failed.error, failed.attempts));
      }
    }
    span.setAttribute('flotilla.dead_lettered', deadLetters.length);
    // Before the adapter commits the batch: a crash here redelivers it, and the records' ids (source
    // topic/partition/offset) make the second copy of a record the same record.
    if (deadLetters.length) await bus.publish(deadLetters);
  };

  return bus.subscribe({
    groupId: options.groupId,
    topics: [...byTopic.keys()],
    fromBeginning: options.fromBeginning ?? true,
    startAt: options.startAt,
    partitionsConcurrently: options.partitionsConcurrently,
    maxBatchSize: options.maxBatchSize,
    // One CONSUMER span per batch, a new trace: a batch mixes messages of many traces.
    batchHandler: (raws) => withRemoteParent(undefined, () => withSpan(`process ${raws[0]!.topic}`, {
      'messaging.system': system,
      'messaging.operation.type': 'process',
      'messaging.destination.name': raws[0]!.topic,
      'messaging.destination.partition.id': String(raws[0]!.partition),
      'messaging.batch.message_count': raws.length,
      'messaging.consumer.group.name': options.groupId,
    }, (span) => handleBatch(raws, span), { kind: 'consumer', expected: (err) => err instanceof DeferDelivery })),
  });
}
