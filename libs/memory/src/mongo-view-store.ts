import mongoose, { Connection, Model, Schema, Types } from 'mongoose';
import { ignoreDuplicate, ignoreDuplicates } from './mongo-errors';
import { StoredEvent, StoredStreamToken, WorkflowViewStore } from './workflow-view-store';

interface AcceptedDoc {
  workflowId: string;
  tenantId: string;
  requestId: string;
  question: string;
  acceptedAt: string;
}

const eventSchema = new Schema<StoredEvent>({
  workflowId: { type: String, required: true },
  tenantId: { type: String, required: true },
  sequence: { type: Number, required: true },
  type: { type: String, required: true },
  version: { type: Number, required: true },
  id: { type: String, required: true },
  data: { type: Schema.Types.Mixed, required: true },
  occurredAt: { type: String, required: true },
}, { collection: 'workflow_events', versionKey: false, minimize: false });
eventSchema.index({ workflowId: 1, sequence: 1 }, { unique: true });

const acceptedSchema = new Schema<AcceptedDoc>({
  workflowId: { type: String, required: true, unique: true },
  tenantId: { type: String, required: true },
  requestId: { type: String, required: true },
  question: { type: String, required: true },
  acceptedAt: { type: String, required: true },
}, { collection: 'workflow_accepted', versionKey: false });

const tokenSchema = new Schema<StoredStreamToken>({
  workflowId: { type: String, required: true },
  tenantId: { type: String, required: true },
  taskId: { type: String, required: true },
  seq: { type: Number, required: true },
  // Not required: an empty piece of text is still a position in the stream.
  text: { type: String, default: '' },
  occurredAt: { type: String, required: true },
}, { collection: 'workflow_stream_tokens', versionKey: false });
tokenSchema.index({ workflowId: 1, taskId: 1, seq: 1 }, { unique: true });
// FerretDB has no TTL indexes: the gateway sweeps by time (purgeStreamTokens).
tokenSchema.index({ occurredAt: 1 });

/** The distributed read model, in MongoDB (FerretDB in tests), through mongoose. */
export class MongoWorkflowViewStore implements WorkflowViewStore {
  private connection!: Connection;
  private events!: Model<StoredEvent>;
  private accepted!: Model<AcceptedDoc>;
  private tokens!: Model<StoredStreamToken>;

  constructor(private readonly url: string) {}

  async init(): Promise<void> {
    this.connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.events = this.connection.model<StoredEvent>('WorkflowEvent', eventSchema);
    this.accepted = this.connection.model<AcceptedDoc>('WorkflowAccepted', acceptedSchema);
    this.tokens = this.connection.model<StoredStreamToken>('WorkflowStreamToken', tokenSchema);
    await this.events.createIndexes();
    await this.accepted.createIndexes();
    await this.tokens.createIndexes();
  }

  async appendEvent(e: StoredEvent): Promise<void> {
    // Upsert keyed by (workflowId, sequence): replaying the log writes nothing new.
    await ignoreDuplicate(this.events.updateOne({ workflowId: e.workflowId, sequence: e.sequence }, { $setOnInsert: e }, { upsert: true }));
  }

  /**
   * One unordered bulk insert per batch, each event under a deterministic `_id` (workflowId:sequence):
   * a copy already stored — by an earlier batch, a concurrent member, or `appendEvent` (caught by
   * the unique (workflowId, sequence) index) — is refused with E11000 and skipped, the rest land.
   * Inserts, not upserts: FerretDB answers an upsert filtered on (workflowId, sequence) by scanning
   * the collection, so bulk upserts stayed slower than the log under load (measured: 1,000 upserts
   * took over 30 s); an insert checks the unique indexes only.
   */
  async appendEvents(events: readonly StoredEvent[]): Promise<void> {
    if (events.length === 0) return;
    // The driver's collection: mongoose would cast the string `_id` to the schema's ObjectId.
    await ignoreDuplicates(this.events.collection.insertMany(
      events.map((e) => ({ _id: `${e.workflowId}:${e.sequence}` as unknown as Types.ObjectId, ...e })),
      { ordered: false },
    ));
  }

  async recordAccepted(a: AcceptedDoc): Promise<void> {
    await ignoreDuplicate(this.accepted.updateOne({ workflowId: a.workflowId }, { $setOnInsert: a }, { upsert: true }));
  }

  async load(workflowId: string, tenantId: string): Promise<{ accepted?: { requestId: string; question: string; acceptedAt: string }; events: StoredEvent[] } | null> {
    const [accepted, events] = await Promise.all([
      this.accepted.findOne({ workflowId, tenantId }).lean(),
      this.events.find({ workflowId, tenantId }).sort({ sequence: 1 }).lean(),
    ]);
    if (!accepted && events.length === 0) return null;
    return {
      accepted: accepted ? { requestId: accepted.requestId, question: accepted.question, acceptedAt: accepted.acceptedAt } : undefined,
      events: events.map(({ workflowId: w, tenantId: t, sequence, type, version, id, data, occurredAt }) => ({ workflowId: w, tenantId: t, sequence, type, version, id, data, occurredAt })),
    };
  }

  async appendStreamToken(t: StoredStreamToken): Promise<void> {
    // Keyed by (workflowId, taskId, seq): a redelivered token writes nothing new.
    await ignoreDuplicate(this.tokens.updateOne({ workflowId: t.workflowId, taskId: t.taskId, seq: t.seq }, { $setOnInsert: t }, { upsert: true }));
  }

  /** One unordered bulk insert, each token under a deterministic `_id` (as `appendEvents`). */
  async appendStreamTokens(tokens: readonly StoredStreamToken[]): Promise<void> {
    if (tokens.length === 0) return;
    await ignoreDuplicates(this.tokens.collection.insertMany(
      tokens.map((t) => ({ _id: `${t.workflowId}:${t.taskId}:${t.seq}` as unknown as Types.ObjectId, ...t })),
      { ordered: false },
    ));
  }

  async loadStreamTokens(workflowId: string, tenantId: string): Promise<StoredStreamToken[]> {
    const docs = await this.tokens.find({ workflowId, tenantId }).sort({ taskId: 1, seq: 1 }).lean();
    return docs.map(({ workflowId: w, tenantId: t, taskId, seq, text, occurredAt }) => ({ workflowId: w, tenantId: t, taskId, seq, text: text ?? '', occurredAt }));
  }

  async purgeStreamTokens(olderThan: Date): Promise<number> {
    const result = await this.tokens.deleteMany({ occurredAt: { $lt: olderThan.toISOString() } });
    return result.deletedCount;
  }

  healthy(): boolean {
    return this.connection?.readyState === 1;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}
