import mongoose, { Connection, Model, Schema, Types } from 'mongoose';
import { ignoreDuplicate, ignoreDuplicates, isDuplicateKey, writeErrorsOf } from './mongo-errors';
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

/** Keyed by workflow id (`_id`): FerretDB finds a document by `_id` without scanning the collection. */
const acceptedSchema = new Schema<AcceptedDoc & { _id: string }>({
  _id: { type: String, required: true },
  workflowId: { type: String, required: true },
  tenantId: { type: String, required: true },
  requestId: { type: String, required: true },
  question: { type: String, required: true },
  acceptedAt: { type: String, required: true },
}, { collection: 'workflow_accepted', versionKey: false });

/**
 * A workflow's view (`_id`: the workflow id): the events it has, by position (`s<sequence>`), and the
 * highest position written. A cache of the `workflow_events` documents, each of which is the first
 * copy of its position: an event goes into the view only once its insert there succeeded.
 */
interface ViewDoc {
  _id: string;
  tenantId: string;
  last: number;
  events?: Record<string, StoredEvent>;
}

const viewSchema = new Schema<ViewDoc>({
  _id: { type: String, required: true },
  tenantId: { type: String, required: true },
  last: { type: Number, required: true },
  events: { type: Schema.Types.Mixed, default: {} },
}, { collection: 'workflow_views', versionKey: false, minimize: false });

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

/**
 * A workflow's streamed tokens as far as stored (`_id`: the workflow id): the highest position of
 * each compose attempt (keyed by `taskKey`), and the newest token's time for the retention sweep.
 */
interface StreamHeadDoc {
  _id: string;
  tenantId: string;
  at: string;
  tasks: Record<string, number>;
}

const streamHeadSchema = new Schema<StreamHeadDoc>({
  _id: { type: String, required: true },
  tenantId: { type: String, required: true },
  at: { type: String, required: true },
  tasks: { type: Schema.Types.Mixed, default: {} },
}, { collection: 'workflow_stream_heads', versionKey: false, minimize: false });

/** A task id as a field name: no `.` (a path separator) and no leading `$` (an operator). */
function taskKey(taskId: string): string {
  return encodeURIComponent(taskId).replace(/\./g, '%2E');
}

function taskIdOf(key: string): string {
  return decodeURIComponent(key);
}

/** How many documents of one workflow a load asks for at once. */
const LOAD_CONCURRENCY = 32;

/**
 * The documents at `positions` (`idOf(n)`), LOAD_CONCURRENCY `_id` lookups at a time, then those
 * after `last` until a position is missing. A head or view can trail what is stored: FerretDB applies
 * an update as read, change, write back with no transaction, so of two members racing on one
 * document (a rebalance) one update can be lost, and a crash between an insert and the view's update
 * leaves the redelivered insert refused (E11000) and the view without it. Positions never stored,
 * and another tenant's documents, are skipped.
 */
