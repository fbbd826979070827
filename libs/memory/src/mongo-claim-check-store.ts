import mongoose, { Connection, Model, Schema } from 'mongoose';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { ClaimCheckStore, claimIdFor, claimMatches, ClaimMeta } from './claim-check-store';
import { ignoreDuplicate } from './mongo-errors';

/*
 * A payload is stored as chunks of at most CHUNK_BYTES, `_id` = `<claim id>#<n>`, each carrying the
 * chunk count: a document stays far below the 16 MB BSON limit whatever the payload, and a payload
 * is complete only when all of its chunks are there. Chunks are immutable and content-addressed, so
 * racing puts of the same bytes insert the same documents (E11000 is "already there"); only the age
 * (`storedAt`) is ever updated. A put refreshes the age of an existing copy BEFORE checking it is
 * complete, so a purge running at the same moment either sees the new age or has already deleted
 * the chunks, which the put then writes again. `get` checks the content against its hash, so a copy
 * damaged or half-purged is reported missing, never handed out.
 */
const CHUNK_BYTES = 1024 * 1024;

interface ChunkDoc {
  _id: string;
  claimId: string;
  n: number;
  of: number;
  data: Buffer;
  storedAt: Date;
  topic?: string;
  tenantId?: string;
  workflowId?: string;
}

const chunkSchema = new Schema<ChunkDoc>({
  _id: { type: String, required: true },
  claimId: { type: String, required: true },
  n: { type: Number, required: true },
  of: { type: Number, required: true },
  data: { type: Buffer, required: true },
  storedAt: { type: Date, required: true },
  topic: { type: String, required: false },
  tenantId: { type: String, required: false },
  workflowId: { type: String, required: false },
}, { collection: 'claim_checks', versionKey: false });
chunkSchema.index({ claimId: 1, n: 1 });
chunkSchema.index({ storedAt: 1 });
chunkSchema.index({ tenantId: 1 });

/** A BSON binary as the driver hands it back from a lean query, or a Buffer. */
const toBuffer = (data: unknown): Buffer => (Buffer.isBuffer(data) ? data : Buffer.from((data as { buffer: Uint8Array }).buffer));

/** Claim-check payloads in MongoDB (FerretDB in tests), shared by every replica. */
export class MongoClaimCheckStore implements ClaimCheckStore {
  private connection?: Connection;
  private opening?: Promise<Model<ChunkDoc>>;

  constructor(private readonly url: string, private readonly now: () => Date = () => new Date()) {}

  /** Nothing to do yet: the connection opens at the first large message, so services that never see one never need MongoDB. */
  async init(): Promise<void> {
    // The first put or get connects.
  }

  async put(bytes: Buffer, meta: ClaimMeta = {}): Promise<string> {
    const chunks = await this.chunks();
    const id = claimIdFor(bytes);
    const of = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
    const owner = { ...(meta.topic ? { topic: meta.topic } : {}), ...(meta.tenantId ? { tenantId: meta.tenantId } : {}), ...(meta.workflowId ? { workflowId: meta.workflowId } : {}) };
    const storedAt = this.now();
    const refreshed = await chunks.updateMany({ claimId: id }, { $set: { storedAt, ...owner } });
    if (refreshed.matchedCount === of) return id;
    for (let n = 0; n < of; n++) {
      const doc: ChunkDoc = { _id: `${id}#${n}`, claimId: id, n, of, data: bytes.subarray(n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES), storedAt, ...owner };
      await ignoreDuplicate(chunks.updateOne({ _id: doc._id }, { $setOnInsert: doc }, { upsert: true }));
    }
    return id;
  }

  async get(id: string): Promise<Buffer | undefined> {
    const chunks = await this.chunks();
    const docs = await chunks.find({ claimId: id }).sort({ n: 1 }).lean<ChunkDoc[]>();
    if (docs.length === 0 || docs.length !== docs[0]!.of || docs.some((d, i) => d.n !== i)) return undefined;
    const bytes = Buffer.concat(docs.map((d) => toBuffer(d.data)));
    return claimMatches(id, bytes) ? bytes : undefined;
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    const chunks = await this.chunks();
    const ids = await chunks.distinct('claimId', { storedAt: { $lt: cutoff } });
    if (ids.length === 0) return 0;
    await chunks.deleteMany({ storedAt: { $lt: cutoff } });
    return ids.length;
  }

  async purgeTenant(tenantId: string): Promise<number> {
    const chunks = await this.chunks();
    const ids = await chunks.distinct('claimId', { tenantId });
    if (ids.length === 0) return 0;
    await chunks.deleteMany({ claimId: { $in: ids } });
    return ids.length;
  }

  healthy(): boolean {
    return this.connection === undefined || this.connection.readyState === 1;
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    await opening?.catch(() => undefined);
    await this.connection?.close();
    this.connection = undefined;
  }

  private chunks(): Promise<Model<ChunkDoc>> {
    this.opening ??= (async () => {
      const connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
      this.connection = connection;
      const model = connection.model<ChunkDoc>('ClaimCheckChunk', chunkSchema);
      await model.createIndexes();
      return model;
    })();
    const pending = this.opening;
    // A failed connect is not kept: the next call tries again (the message is redelivered meanwhile).
    return pending.catch((err: unknown) => {
      if (this.opening === pending) this.opening = undefined;
      throw new FlotillaError(ErrorCode.DependencyUnavailable, `claim-check store unreachable: ${(err as Error).message}`, { cause: err });
    });
  }
}
