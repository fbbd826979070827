import { EventEmitter } from 'node:events';
import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { createLogger, deferred, ErrorCode, FlotillaError } from '@flotilla/common';
import { DeferDelivery, deliveryOf, IncomingMessage, MessageBus, OffsetCommit, OutgoingMessage, SubscribeOptions, Subscription, TopicSpec } from './port';
import { partitionFor } from './partitioner';
import { LaneTurns, processLaneTurns } from './lane-turns';

interface Row {
  offset: number;
  key: string | null;
  value: Buffer | null;
  headers: string;
  ts: number;
}

const log = createLogger({ component: 'embedded-bus' });

/**
 * The embedded mode's message log: partitioned, offset-addressed topics and committed group offsets
 * in one SQLite file, serving the same port as Kafka inside one process. It is deliberately small —
 * one process, one member per group — and is not a broker.
 */
export class EmbeddedMessageBus implements MessageBus {
  readonly kind = 'embedded' as const;
  private db!: EmbeddedDb;
  private readonly partitions = new Map<string, number>();
  private readonly nextOffset = new Map<string, number>();
  private readonly appended = new EventEmitter();
  private connected = false;

  /** `turns`: the process's interactive-first schedule, shared by every embedded bus of the process (one event loop). */
  constructor(private readonly file: string, private readonly turns: LaneTurns = processLaneTurns()) {
    this.appended.setMaxListeners(0);
  }

