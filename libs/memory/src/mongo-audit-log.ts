import mongoose, { Connection, Model, Schema } from 'mongoose';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { AuditEntry, AuditLog, AuditRecord, AuditVerification, canonicalJson, chainNext, verifyChain } from './audit-log';
import { isDuplicateKey } from './mongo-errors';

/*
 * One chain shared by every replica, on a server (FerretDB) with no atomic read-modify-write. The
 * chain is therefore insert-only with `_id` = seq: an append reads the head, computes record
 * head+1 and inserts it; when another replica got there first the insert fails with E11000 and the
 * append reads the new head and tries again. Every lost race means another append succeeded, so
 * the chain always grows. Appends from this process go one at a time, so they only race other
 * processes. `details` are stored as the canonical JSON text that was hashed, so no server-side
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

/** The audit chain in MongoDB (FerretDB in tests), shared by all replicas. */
export class MongoAuditLog implements AuditLog {
  private connection!: Connection;
  private records!: Model<AuditDoc>;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly url: string, private readonly now: () => Date = () => new Date()) {}

  async init(): Promise<void> {
    this.connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.records = this.connection.model<AuditDoc>('AuditRecord', auditSchema);
    await this.records.createIndexes();
  }

  append(entry: AuditEntry): Promise<AuditRecord> {
    const run = this.queue.then(() => this.appendNow(entry));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async appendNow(entry: AuditEntry): Promise<AuditRecord> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const head = await this.records.findOne({}, { _id: 1, hash: 1 }).sort({ _id: -1 }).lean<{ _id: number; hash: string }>();
      const r = chainNext(head ? { seq: head._id, hash: head.hash } : null, entry, this.now().toISOString());
      try {
        await this.records.create([{
          _id: r.seq, at: r.at, tenantId: r.tenantId, actor: r.actor, action: r.action, subject: r.subject, details: canonicalJson(r.details), prevHash: r.prevHash, hash: r.hash,
        }]);
        return r;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // Another replica appended seq first: back off a little (jittered) and build on its record.
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
