import mongoose, { Connection, Model, Schema } from 'mongoose';
import {
  compareTurns, ConversationSession, ConversationStore, ConversationStoreOptions, isSummarised, normaliseTurn, planFold, PreferenceValue, RecentContext,
  requireMaxTokens, requirePreference, requireScope, ResolvedConversationOptions, resolveConversationOptions, selectRecent, SummaryBoundary, Turn,
} from './conversation-store';
import { ignoreDuplicate, isDuplicateKey } from './mongo-errors';

/*
 * Shape of the data, and why. FerretDB v1.24 (our MongoDB-compatible test and local server) runs
 * every update as "query, change in memory, write the whole document back by _id" with no
 * transaction, so two concurrent read-modify-writes of one document can lose one of them. Only
 * inserts (a unique _id or unique index rejects the second with E11000) and deletes are safe.
 * So everything that must not be lost is insert-only:
 *  - a turn is its own document, `_id` = [tenant, session, turnId]: appending twice is an E11000;
 *  - the summary is a chain of immutable revisions, `_id` = [tenant, session, rev]: of two
 *    concurrent folds of a session only one can create revision n+1, the other gives way;
 *  - only `lastActiveAt` and `userId` of a session are updated in place, where a lost race costs
 *    a few milliseconds of idle time at worst.
 * Ids embed the tenant, so a lookup by `_id` alone (the only filter FerretDB's SQLite backend
 * pushes down to an index) cannot reach another tenant's data.
 *
 * TTL: FerretDB v1.24 rejects TTL indexes (`createIndexes` with `expireAfterSeconds` answers
 * NotImplemented, code 238, "Index option expireAfterSeconds is not implemented yet"), and a TTL
 * index would delete a session without its turns and summary anyway. So idle sessions are removed
 * by `purgeIdle(olderThan)`, which the service calls periodically (startIdlePurge), as in SQLite.
 */

interface SessionDoc {
  _id: string;
  tenantId: string;
  sessionId: string;
  userId?: string;
  createdAt: Date;
  lastActiveAt: Date;
}

interface TurnDoc extends Omit<Turn, 'userId' | 'workflowId' | 'facts'> {
  _id: string;
  sessionKey: string;
  userId?: string;
  workflowId?: string;
  facts?: Record<string, unknown>;
}

interface SummaryDoc {
  _id: string;
  sessionKey: string;
  tenantId: string;
  sessionId: string;
  rev: number;
  text: string;
  throughAt: string;
  throughTurnId: string;
  createdAt: Date;
}

interface PreferenceDoc {
  _id: string;
  tenantId: string;
  userId: string;
  name: string;
  value: PreferenceValue;
  updatedAt: Date;
}

const sessionSchema = new Schema<SessionDoc>({
  _id: { type: String, required: true },
  tenantId: { type: String, required: true },
  sessionId: { type: String, required: true },
  userId: { type: String },
  createdAt: { type: Date, required: true },
  lastActiveAt: { type: Date, required: true },
}, { collection: 'memory_sessions', versionKey: false });
sessionSchema.index({ lastActiveAt: 1 });
sessionSchema.index({ tenantId: 1, userId: 1 });

const turnSchema = new Schema<TurnDoc>({
  _id: { type: String, required: true },
  sessionKey: { type: String, required: true },
  tenantId: { type: String, required: true },
  sessionId: { type: String, required: true },
  userId: { type: String },
  turnId: { type: String, required: true },
  role: { type: String, required: true },
  text: { type: String, default: '' },
  workflowId: { type: String },
  facts: { type: Schema.Types.Mixed },
  tokens: { type: Number, required: true },
  at: { type: String, required: true },
}, { collection: 'memory_turns', versionKey: false, minimize: false });
turnSchema.index({ sessionKey: 1, at: 1, turnId: 1 });
turnSchema.index({ tenantId: 1, userId: 1 });

const summarySchema = new Schema<SummaryDoc>({
  _id: { type: String, required: true },
  sessionKey: { type: String, required: true },
  tenantId: { type: String, required: true },
  sessionId: { type: String, required: true },
  rev: { type: Number, required: true },
  text: { type: String, default: '' },
  throughAt: { type: String, required: true },
  throughTurnId: { type: String, required: true },
  createdAt: { type: Date, required: true },
}, { collection: 'memory_summaries', versionKey: false });
summarySchema.index({ sessionKey: 1, rev: -1 });

const preferenceSchema = new Schema<PreferenceDoc>({
  _id: { type: String, required: true },
  tenantId: { type: String, required: true },
  userId: { type: String, required: true },
  name: { type: String, required: true },
  value: { type: Schema.Types.Mixed, required: true },
  updatedAt: { type: Date, required: true },
}, { collection: 'memory_preferences', versionKey: false });
preferenceSchema.index({ tenantId: 1, userId: 1 });

