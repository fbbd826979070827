import { randomUUID } from 'node:crypto';
import mongoose, { Connection, Model, Schema } from 'mongoose';
import { DEFAULT_SNAPSHOTS_KEPT, sha256Hex, SnapshotStore, StoredSnapshot } from './snapshot-store';

/*
 * A snapshot is written as chunks (each far below the 16 MB BSON limit, whatever the snapshot's
 * size) and then ONE header document naming their count and the content's SHA-256: the header is
 * the commit marker, so a writer killed half-way leaves chunks no header names, and a reader never
 * sees a partial snapshot. Old snapshots lose their header first, then their chunks; chunks older
 * than the oldest snapshot kept (orphans of a killed writer) go with them.
 */
const CHUNK_BYTES = 1024 * 1024;

interface HeaderDoc {
  _id: string;
  stream: string;
  format: string;
  takenAt: Date;
  sha256: string;
  size: number;
  chunks: number;
}

interface ChunkDoc {
  _id: string;
  snapshotId: string;
  stream: string;
  takenAt: Date;
  n: number;
  data: Buffer;
}

const headerSchema = new Schema<HeaderDoc>({
  _id: { type: String, required: true },
  stream: { type: String, required: true },
  format: { type: String, required: true },
  takenAt: { type: Date, required: true },
  sha256: { type: String, required: true },
  size: { type: Number, required: true },
  chunks: { type: Number, required: true },
}, { collection: 'snapshots', versionKey: false });
headerSchema.index({ stream: 1, takenAt: -1 });

const chunkSchema = new Schema<ChunkDoc>({
  _id: { type: String, required: true },
  snapshotId: { type: String, required: true },
  stream: { type: String, required: true },
  takenAt: { type: Date, required: true },
  n: { type: Number, required: true },
  data: { type: Buffer, required: true },
}, { collection: 'snapshot_chunks', versionKey: false });
chunkSchema.index({ snapshotId: 1, n: 1 });
chunkSchema.index({ stream: 1, takenAt: 1 });

const toBuffer = (data: unknown): Buffer => (Buffer.isBuffer(data) ? data : Buffer.from((data as { buffer: Uint8Array }).buffer));

/** Snapshots in MongoDB (FerretDB in tests), shared by every coordinator replica. */
export class MongoSnapshotStore implements SnapshotStore {
  private connection?: Connection;
  private headers!: Model<HeaderDoc>;
  private chunks!: Model<ChunkDoc>;

  constructor(private readonly url: string, private readonly keep = DEFAULT_SNAPSHOTS_KEPT) {}

  async init(): Promise<void> {
    this.connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.headers = this.connection.model<HeaderDoc>('Snapshot', headerSchema);
    this.chunks = this.connection.model<ChunkDoc>('SnapshotChunk', chunkSchema);
    await this.headers.createIndexes();
    await this.chunks.createIndexes();
  }

  async save(s: { stream: string; format: string; bytes: Buffer; takenAt?: Date }): Promise<void> {
    const takenAt = s.takenAt ?? new Date();
    const id = `${s.stream}@${takenAt.toISOString()}@${randomUUID().slice(0, 8)}`;
    const count = Math.max(1, Math.ceil(s.bytes.length / CHUNK_BYTES));
    for (let n = 0; n < count; n++) {
      await this.chunks.create([{ _id: `${id}#${n}`, snapshotId: id, stream: s.stream, takenAt, n, data: s.bytes.subarray(n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES) }]);
    }
    await this.headers.create([{ _id: id, stream: s.stream, format: s.format, takenAt, sha256: sha256Hex(s.bytes), size: s.bytes.length, chunks: count }]);
    await this.prune(s.stream);
  }

  async latest(stream: string): Promise<StoredSnapshot | undefined> {
    const headers = await this.headers.find({ stream }).sort({ takenAt: -1, _id: -1 }).limit(this.keep + 1).lean<HeaderDoc[]>();
    for (const h of headers) {
      const docs = await this.chunks.find({ snapshotId: h._id }).sort({ n: 1 }).lean<ChunkDoc[]>();
      if (docs.length !== h.chunks || docs.some((d, i) => d.n !== i)) continue;
      const bytes = Buffer.concat(docs.map((d) => toBuffer(d.data)));
      if (bytes.length !== h.size || sha256Hex(bytes) !== h.sha256) continue;
      return { stream: h.stream, format: h.format, takenAt: new Date(h.takenAt), bytes };
    }
    return undefined;
  }

  healthy(): boolean {
    return this.connection?.readyState === 1;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }

  private async prune(stream: string): Promise<void> {
    const headers = await this.headers.find({ stream }).sort({ takenAt: -1, _id: -1 }).select({ _id: 1, takenAt: 1 }).lean<Pick<HeaderDoc, '_id' | 'takenAt'>[]>();
    const kept = headers.slice(0, this.keep);
    const dropped = headers.slice(this.keep).map((h) => h._id);
    if (dropped.length) {
      await this.headers.deleteMany({ _id: { $in: dropped } });
      await this.chunks.deleteMany({ snapshotId: { $in: dropped } });
    }
    const oldestKept = kept.at(-1);
    if (oldestKept && kept.length === this.keep) await this.chunks.deleteMany({ stream, takenAt: { $lt: oldestKept.takenAt } });
  }
}
