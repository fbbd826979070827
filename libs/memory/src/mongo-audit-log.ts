import mongoose, { Connection, Model, Schema } from 'mongoose';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { AuditEntry, AuditLog, AuditRecord, AuditVerification, canonicalJson, chainNext, verifyChain } from './audit-log';
import { isDuplicateKey } from './mongo-errors';

/*
 * One chain shared by every replica, on a server (FerretDB) with no atomic read-modify-write. The
 * chain is therefore insert-only with `_id` = seq: an append reads the head, computes record
 * head+1 and inserts it; when another replica got there first the insert fails with E11000 and the
 * append reads the new head and tries again. Every lost race means another append succeeded, so
 * the chain always grows. Appends from this process are grouped: whatever is queued while one write
 * is in flight goes into the next as one ordered insertMany of consecutive records (group commit),
 * so a busy gateway costs the chain one round trip per batch, not per record; it only races other
 * processes. After a lost race the records of the batch that did land (same seq, same hash) are
 * kept and the rest are chained again on the new head. `details` are stored as the canonical JSON text that was hashed, so no server-side
 * re-encoding (key order, number types) can make an untouched record fail verification.
 */

interface AuditDoc {
  _id: number;
  at: string;
  tenantId: string;
  actor: string;
  action: string;
  subject: string;
  details: string;
  prevHash: string;
  hash: string;
}

const auditSchema = new Schema<AuditDoc>({
  _id: { type: Number, required: true },
  at: { type: String, required: true },
  tenantId: { type: String, default: '' },
  actor: { type: String, required: true },
  action: { type: String, required: true },
  subject: { type: String, required: true },
  details: { type: String, required: true },
  prevHash: { type: String, required: true },
  hash: { type: String, required: true },
}, { collection: 'audit_log', versionKey: false });
auditSchema.index({ subject: 1, _id: -1 });

const toRecord = (d: AuditDoc): AuditRecord => ({
  seq: d._id, at: d.at, tenantId: d.tenantId ?? '', actor: d.actor, action: d.action, subject: d.subject,
  details: JSON.parse(d.details) as Record<string, unknown>, prevHash: d.prevHash, hash: d.hash,
});

/** Lost races before an append gives up: each is another replica's successful append. */
const MAX_ATTEMPTS = 200;
/** Records written in one insert at most. */
const MAX_BATCH = 200;

interface Pending {
  entry: AuditEntry;
  resolve: (record: AuditRecord) => void;
  reject: (err: unknown) => void;
}

/** The audit chain in MongoDB (FerretDB in tests), shared by all replicas. */
export class MongoAuditLog implements AuditLog {
  private connection!: Connection;
  private records!: Model<AuditDoc>;
  private readonly pending: Pending[] = [];
  private draining = false;
  /**
   * The last record this process appended. Reading the head means scanning the whole chain on
   * FerretDB (its SQLite backend pushes no sort, and no filter on a numeric `_id`, down to SQL), so
   * while this process is the only writer the next batch is chained on it. If another replica
   * appended since, record seq+1 exists, the insert fails with E11000 and the head is read again.
   */
  private lastAppended?: { seq: number; hash: string };

  constructor(private readonly url: string, private readonly now: () => Date = () => new Date()) {}

  async init(): Promise<void> {
    this.connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.records = this.connection.model<AuditDoc>('AuditRecord', auditSchema);
    await this.records.createIndexes();
  }

  append(entry: AuditEntry): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, MAX_BATCH);
        try {
          await this.appendBatch(batch);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Appends `batch` in order as consecutive records; resolves each entry with its record. */
  private async appendBatch(batch: Pending[]): Promise<void> {
    let remaining = batch;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let prev: { seq: number; hash: string } | null = attempt === 1 && this.lastAppended ? this.lastAppended : null;
      if (!prev) {
        const head = await this.records.findOne({}, { _id: 1, hash: 1 }).sort({ _id: -1 }).lean<{ _id: number; hash: string }>();
        prev = head ? { seq: head._id, hash: head.hash } : null;
      }
      const at = this.now().toISOString();
      const chained = remaining.map((p) => {
        const r = chainNext(prev, p.entry, at);
        prev = { seq: r.seq, hash: r.hash };
        return r;
      });
      try {
        await this.records.insertMany(chained.map((r) => ({
          _id: r.seq, at: r.at, tenantId: r.tenantId, actor: r.actor, action: r.action, subject: r.subject, details: canonicalJson(r.details), prevHash: r.prevHash, hash: r.hash,
        })), { ordered: true });
        remaining.forEach((p, i) => p.resolve(chained[i]!));
        const last = chained[chained.length - 1]!;
        this.lastAppended = { seq: last.seq, hash: last.hash };
        return;
      } catch (err) {
        this.lastAppended = undefined;
        if (!isDuplicateKey(err)) throw err;
        // Another replica appended first. An ordered insert stops at the first clash: what landed
        // before it is ours (same seq and hash) and stays; the rest is chained again on the new head.
        const landed = await this.records.find({ _id: { $in: chained.map((r) => r.seq) } }, { _id: 1, hash: 1 }).lean<{ _id: number; hash: string }[]>();
        const ours = new Set(landed.filter((d) => chained.some((r) => r.seq === d._id && r.hash === d.hash)).map((d) => d._id));
        const next: Pending[] = [];
        remaining.forEach((p, i) => (ours.has(chained[i]!.seq) ? p.resolve(chained[i]!) : next.push(p)));
        remaining = next;
        if (remaining.length === 0) return;
        await new Promise((res) => setTimeout(res, Math.random() * Math.min(50, 2 * attempt)));
      }
    }
    throw new FlotillaError(ErrorCode.DependencyUnavailable, `audit append lost ${MAX_ATTEMPTS} races in a row`, { retryable: true });
  }

  async list(q: { subject?: string; tenantId?: string; limit: number }): Promise<AuditRecord[]> {
    const filter: Record<string, unknown> = {};
    if (q.subject !== undefined) filter['subject'] = q.subject;
    if (q.tenantId !== undefined) filter['tenantId'] = q.tenantId;
    return (await this.records.find(filter).sort({ _id: -1 }).limit(q.limit).lean<AuditDoc[]>()).map(toRecord);
  }

  async verify(): Promise<AuditVerification> {
    const cursor = this.records.find({}).sort({ _id: 1 }).lean<AuditDoc[]>().cursor();
    try {
      return await verifyChain((async function* () {
        for await (const d of cursor) yield toRecord(d as unknown as AuditDoc);
      })());
    } finally {
      await cursor.close();
    }
  }

  healthy(): boolean {
    return this.connection?.readyState === 1;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}