const PURGE_BATCH = 500;

/** An unambiguous composite key (JSON of the parts), tenant first. */
const keyOf = (...parts: (string | number)[]): string => JSON.stringify(parts);

function toTurn(d: TurnDoc): Turn {
  const turn: Turn = { tenantId: d.tenantId, sessionId: d.sessionId, turnId: d.turnId, role: d.role, text: d.text, tokens: d.tokens, at: d.at };
  if (d.userId !== undefined && d.userId !== null) turn.userId = d.userId;
  if (d.workflowId !== undefined && d.workflowId !== null) turn.workflowId = d.workflowId;
  if (d.facts !== undefined && d.facts !== null) turn.facts = d.facts;
  return turn;
}

/** Conversation memory in MongoDB (FerretDB in tests), through mongoose. */
export class MongoConversationStore implements ConversationStore {
  private connection!: Connection;
  private sessions!: Model<SessionDoc>;
  private turns!: Model<TurnDoc>;
  private summaries!: Model<SummaryDoc>;
  private preferences!: Model<PreferenceDoc>;
  private readonly options: ResolvedConversationOptions;

  constructor(private readonly url: string, options: ConversationStoreOptions = {}) {
    this.options = resolveConversationOptions(options);
  }

  async init(): Promise<void> {
    this.connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.sessions = this.connection.model<SessionDoc>('MemorySession', sessionSchema);
    this.turns = this.connection.model<TurnDoc>('MemoryTurn', turnSchema);
    this.summaries = this.connection.model<SummaryDoc>('MemorySummary', summarySchema);
    this.preferences = this.connection.model<PreferenceDoc>('MemoryPreference', preferenceSchema);
    await this.sessions.createIndexes();
    await this.turns.createIndexes();
    await this.summaries.createIndexes();
    await this.preferences.createIndexes();
  }

  async appendTurn(input: Turn): Promise<void> {
    const turn = normaliseTurn(input);
    const sessionKey = keyOf(turn.tenantId, turn.sessionId);
    const now = this.options.now();
    const summary = await this.latestSummary(sessionKey);
    if (!isSummarised(turn, summary?.boundary)) {
      const doc: TurnDoc = { _id: keyOf(turn.tenantId, turn.sessionId, turn.turnId), sessionKey, ...turn };
      await ignoreDuplicate(this.turns.create(doc));
    }
    // Touched after the turn is stored, so a purge racing this append never leaves turns without a session.
    await this.touch(sessionKey, turn, now);
    await this.compress(sessionKey);
  }

  private async touch(sessionKey: string, turn: Turn, now: Date): Promise<void> {
    const existing = await this.sessions.findById(sessionKey, { userId: 1 }).lean();
    // The first user to speak owns the session (an anonymous session is claimed by the first identified turn).
    const claim = turn.userId !== undefined && !existing?.userId ? { $set: { userId: turn.userId } } : {};
    const update = () => this.sessions.updateOne(
      { _id: sessionKey },
      { $setOnInsert: { tenantId: turn.tenantId, sessionId: turn.sessionId, createdAt: now }, $max: { lastActiveAt: now }, ...claim },
      { upsert: true },
    );
    try {
      await update();
    } catch (err) {
      // Two first turns upserted the session at once; it exists now, so touching it again is an update.
      if (!isDuplicateKey(err)) throw err;
      await update();
    }
  }

  private async compress(sessionKey: string): Promise<void> {
    // Turns first, then the summary: a fold landing in between only hides turns it has folded.
    const all = await this.loadTurns(sessionKey);
    const previous = await this.latestSummary(sessionKey);
    const turns = all.filter((t) => !isSummarised(t, previous?.boundary));
    const fold = planFold(turns, this.options);
    if (fold.length === 0) return;
    const text = await this.options.summarise({ previous: previous?.text, turns: fold });
    const last = fold[fold.length - 1]!;
    const [tenantId, sessionId] = JSON.parse(sessionKey) as [string, string];
    const rev = (previous?.rev ?? 0) + 1;
    try {
      await this.summaries.create({
        _id: keyOf(tenantId, sessionId, rev), sessionKey, tenantId, sessionId, rev, text, throughAt: last.at, throughTurnId: last.turnId, createdAt: this.options.now(),
      });
    } catch (err) {
      // A concurrent fold created this revision first; it covers these turns or the next append folds them.
      if (isDuplicateKey(err)) return;
      throw err;
    }
    await this.summaries.deleteMany({ sessionKey, rev: { $lt: rev } });
    await this.turns.deleteMany({ sessionKey, $or: [{ at: { $lt: last.at } }, { at: last.at, turnId: { $lte: last.turnId } }] });
  }

