import mongoose, { Connection, Model, Schema } from 'mongoose';
import { DeadLetterRecordedV1 } from '@flotilla/contracts';
import {
  DeadLetterEntry, DeadLetterListQuery, DeadLetterResolution, DeadLetterResolveOutcome, DeadLetterStatus, DeadLetterStore,
} from './dead-letter-store';
import { ignoreDuplicate, isDuplicateKey } from './mongo-errors';

/*
 * FerretDB re-checks no filter at write time, so `updateOne({ _id, status: 'open' }, { $set })` can
 * succeed for two racing replicas and a record would be replayed twice. What it does atomically is
 * reject a second insert of one `_id` (E11000), so the decision on a record is an immutable claim
 * document, `_id` = record id: inserting it is the compare-and-set, and the claim is the truth.
 * The `status` on the record document is only a copy for listing by status, written after the claim.
 *
 * The record's data is stored as JSON text: header names of outside producers may hold `.` or `$`,
 * which MongoDB-compatible servers reject or mangle as field names.
 */

interface RecordDoc {
  _id: string;
  tenantId: string;
  status: DeadLetterStatus;
  recordedAt: string;
  data: string;
}

interface ClaimDoc {
  _id: string;
  status: DeadLetterResolution['status'];
  actor: string;
  at: string;
  reason?: string;
}

const recordSchema = new Schema<RecordDoc>({
  _id: { type: String, required: true },
  tenantId: { type: String, default: '' },
  status: { type: String, required: true },
  recordedAt: { type: String, required: true },
  data: { type: String, required: true },
}, { collection: 'dead_letters', versionKey: false });
recordSchema.index({ tenantId: 1, recordedAt: -1 });

const claimSchema = new Schema<ClaimDoc>({
  _id: { type: String, required: true },
  status: { type: String, required: true },
  actor: { type: String, required: true },
  at: { type: String, required: true },
  reason: { type: String, required: false },
}, { collection: 'dead_letter_claims', versionKey: false });

const toResolution = (c: ClaimDoc): DeadLetterResolution => ({ status: c.status, actor: c.actor, at: c.at, ...(c.reason !== undefined ? { reason: c.reason } : {}) });

function toEntry(r: RecordDoc, claim: ClaimDoc | undefined): DeadLetterEntry {
  const base = { id: r._id, tenantId: r.tenantId ?? '', data: JSON.parse(r.data) as DeadLetterRecordedV1 };
  return claim ? { ...base, status: claim.status, resolution: toResolution(claim) } : { ...base, status: 'open' };
}

/** The dead-letter inbox in MongoDB (FerretDB in tests), safe under concurrent gateway replicas. */
export class MongoDeadLetterStore implements DeadLetterStore {
  private connection!: Connection;
  private records!: Model<RecordDoc>;
  private claims!: Model<ClaimDoc>;

  constructor(private readonly url: string) {}

  async init(): Promise<void> {
    this.connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.records = this.connection.model<RecordDoc>('DeadLetter', recordSchema);
    this.claims = this.connection.model<ClaimDoc>('DeadLetterClaim', claimSchema);
    await this.records.createIndexes();
  }

  async record(e: { id: string; tenantId: string; data: DeadLetterRecordedV1 }): Promise<void> {
    const doc: RecordDoc = { _id: e.id, tenantId: e.tenantId, status: 'open', recordedAt: e.data.recordedAt, data: JSON.stringify(e.data) };
    await ignoreDuplicate(this.records.updateOne({ _id: e.id }, { $setOnInsert: doc }, { upsert: true }));
  }

  async get(id: string, tenantIds: readonly string[]): Promise<DeadLetterEntry | null> {
    const [record, claim] = await Promise.all([
      this.records.findOne({ _id: id, tenantId: { $in: [...tenantIds] } }).lean<RecordDoc>(),
      this.claims.findOne({ _id: id }).lean<ClaimDoc>(),
    ]);
    return record ? toEntry(record, claim ?? undefined) : null;
  }

  async list(q: DeadLetterListQuery): Promise<DeadLetterEntry[]> {
    const filter: Record<string, unknown> = { tenantId: { $in: [...q.tenantIds] } };
    if (q.status) filter['status'] = q.status;
    const records = await this.records.find(filter).sort({ recordedAt: -1, _id: -1 }).limit(q.limit).lean<RecordDoc[]>();
    const claims = records.length ? await this.claims.find({ _id: { $in: records.map((r) => r._id) } }).lean<ClaimDoc[]>() : [];
    const byId = new Map(claims.map((c) => [c._id, c]));
    // The claim wins over the copied status (a resolve may be between its two writes).
    return records.map((r) => toEntry(r, byId.get(r._id))).filter((e) => !q.status || e.status === q.status);
  }

  async resolve(id: string, tenantIds: readonly string[], resolution: DeadLetterResolution): Promise<DeadLetterResolveOutcome> {
    const current = await this.get(id, tenantIds);
    if (!current) return { outcome: 'not-found' };
    try {
      await this.claims.create([{ _id: id, ...resolution }]);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      return { outcome: 'not-open', entry: (await this.get(id, tenantIds))! };
    }
    await this.records.updateOne({ _id: id }, { $set: { status: resolution.status } });
    return { outcome: 'resolved', entry: { ...current, status: resolution.status, resolution } };
  }

  async reopen(id: string, resolution: DeadLetterResolution): Promise<void> {
    const removed = await this.claims.deleteOne({ _id: id, status: resolution.status, actor: resolution.actor, at: resolution.at });
    if (removed.deletedCount === 1) await this.records.updateOne({ _id: id }, { $set: { status: 'open' } });
  }

  healthy(): boolean {
    return this.connection?.readyState === 1;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}