  async connect(): Promise<void> {
    this.db = openEmbeddedDb(this.file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS log_topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS log_messages (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
        key TEXT, value BLOB, headers TEXT NOT NULL, ts INTEGER NOT NULL,
        PRIMARY KEY (topic, partition, offset)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS log_offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
        PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID;
    `);
    for (const t of this.db.prepare('SELECT name, partitions FROM log_topics').all() as { name: string; partitions: number }[]) {
      this.partitions.set(t.name, t.partitions);
    }
    const ends = this.db.prepare('SELECT topic, partition, MAX(offset) AS o FROM log_messages GROUP BY topic, partition').all() as { topic: string; partition: number; o: number }[];
    for (const e of ends) this.nextOffset.set(`${e.topic}/${e.partition}`, e.o + 1);
    this.connected = true;
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    const insert = this.db.prepare('INSERT OR IGNORE INTO log_topics (name, partitions) VALUES (?, ?)');
    for (const t of topics) {
      insert.run(t.name, t.partitions);
      if (!this.partitions.has(t.name)) this.partitions.set(t.name, t.partitions);
    }
  }

  private partitionCount(topic: string): number {
    const n = this.partitions.get(topic);
    if (n === undefined) throw new FlotillaError(ErrorCode.ConfigInvalid, `topic ${topic} does not exist`, { retryable: false });
    return n;
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    await this.publishAndCommit(messages, []);
  }

  /** Messages and offsets in one SQLite transaction: both are written, or neither (every lane alike: commits are synchronous here). */
  async publishAndCommit(messages: OutgoingMessage[], offsets: OffsetCommit[]): Promise<void> {
    if (!this.connected) throw new FlotillaError(ErrorCode.DependencyUnavailable, 'embedded bus is not connected');
    const insert = this.db.prepare('INSERT INTO log_messages (topic, partition, offset, key, value, headers, ts) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const commit = this.db.prepare('INSERT INTO log_offsets (grp, topic, partition, offset) VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, partition) DO UPDATE SET offset = excluded.offset');
    // Offsets are assigned in a scratch map and published to `nextOffset` only after the commit, so
    // a failed batch (unknown topic, disk error) leaves no gap and no phantom offset behind.
    const assigned = new Map<string, number>();
    this.db.transaction(() => {
      const now = Date.now();
      for (const m of messages) {
        const partition = partitionFor(m.key, this.partitionCount(m.topic));
        const tp = `${m.topic}/${partition}`;
        const offset = assigned.get(tp) ?? this.nextOffset.get(tp) ?? 0;
        insert.run(m.topic, partition, offset, m.key, typeof m.value === 'string' ? Buffer.from(m.value) : m.value, JSON.stringify(m.headers ?? {}), now);
        assigned.set(tp, offset + 1);
      }
      const furthest = new Map<string, OffsetCommit>();
      for (const o of offsets) {
        const k = `${o.groupId}\u0000${o.topic}\u0000${o.partition}`;
        const prev = furthest.get(k);
        if (!prev || BigInt(prev.offset) < BigInt(o.offset)) furthest.set(k, o);
      }
      for (const o of furthest.values()) commit.run(o.groupId, o.topic, o.partition, Number(o.offset));
    })();
    for (const [tp, next] of assigned) this.nextOffset.set(tp, next);
    const touched = assigned.keys();
    for (const tp of touched) this.appended.emit(tp);
  }

  async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const rows = this.db.prepare('SELECT partition, offset FROM log_offsets WHERE grp = ? AND topic = ?').all(groupId, topic) as { partition: number; offset: number }[];
    return new Map(rows.map((r) => [r.partition, BigInt(r.offset)]));
  }

  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const out = new Map<number, bigint>();
    for (let p = 0; p < this.partitionCount(topic); p++) out.set(p, BigInt(this.nextOffset.get(`${topic}/${p}`) ?? 0));
    return out;
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const delivery = deliveryOf(options);
    // A batch consumer reads up to its batch size at once; a message-at-a-time one reads 200 ahead.
    const select = this.db.prepare(`SELECT offset, key, value, headers, ts FROM log_messages WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ${delivery.kind === 'batch' ? delivery.maxBatchSize : 200}`);
    const getCommitted = this.db.prepare('SELECT offset FROM log_offsets WHERE grp = ? AND topic = ? AND partition = ?');
    const commit = this.db.prepare('INSERT INTO log_offsets (grp, topic, partition, offset) VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, partition) DO UPDATE SET offset = excluded.offset');
    let stopping = false;
    const loops: Promise<void>[] = [];
    const wakers = new Set<() => void>();
    const autoCommit = options.autoCommit ?? true;
    const pauseFor = (ms: number): Promise<void> => new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(1, ms));
      wakers.add(wake);
    });

    /** After a failed delivery nothing is committed: wait, then fetch the same message(s) again. */
    const backOff = async (err: unknown, topic: string, partition: number, offset: number): Promise<void> => {
      // Only this partition waits (each has its own loop); stop() cuts the wait short.
      if (err instanceof DeferDelivery) return pauseFor(err.ms);
      // Like a Kafka consumer that fails a message: do not commit, back off, and fetch it again.
      log.error('handler failed; message will be redelivered', { groupId: options.groupId, topic, partition, offset, err });
      return pauseFor(500);
    };

    // Only a batch SUBSCRIPTION (the batch lane's own topics) waits for turns. A consumer of a shared
    // topic (events, tokens) must not: a chat message behind batch messages on its partition would
    // wait for every one of their turns (measured: chat p99 ×300 under a backlog). Throttling batch
    // where its work starts bounds what reaches the shared topics instead.
    const lane = options.lane ?? 'interactive';
    const runPartition = async (topic: string, partition: number): Promise<void> => {
      const tp = `${topic}/${partition}`;
      const committed = getCommitted.get(options.groupId, topic, partition) as { offset: number } | undefined;
      const startAt = options.startAt?.[topic]?.[partition];
      let position = committed?.offset ?? (startAt !== undefined ? Number(startAt) : options.fromBeginning ? 0 : (this.nextOffset.get(tp) ?? 0));
      if (!committed) commit.run(options.groupId, topic, partition, position);
      while (!stopping) {
        const rows = select.all(topic, partition, position) as Row[];
        if (rows.length === 0) {
          await new Promise<void>((resolve) => {
            const wake = (): void => {
              this.appended.off(tp, wake);
              wakers.delete(wake);
              resolve();
            };
            wakers.add(wake);
            this.appended.on(tp, wake);
            // Re-check after subscribing: a publish may have landed between the select and the wait.
            if ((this.nextOffset.get(tp) ?? 0) > position) wake();
          });
          continue;
        }
        const toMessage = (row: Row): IncomingMessage => ({
          topic, partition, offset: String(row.offset), key: row.key, value: row.value,
          headers: JSON.parse(row.headers) as Record<string, string>, timestamp: String(row.ts),
        });
        if (delivery.kind === 'batch') {
          if (stopping) return;
          const messages = rows.map(toMessage);
          try {
            await this.turns.run(lane, () => delivery.handler(messages));
          } catch (err) {
            await backOff(err, topic, partition, rows[0]!.offset);
            continue;
          }
          // One commit for the whole batch, and only once all of it was handled.
          position = rows[rows.length - 1]!.offset + 1;
          if (autoCommit) commit.run(options.groupId, topic, partition, position);
          continue;
        }
        for (const row of rows) {
          if (stopping) return;
          const message = toMessage(row);
          try {
            // Batch work waits for its turn of the event loop; interactive work goes at once (LaneTurns).
            await this.turns.run(lane, () => delivery.handler(message));
          } catch (err) {
            await backOff(err, topic, partition, row.offset);
            break;
          }
          position = row.offset + 1;
          if (autoCommit) commit.run(options.groupId, topic, partition, position);
        }
      }
    };

    const ready = deferred<void>();
    for (const topic of options.topics) {
      for (let p = 0; p < this.partitionCount(topic); p++) loops.push(runPartition(topic, p));
    }
    ready.resolve();
    return {
      ready: ready.promise,
      stop: async () => {
        stopping = true;
        for (const wake of [...wakers]) wake();
        await Promise.allSettled(loops);
      },
    };
  }

  healthy(): boolean {
    return this.connected && this.db.open;
  }

  async disconnect(): Promise<void> {
    this.connected = false;
  }
}