  async recentContext(tenantId: string, sessionId: string, options: { maxTokens: number }): Promise<RecentContext> {
    requireScope(tenantId, 'sessionId', sessionId);
    requireMaxTokens(options.maxTokens);
    const sessionKey = keyOf(tenantId, sessionId);
    const all = await this.loadTurns(sessionKey);
    const summary = await this.latestSummary(sessionKey);
    const context: RecentContext = { turns: selectRecent(all.filter((t) => !isSummarised(t, summary?.boundary)), options.maxTokens) };
    if (summary?.text) context.summary = summary.text;
    return context;
  }

  async getSession(tenantId: string, sessionId: string): Promise<ConversationSession | null> {
    requireScope(tenantId, 'sessionId', sessionId);
    const s = await this.sessions.findById(keyOf(tenantId, sessionId)).lean();
    if (!s) return null;
    const session: ConversationSession = { tenantId: s.tenantId, sessionId: s.sessionId, createdAt: s.createdAt.toISOString(), lastActiveAt: s.lastActiveAt.toISOString() };
    if (s.userId) session.userId = s.userId;
    return session;
  }

  async setPreference(tenantId: string, userId: string, name: string, value: PreferenceValue): Promise<void> {
    requireScope(tenantId, 'userId', userId);
    requirePreference(name, value);
    const write = () => this.preferences.replaceOne(
      { _id: keyOf(tenantId, userId, name) },
      { tenantId, userId, name, value, updatedAt: this.options.now() },
      { upsert: true },
    );
    try {
      await write();
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      await write();
    }
  }

  async getPreferences(tenantId: string, userId: string): Promise<Record<string, PreferenceValue>> {
    requireScope(tenantId, 'userId', userId);
    const docs = await this.preferences.find({ tenantId, userId }).sort({ name: 1 }).lean();
    return Object.fromEntries(docs.map((d) => [d.name, d.value]));
  }

  async purgeIdle(olderThan: Date): Promise<number> {
    const idle = (await this.sessions.find({ lastActiveAt: { $lt: olderThan } }, { _id: 1 }).lean()).map((s) => s._id);
    let purged = 0;
    // In batches, each a few queries: off MongoDB every non-_id filter is a collection scan (FerretDB).
    for (let i = 0; i < idle.length; i += PURGE_BATCH) {
      const batch = idle.slice(i, i + PURGE_BATCH);
      // Re-checked at delete time: a session touched since the scan stays, and so do its turns.
      await this.sessions.deleteMany({ _id: { $in: batch }, lastActiveAt: { $lt: olderThan } });
      const kept = new Set((await this.sessions.find({ _id: { $in: batch } }, { _id: 1 }).lean()).map((s) => s._id));
      const gone = batch.filter((key) => !kept.has(key));
      if (gone.length) await this.dropSessionData(gone);
      purged += gone.length;
    }
    return purged;
  }

  async forgetUser(tenantId: string, userId: string): Promise<void> {
    requireScope(tenantId, 'userId', userId);
    // Every session the user owns or spoke in goes, whole: its summary may carry their words.
    const [owned, spokenIn] = await Promise.all([
      this.sessions.find({ tenantId, userId }, { _id: 1 }).lean(),
      this.turns.find({ tenantId, userId }, { sessionKey: 1 }).lean(),
    ]);
    const keys = [...new Set([...owned.map((s) => s._id), ...spokenIn.map((t) => t.sessionKey)])];
    if (keys.length) {
      await this.sessions.deleteMany({ _id: { $in: keys } });
      await this.dropSessionData(keys);
    }
    await this.preferences.deleteMany({ tenantId, userId });
  }

  healthy(): boolean {
    return this.connection?.readyState === 1;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }

  private async dropSessionData(sessionKeys: string[]): Promise<void> {
    await this.turns.deleteMany({ sessionKey: { $in: sessionKeys } });
    await this.summaries.deleteMany({ sessionKey: { $in: sessionKeys } });
  }

  /** The session's stored turns, oldest first (summarised ones not yet deleted included). */
  private async loadTurns(sessionKey: string): Promise<Turn[]> {
    // Sorted here rather than by the server, so the order is compareTurns' whatever the server's collation.
    const docs = await this.turns.find({ sessionKey }).lean<TurnDoc[]>();
    return docs.map(toTurn).sort(compareTurns);
  }

  private async latestSummary(sessionKey: string): Promise<{ rev: number; text: string; boundary: SummaryBoundary } | undefined> {
    const s = await this.summaries.findOne({ sessionKey }).sort({ rev: -1 }).lean();
    return s ? { rev: s.rev, text: s.text, boundary: { at: s.throughAt, turnId: s.throughTurnId } } : undefined;
  }
}
