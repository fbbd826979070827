import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { DeadLetterRecordedV1, Headers, Topics } from '@flotilla/contracts';
import { CommitOptions, deliveryOf, IncomingMessage, MessageBus, OffsetCommit, offsetAfter, OutgoingMessage, SubscribeOptions, Subscription, TopicSpec } from './port';
import { deadLetter } from './typed';

/** The header of a message whose value travels by reference: the payload's id in the payload store. */
export const CLAIM_CHECK_HEADER = 'flotilla-claim-check';

/**
 * Where large payloads are kept while their messages travel by reference. `@flotilla/memory`'s
 * claim-check stores implement it (SQLite embedded, MongoDB distributed); this lib defines only the
 * port, so it never imports a database client.
 */
export interface PayloadStore {
  /** Stores the bytes (idempotently) and returns an id that `get` resolves. */
  put(bytes: Buffer, meta?: { topic?: string; tenantId?: string; workflowId?: string }): Promise<string>;
  /** The bytes, or `undefined` when the store has no intact copy; throws only when unreachable. */
  get(id: string): Promise<Buffer | undefined>;
  init?(): Promise<void>;
  close?(): Promise<void>;
}

export interface ClaimCheckOptions {
  store: PayloadStore;
  /** Values larger than this many bytes go by reference; 0 turns claim checks off (messages pass through). */
  thresholdBytes: number;
}

/** The small value a claimed message carries instead of its payload, for anyone reading the topic raw. */
export interface ClaimReference {
  claimCheck: string;
  bytes: number;
}

const log = createLogger({ component: 'claim-check-bus' });

const byteLength = (value: string | Buffer): number => (typeof value === 'string' ? Buffer.byteLength(value) : value.length);

/**
 * A MessageBus decorator for payloads too large for the log (docs/adr/0010): a message whose value is
 * larger than the threshold is stored in the payload store and published as a reference — a
 * `flotilla-claim-check: <id>` header and a tiny JSON value — so messages, dead-letter records and
 * the log stay small (Kafka refuses messages over ~1 MB). Subscribers get the original value back
 * before their handler runs, without the header. A reference that cannot be resolved (purged,
 * never stored, damaged) is dead-lettered with the reason and the consumer moves on; a store that is
 * unreachable fails the delivery, so the adapter redelivers it later — never a crash, never a drop.
 */
export class ClaimCheckBus implements MessageBus {
  constructor(private readonly inner: MessageBus, private readonly options: ClaimCheckOptions) {}

  get kind(): MessageBus['kind'] {
    return this.inner.kind;
  }

  async connect(): Promise<void> {
    await this.options.store.init?.();
    await this.inner.connect();
  }

  ensureTopics(topics: TopicSpec[]): Promise<void> {
    return this.inner.ensureTopics(topics);
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    await this.inner.publish(await this.claim(messages));
  }

  /** Payloads are stored first; the messages and offsets then commit as one (an unused payload just ages out). */
  async publishAndCommit(messages: OutgoingMessage[], offsets: OffsetCommit[], options?: CommitOptions): Promise<void> {
    await this.inner.publishAndCommit(await this.claim(messages), offsets, options);
  }

  subscribe(options: SubscribeOptions): Promise<Subscription> {
    const delivery = deliveryOf(options);
    if (delivery.kind === 'each') return this.inner.subscribe({ ...options, handler: async (raw) => {
      const resolved = await this.resolve(raw, options, !(options.autoCommit ?? true));
      if (resolved) await delivery.handler(resolved);
    } });
    // A batch keeps its order; unresolvable references are dead-lettered and left out of it.
    return this.inner.subscribe({ ...options, batchHandler: async (raws) => {
      const resolved: IncomingMessage[] = [];
      for (const raw of raws) {
        // Never commit with the record here: the batch's earlier messages are not handled yet.
        const message = await this.resolve(raw, options, false);
        if (message) resolved.push(message);
      }
      if (resolved.length) await delivery.handler(resolved);
    } });
  }

  endOffsets(topic: string): Promise<Map<number, bigint>> {
    return this.inner.endOffsets(topic);
  }

  committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    return this.inner.committedOffsets(groupId, topic);
  }

  healthy(): boolean {
    return this.inner.healthy();
  }

  async disconnect(): Promise<void> {
    try {
      await this.inner.disconnect();
    } finally {
      await this.options.store.close?.();
    }
  }

  private async claim(messages: OutgoingMessage[]): Promise<OutgoingMessage[]> {
    const threshold = this.options.thresholdBytes;
    if (threshold <= 0 || !messages.some((m) => byteLength(m.value) > threshold)) return messages;
    return Promise.all(messages.map(async (m) => {
      const size = byteLength(m.value);
      if (size <= threshold) return m;
      if (m.topic === Topics.deadLetters.name) {
        const slim = await this.slimDeadLetter(m);
        if (slim && byteLength(slim.value) <= threshold) return slim;
      }
      const headers = m.headers ?? {};
      const id = await this.store(typeof m.value === 'string' ? Buffer.from(m.value) : m.value, m);
      const reference: ClaimReference = { claimCheck: id, bytes: size };
      return { ...m, value: JSON.stringify(reference), headers: { ...headers, [CLAIM_CHECK_HEADER]: id } };
    }));
  }

  /**
   * A dead-letter record wrapping a large payload keeps the payload by reference INSIDE the record —
   * exactly the record of the reference message: `payload` is the reference, the poison message's
   * headers name the claim. Claiming the whole record instead would hand its consumers a record
   * larger than any consumer decodes (MAX_MESSAGE_BYTES), which would dead-letter it again, forever.
   * Replaying such a record republishes the reference, which resolves like any other.
   */
  private async slimDeadLetter(m: OutgoingMessage): Promise<OutgoingMessage | undefined> {
    let envelope: { data?: Partial<DeadLetterRecordedV1> } & Record<string, unknown>;
    try {
      envelope = JSON.parse(typeof m.value === 'string' ? m.value : m.value.toString('utf8')) as typeof envelope;
    } catch {
      return undefined;
    }
    const data = envelope.data;
    if (!data || typeof data.payload !== 'string' || typeof data.headers !== 'object' || data.headers === null) return undefined;
    const bytes = data.payloadEncoding === 'base64' ? Buffer.from(data.payload, 'base64') : Buffer.from(data.payload, 'utf8');
    const id = await this.store(bytes, { topic: data.sourceTopic ?? m.topic, headers: data.headers });
    const reference: ClaimReference = { claimCheck: id, bytes: bytes.length };
    const slim = { ...envelope, data: { ...data, payload: JSON.stringify(reference), payloadEncoding: 'utf8', headers: { ...data.headers, [CLAIM_CHECK_HEADER]: id } } };
    return { ...m, value: JSON.stringify(slim) };
  }

  private async store(bytes: Buffer, from: { topic: string; headers?: Record<string, string> }): Promise<string> {
    const headers = from.headers ?? {};
    try {
      return await this.options.store.put(bytes, { topic: from.topic, tenantId: headers[Headers.tenantId], workflowId: headers[Headers.workflowId] });
    } catch (err) {
      throw new FlotillaError(ErrorCode.DependencyUnavailable, `storing a ${bytes.length}-byte payload for ${from.topic} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The payload a claim check names, or `undefined` (missing, or the store unreachable). */
  async fetchClaim(id: string): Promise<Buffer | undefined> {
    return this.options.store.get(id).catch(() => undefined);
  }

  /**
   * The message with its payload restored, or `undefined` once an unresolvable one is dead-lettered
   * — with its offset committed atomically when `commitWithRecord` (an exactly-once consumer).
   */
  private async resolve(raw: IncomingMessage, options: SubscribeOptions, commitWithRecord: boolean): Promise<IncomingMessage | undefined> {
    const id = raw.headers[CLAIM_CHECK_HEADER];
    if (id === undefined) return raw;
    let bytes: Buffer | undefined;
    try {
      bytes = await this.options.store.get(id);
    } catch (err) {
      // Retrying can help: the adapter redelivers this message after a back-off.
      throw new FlotillaError(ErrorCode.DependencyUnavailable, `claim check ${id} could not be read: ${(err as Error).message}`, { cause: err });
    }
    if (bytes === undefined) {
      const reason = `claim check ${id} is not in the payload store (purged after its TTL, never stored, or damaged); the message's payload is lost`;
      log.warn('unresolvable claim check dead-lettered', { topic: raw.topic, partition: raw.partition, offset: raw.offset, groupId: options.groupId, claimCheck: id });
      const record = deadLetter(raw, options.groupId, new FlotillaError(ErrorCode.InvalidMessage, reason, { retryable: false }), 1);
      if (commitWithRecord) await this.publishAndCommit([record], [offsetAfter(options.groupId, raw)], { lane: options.lane });
      else await this.publish([record]);
      return undefined;
    }
    const { [CLAIM_CHECK_HEADER]: _claim, ...headers } = raw.headers;
    return { ...raw, value: bytes, headers };
  }
}

/** Payloads up to this size are copied into the dead-letter inbox; larger ones stay by reference. */
export const DEAD_LETTER_INLINE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * A dead-letter record with its payload resolved, for the review inbox: when the poison message
 * travelled by claim check and `bus` is a ClaimCheckBus that still has the payload (and it is at
 * most `maxBytes`), the record carries the payload itself (as `deadLetter` would have: UTF-8 text,
 * else base64) and no claim header. Otherwise the record is returned unchanged — the reference and
 * its claim id stay visible — so projecting a record never fails on the payload store.
 */
export async function resolveDeadLetterPayload(bus: MessageBus, data: DeadLetterRecordedV1, maxBytes = DEAD_LETTER_INLINE_MAX_BYTES): Promise<DeadLetterRecordedV1> {
  const id = data.headers[CLAIM_CHECK_HEADER];
  if (id === undefined || !(bus instanceof ClaimCheckBus)) return data;
  const bytes = await bus.fetchClaim(id);
  if (!bytes || bytes.length > maxBytes) return data;
  const text = bytes.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(bytes);
  const { [CLAIM_CHECK_HEADER]: _claim, ...headers } = data.headers;
  return { ...data, headers, payload: isText ? text : bytes.toString('base64'), payloadEncoding: isText ? 'utf8' : 'base64' };
}