async function fetchPositions<T extends { tenantId: string }>(model: Model<T>, positions: number[], last: number, idOf: (n: number) => string, tenantId: string): Promise<Map<number, T>> {
  // The driver's collection: mongoose would cast a string `_id` to the schema's ObjectId.
  const get = (n: number): Promise<T | null> => model.collection.findOne<T>({ _id: idOf(n) as unknown as Types.ObjectId });
  const found = new Map<number, T>();
  for (let from = 0; from < positions.length; from += LOAD_CONCURRENCY) {
    const chunk = positions.slice(from, from + LOAD_CONCURRENCY);
    const docs = await Promise.all(chunk.map(get));
    docs.forEach((doc, i) => {
      if (doc?.tenantId === tenantId) found.set(chunk[i]!, doc);
    });
  }
  for (let n = last + 1; ; n++) {
    const doc = await get(n);
    if (!doc) return found;
    if (doc.tenantId === tenantId) found.set(n, doc);
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * Which of `docs` an unordered insertMany stored: false where it was refused as a duplicate (E11000,
 * the first copy is there). Any other write error fails the call (retrying is safe: what landed is
 * refused the second time).
 */
async function insertNew<T>(model: Model<T>, docs: { _id: string }[]): Promise<boolean[]> {
  const stored = docs.map(() => true);
  try {
    // The driver's collection: mongoose would cast the string `_id` to the schema's ObjectId.
    await model.collection.insertMany(docs as never[], { ordered: false });
  } catch (err) {
    const errors = writeErrorsOf(err);
    if (errors.length === 0 || !errors.every(isDuplicateKey)) throw err;
    for (const e of errors) {
      if (typeof e.index === 'number') stored[e.index] = false;
      else if (docs.length === 1) stored[0] = false;
      else throw err;
    }
  }
  return stored;
}

type UpsertOp = { updateOne: { filter: { _id: string }; update: Record<string, unknown>; upsert: true } };

/**
 * An unordered bulk of upserts by `_id`, each applied even when another writer raced it: two
 * upserts of a new `_id` can both miss and both insert, and the loser's E11000 would drop its update
 * (a `$max` lost). Those are retried — the document exists now, so the retry updates it.
 */
async function upsertAll<T extends { _id: string }>(model: Model<T>, ops: UpsertOp[]): Promise<void> {
  let pending = ops;
  for (let attempt = 1; pending.length > 0; attempt++) {
    try {
      await model.collection.bulkWrite(pending as never, { ordered: false });
      return;
    } catch (err) {
      const errors = writeErrorsOf(err);
      if (attempt >= 3 || errors.length === 0 || !errors.every((e) => isDuplicateKey(e) && typeof e.index === 'number')) throw err;
      pending = errors.map((e) => pending[e.index!]!);
    }
  }
}

/**
 * The distributed read model, in MongoDB (FerretDB in tests), through mongoose.
 *
 * Every read is by `_id`. FerretDB's SQLite backend pushes a filter down to SQL only when it is
 * exactly `{ _id: <string> }` (backends/sqlite/collection.go); any other filter reads and decodes the
 * whole collection — measured: a `GET /v1/workflows/:id` took 5–58 s with 200 workflows in flight,
 * while the projector fell hundreds of events behind. And each lookup is a round trip, so a
 * workflow is read as one document: an event is stored under
 * `workflowId:sequence` (the first copy of each position wins), copied into the workflow's view
 * document in `workflow_views`, and the accepted request is stored under the workflow id.
 */
export class MongoWorkflowViewStore implements WorkflowViewStore {
  private connection!: Connection;
  private events!: Model<StoredEvent>;
  private accepted!: Model<AcceptedDoc & { _id: string }>;
  private views!: Model<ViewDoc>;
  private tokens!: Model<StoredStreamToken>;
  private streamHeads!: Model<StreamHeadDoc>;

  constructor(private readonly url: string) {}

  async init(): Promise<void> {
    this.connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.events = this.connection.model<StoredEvent>('WorkflowEvent', eventSchema);
    this.accepted = this.connection.model<AcceptedDoc & { _id: string }>('WorkflowAccepted', acceptedSchema);
    this.views = this.connection.model<ViewDoc>('WorkflowView', viewSchema);
    this.tokens = this.connection.model<StoredStreamToken>('WorkflowStreamToken', tokenSchema);
    this.streamHeads = this.connection.model<StreamHeadDoc>('WorkflowStreamHead', streamHeadSchema);
    await this.events.createIndexes();
    await this.accepted.createIndexes();
    await this.views.createIndexes();
    await this.tokens.createIndexes();
    await this.streamHeads.createIndexes();
  }

  async appendEvent(e: StoredEvent): Promise<void> {
    await this.appendEvents([e]);
  }

  /**
   * One unordered bulk insert per batch, each event under a deterministic `_id` (workflowId:sequence):
   * a copy already stored — by an earlier batch or a concurrent member (caught by the `_id` and the
   * unique (workflowId, sequence) index) — is refused with E11000 and skipped, the rest land. Inserts,
   * not upserts: FerretDB answers an upsert filtered on (workflowId, sequence) by scanning the
   * collection (measured: 1,000 upserts took over 30 s); an insert checks the unique indexes only.
   * Then each workflow's view gets the events whose insert succeeded — the first copies — in one
   * update by `_id`, after the inserts, so the view never shows what the log copy does not hold.
   */
  async appendEvents(events: readonly StoredEvent[]): Promise<void> {
    if (events.length === 0) return;
    const stored = await insertNew(this.events, events.map((e) => ({ _id: `${e.workflowId}:${e.sequence}`, ...e })));
    const views = new Map<string, { tenantId: string; last: number; set: Record<string, StoredEvent> }>();
    events.forEach((e, i) => {
      if (!stored[i]) return;
      let view = views.get(e.workflowId);
      if (!view) views.set(e.workflowId, view = { tenantId: e.tenantId, last: e.sequence, set: {} });
      view.last = Math.max(view.last, e.sequence);
      view.set[`events.s${e.sequence}`] = e;
    });
    await upsertAll(this.views, [...views].map(([workflowId, { tenantId, last, set }]) => ({
      updateOne: { filter: { _id: workflowId }, update: { $set: set, $max: { last }, $setOnInsert: { tenantId } }, upsert: true },
    })));
  }

  async recordAccepted(a: AcceptedDoc): Promise<void> {
    // An insert under the workflow id: a resubmission is refused (E11000), so the first record stays.
    await ignoreDuplicate(this.accepted.collection.insertOne({ _id: a.workflowId as unknown as Types.ObjectId, ...a }));
  }

  /**
   * Two lookups by `_id` (the accepted record, the view), then one more past the view's last
   * position; only events the view lacks (see fetchPositions) are looked up one by one.
   */
  async load(workflowId: string, tenantId: string): Promise<{ accepted?: { requestId: string; question: string; acceptedAt: string }; events: StoredEvent[] } | null> {
    const [found, view] = await Promise.all([
      this.accepted.findOne({ _id: workflowId }).lean(),
      this.views.findOne({ _id: workflowId }).lean(),
    ]);
    const accepted = found?.tenantId === tenantId ? found : null;
    let events: StoredEvent[] = [];
    // A view of another tenant's workflow: nothing of it is shown (and nothing looked up).
    if (!view || view.tenantId === tenantId) {
      const known = new Map<number, StoredEvent>();
      for (const [key, e] of Object.entries(view?.events ?? {})) known.set(Number(key.slice(1)), e);
      const last = Math.max(view?.last ?? -1, ...known.keys());
      const more = await fetchPositions<StoredEvent>(this.events, range(0, last).filter((n) => !known.has(n)), last, (n) => `${workflowId}:${n}`, tenantId);
      events = [...known.values(), ...more.values()].sort((x, y) => x.sequence - y.sequence);
    }
    if (!accepted && events.length === 0) return null;
    return {
      accepted: accepted ? { requestId: accepted.requestId, question: accepted.question, acceptedAt: accepted.acceptedAt } : undefined,
      events: events.map(({ workflowId: w, tenantId: t, sequence, type, version, id, data, occurredAt }) => ({ workflowId: w, tenantId: t, sequence, type, version, id, data, occurredAt })),
    };
  }

  async appendStreamToken(t: StoredStreamToken): Promise<void> {
    await this.appendStreamTokens([t]);
  }

  /**
   * One unordered bulk insert, each token under a deterministic `_id` (as `appendEvents`), then the
   * workflow's stream head: the highest position of each compose attempt, for `loadStreamTokens`.
   */
  async appendStreamTokens(tokens: readonly StoredStreamToken[]): Promise<void> {
    if (tokens.length === 0) return;
    await ignoreDuplicates(this.tokens.collection.insertMany(
      tokens.map((t) => ({ _id: `${t.workflowId}:${t.taskId}:${t.seq}` as unknown as Types.ObjectId, ...t })),
      { ordered: false },
    ));
    const heads = new Map<string, { tenantId: string; at: string; tasks: Record<string, number> }>();
    for (const t of tokens) {
      let head = heads.get(t.workflowId);
      if (!head) heads.set(t.workflowId, head = { tenantId: t.tenantId, at: t.occurredAt, tasks: {} });
      if (t.occurredAt > head.at) head.at = t.occurredAt;
      const key = `tasks.${taskKey(t.taskId)}`;
      head.tasks[key] = Math.max(head.tasks[key] ?? 0, t.seq);
    }
    await upsertAll(this.streamHeads, [...heads].map(([workflowId, { tenantId, at, tasks }]) => ({
      updateOne: { filter: { _id: workflowId }, update: { $max: { at, ...tasks }, $setOnInsert: { tenantId } }, upsert: true },
    })));
  }

  async loadStreamTokens(workflowId: string, tenantId: string): Promise<StoredStreamToken[]> {
    const head = await this.streamHeads.findOne({ _id: workflowId }).lean();
    if (head?.tenantId !== tenantId) return [];
    const found: StoredStreamToken[] = [];
    const tasks = Object.entries(head.tasks ?? {}).map(([key, last]) => [taskIdOf(key), last] as const).sort(([a], [b]) => a.localeCompare(b));
    for (const [taskId, last] of tasks) found.push(...(await fetchPositions<StoredStreamToken>(this.tokens, range(0, last), last, (n) => `${workflowId}:${taskId}:${n}`, tenantId)).values());
    return found.map(({ workflowId: w, tenantId: t, taskId, seq, text, occurredAt }) => ({ workflowId: w, tenantId: t, taskId, seq, text: text ?? '', occurredAt }));
  }

  async purgeStreamTokens(olderThan: Date): Promise<number> {
    const result = await this.tokens.deleteMany({ occurredAt: { $lt: olderThan.toISOString() } });
    await this.streamHeads.deleteMany({ at: { $lt: olderThan.toISOString() } });
    return result.deletedCount;
  }

  healthy(): boolean {
    return this.connection?.readyState === 1;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}
