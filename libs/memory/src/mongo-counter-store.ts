import mongoose, { Connection, Model, Schema } from 'mongoose';
import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { CounterStoreOptions, ManagedCounterStore, requireCounterArgs, ResolvedCounterOptions, resolveCounterOptions } from './counter-store';
import { isDuplicateKey } from './mongo-errors';

/*
 * Why not `findOneAndUpdate({ _id: key }, { $inc }, { upsert: true, returnDocument: 'after' })`:
 * it is atomic on MongoDB but not on FerretDB v1.24, our MongoDB-compatible server. FerretDB
 * answers findAndModify and update by querying the document, applying `$inc` in memory and
 * writing the whole document back by `_id`, outside any transaction (internal/handler/
 * msg_findandmodify.go, backends/sqlite UpdateAll: `UPDATE … WHERE _id = ?`). Measured: 200
 * concurrent `$inc` of 1 from 4 connections left the counter at 9. A compare-and-set on a version
 * field fails the same way, since the filter is not re-checked at write time.
 *
 * What both servers do atomically is reject a second insert of the same `_id` (E11000). So a
 * counter is an append-only chain of immutable slots, `_id` = [key, epoch, slot], each holding the
 * running total and its window's expiry. Adding = inserting slot n+1 with total(n) + amount: of
 * two replicas racing for n+1 exactly one wins; the other reads on and retries. Slots of an epoch
 * are contiguous, so the head is found by galloping from the last one seen. When the head's window
 * has passed, the next add opens epoch e+1 at slot 0 with the amount alone (the reset), again
 * won by one replica. Nothing is updated in place, so no write can be lost.
 *
 * Adds to one key from this process are committed as a batch (group commit): one slot carries
 * the sum of everything queued while the previous insert was in flight, and each caller gets the
 * running total as if the adds had been applied one after another.
 *
 * Storage: one slot per committed batch, for the life of the window; purgeExpired() deletes the
 * slots of windows that ended more than graceMs ago (and adds run it every purgeEveryMs). A head
 * cached here is used only while its window is younger than that, so a purge can never remove a
 * slot this process still builds on. Clock skew between replicas larger than the gap to a
 * window's end can let a late add land in the window just closed; budgets tolerate that.
 */

interface SlotDoc {
  _id: string;
  k: string;
  e: number;
  s: number;
  total: number;
  expiresAt: Date;
  at: Date;
}

interface Head {
  e: number;
  s: number;
  total: number;
  expiresAtMs: number;
}

interface PendingAdd {
  amount: number;
  ttlMs: number;
  resolve(total: number): void;
  reject(err: unknown): void;
}

const slotSchema = new Schema<SlotDoc>({
  _id: { type: String, required: true },
  k: { type: String, required: true },
  e: { type: Number, required: true },
  s: { type: Number, required: true },
  total: { type: Number, required: true },
  expiresAt: { type: Date, required: true },
  at: { type: Date, required: true },
}, { collection: 'memory_counter_slots', versionKey: false });
slotSchema.index({ k: 1, e: -1, s: -1 });
slotSchema.index({ expiresAt: 1 });

const slotId = (key: string, e: number, s: number): string => JSON.stringify([key, e, s]);
const toHead = (d: SlotDoc): Head => ({ e: d.e, s: d.s, total: d.total, expiresAtMs: d.expiresAt.getTime() });

/** Inserts lost to other replicas before an add gives up (each loss means another add went through). */
const MAX_ATTEMPTS = 100;

/** Shared budget counters in MongoDB (FerretDB in tests), exact under concurrent replicas. */
export class MongoCounterStore implements ManagedCounterStore {
  private connection?: Connection;
  private slots!: Model<SlotDoc>;
  private starting?: Promise<void>;
  private readonly options: ResolvedCounterOptions;
  private readonly heads = new Map<string, Head>();
  private readonly queues = new Map<string, PendingAdd[]>();
  private lastPurge: number;
  private purging?: Promise<void>;
  private readonly log = createLogger({ component: 'memory.counters' });

  constructor(private readonly url: string, options: CounterStoreOptions = {}) {
    this.options = resolveCounterOptions(options);
    this.lastPurge = this.options.now();
  }

  init(): Promise<void> {
    this.starting ??= this.connect().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async connect(): Promise<void> {
    const connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.slots = connection.model<SlotDoc>('MemoryCounterSlot', slotSchema);
    await this.slots.createIndexes();
    this.connection = connection;
  }

  async add(key: string, amount: number, ttlMs: number): Promise<number> {
    requireCounterArgs(key, { amount, ttlMs });
    await this.init();
    const total = new Promise<number>((resolve, reject) => {
      const item = { amount, ttlMs, resolve, reject };
      const queue = this.queues.get(key);
      if (queue) {
        queue.push(item);
        return;
      }
      this.queues.set(key, [item]);
      void this.drain(key);
    });
    this.maybePurge();
    return total;
  }

  async get(key: string): Promise<number> {
    requireCounterArgs(key);
    await this.init();
    const known = await this.knownHead(key);
    if (!known) return 0;
    const head = await this.advance(key, known);
    if (!head) return 0;
    this.heads.set(key, head);
    return head.expiresAtMs > this.options.now() ? head.total : 0;
  }

  /** Parallel point reads: on FerretDB only a lookup by `_id` uses an index, so one `$in` query would scan. */
  async getMany(keys: string[]): Promise<number[]> {
    for (const key of keys) requireCounterArgs(key);
    return Promise.all(keys.map((k) => this.get(k)));
  }

  async purgeExpired(): Promise<number> {
    await this.init();
    const now = this.options.now();
    this.lastPurge = now;
    const { deletedCount } = await this.slots.deleteMany({ expiresAt: { $lt: new Date(now - this.options.graceMs) } });
    return deletedCount;
  }

  healthy(): boolean {
    return this.connection?.readyState === 1;
  }

  async close(): Promise<void> {
    await this.purging;
    await this.connection?.close();
  }

  /** Commits the key's queued adds, batch after batch, until its queue is empty. Never rejects. */
  private async drain(key: string): Promise<void> {
    const queue = this.queues.get(key)!;
    for (;;) {
      const batch = queue.splice(0);
      if (batch.length === 0) {
        this.queues.delete(key);
        return;
      }
      try {
        const totals = await this.commit(key, batch);
        batch.forEach((item, i) => item.resolve(totals[i]!));
      } catch (err) {
        const error = FlotillaError.from(err);
        for (const item of batch) item.reject(error);
      }
    }
  }

  private async commit(key: string, batch: PendingAdd[]): Promise<number[]> {
    let head = await this.knownHead(key);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const now = this.options.now();
      const reset = !head || head.expiresAtMs <= now;
      let running = reset ? 0 : head!.total;
      const totals = batch.map((item) => (running += item.amount));
      const next: Head = reset
        ? { e: head ? head.e + 1 : 0, s: 0, total: running, expiresAtMs: now + batch[0]!.ttlMs }
        : { e: head!.e, s: head!.s + 1, total: running, expiresAtMs: head!.expiresAtMs };
      try {
        await this.slots.create({
          _id: slotId(key, next.e, next.s), k: key, e: next.e, s: next.s, total: next.total, expiresAt: new Date(next.expiresAtMs), at: new Date(now),
        });
        this.heads.set(key, next);
        return totals;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // Another replica took this slot: read on from it to the current head and try after that.
        head = await this.advance(key, { e: next.e, s: next.s });
      }
    }
    throw new FlotillaError(ErrorCode.Conflict, `counter ${key}: lost ${MAX_ATTEMPTS} inserts in a row to other replicas`, { retryable: true });
  }

  /** The head cached from this process's last operation, while it cannot have been purged; else the newest slot in the store. */
  private async knownHead(key: string): Promise<Head | undefined> {
    const cached = this.heads.get(key);
    if (cached && cached.expiresAtMs > this.options.now() - this.options.graceMs / 2) return cached;
    this.heads.delete(key);
    const newest = await this.slots.findOne({ k: key }).sort({ e: -1, s: -1 }).lean<SlotDoc>();
    return newest ? toHead(newest) : undefined;
  }

  /**
   * The current head, from a slot known to exist (with its contents, or only its position): gallop
   * forward through the epoch (slots 1, 2, 4… ahead, then bisect), and on into the next epoch when
   * this one's window has passed and a replica has opened the next.
   */
  private async advance(key: string, from: Head | { e: number; s: number }): Promise<Head | undefined> {
    let head: Head | undefined = 'total' in from ? from : await this.read(key, from.e, from.s);
    if (!head) return this.knownHead(key);
    for (;;) {
      let step = 1;
      for (let ahead = await this.read(key, head.e, head.s + step); ahead; ahead = await this.read(key, head.e, head.s + step)) {
        head = ahead;
        step *= 2;
      }
      let missing = head.s + step;
      while (missing - head.s > 1) {
        const mid = Math.floor((head.s + missing) / 2);
        const found = await this.read(key, head.e, mid);
        if (found) head = found;
        else missing = mid;
      }
      if (head.expiresAtMs > this.options.now()) return head;
      const opened = await this.read(key, head.e + 1, 0);
      if (!opened) return head;
      head = opened;
    }
  }

  private async read(key: string, e: number, s: number): Promise<Head | undefined> {
    const doc = await this.slots.findById(slotId(key, e, s)).lean<SlotDoc>();
    return doc ? toHead(doc) : undefined;
  }

  /** Starts a purge in the background when one is due; its failure is logged and it runs again next time. */
  private maybePurge(): void {
    if (this.purging || this.options.now() - this.lastPurge < this.options.purgeEveryMs) return;
    this.lastPurge = this.options.now();
    this.purging = this.purgeExpired()
      .then(() => undefined, (err: unknown) => this.log.warn('purging expired counters failed; retrying at the next interval', { err }))
      .finally(() => {
        this.purging = undefined;
      });
  }
}
