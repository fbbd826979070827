import mongoose, { Connection, Model, Schema } from 'mongoose';
import {
  compareTurns, ConversationSession, ConversationStore, ConversationStoreOptions, isSummarised, normaliseTurn, planFold, PreferenceValue, RecentContext,
  requireMaxTokens, requirePreference, requireScope, ResolvedConversationOptions, resolveConversationOptions, selectRecent, SummaryBoundary, Turn,
} from './conversation-store';
import { isDuplicateKey } from './mongo-errors';

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
 * Ids embed the tenant, so a lookup by `_id` alone cannot reach another tenant's data.
 *
 * Reads by `_id` only. FerretDB's SQLite backend pushes a filter down to an index only when it is
 * exactly `{_id: <value>}`; any other filter (`{sessionKey}`) decodes the whole collection — every
 * turn of every session, on every question and every remembered answer (ADR 0014). So a session's
 * turns are found through slots: each appended turn also takes the next free slot of its session's
 * turn log (`_id` = [tenant, session, n], inserted, so two appends never share a slot), and the
 * session document keeps hints — `last` (highest slot), `low` (lowest live slot) and `rev` (latest
 * summary revision), moved with `$max`. A hint may lag (a lost update, a crash in between), never
 * lead: readers fetch slots low..last by `_id` and keep probing past `last` until a slot is missing,
 * and the latest summary likewise past `rev`. For that, slots and revisions never leave gaps: a
 * fold deletes the folded turns but keeps their slots, and empties a superseded summary's text
 * rather than deleting it; all of them go with the session. Deletes (idle purge, forgetting a user)
 * are rare and keep their filters.
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
  /** Hints (see above): the highest turn-log slot taken, the lowest still live, the latest summary revision. */
  last?: number;
  low?: number;
  rev?: number;
}

/** One slot of a session's turn log: which turn took it. */
interface TurnLogDoc {
  _id: string;
  sessionKey: string;
  slot: number;
  turnId: string;
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
  last: { type: Number },
  low: { type: Number },
  rev: { type: Number },
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

const turnLogSchema = new Schema<TurnLogDoc>({
  _id: { type: String, required: true },
  sessionKey: { type: String, required: true },
  slot: { type: Number, required: true },
  turnId: { type: String, required: true },
}, { collection: 'memory_turn_log', versionKey: false });
turnLogSchema.index({ sessionKey: 1 });

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
/** The `_id` of a key's child: the key's parts plus more (a session's turn, slot or summary revision). */
const childOf = (sessionKey: string, ...parts: (string | number)[]): string => keyOf(...(JSON.parse(sessionKey) as string[]), ...parts);

/** What a session's hints point at, read from its document. */
interface Head {
  last: number;
  low: number;
  rev: number;
  /** The session's owner, if it has one (read with the hints, for touch()). */
  userId?: string;
}

/** A session's live turns as read through its turn log, with the slots they took. */
interface Loaded {
  turns: Turn[];
  /** Slot of each turn id (the first, if a redelivery logged it twice), and every slot read. */
  slotOf: Map<string, number>;
  slots: { slot: number; turnId: string }[];
  highest: number;
}

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
  private turnLog!: Model<TurnLogDoc>;
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
    this.turnLog = this.connection.model<TurnLogDoc>('MemoryTurnLog', turnLogSchema);
    this.summaries = this.connection.model<SummaryDoc>('MemorySummary', summarySchema);
    this.preferences = this.connection.model<PreferenceDoc>('MemoryPreference', preferenceSchema);
    await this.sessions.createIndexes();
    await this.turns.createIndexes();
    await this.turnLog.createIndexes();
    await this.summaries.createIndexes();
    await this.preferences.createIndexes();
  }

  async appendTurn(input: Turn): Promise<void> {
    const turn = normaliseTurn(input);
    const sessionKey = keyOf(turn.tenantId, turn.sessionId);
    const now = this.options.now();
    // One read of the session document serves the whole append: its hints, and its owner for touch().
    let head = await this.head(sessionKey);
    const summary = await this.latestSummary(sessionKey, head);
    if (!isSummarised(turn, summary?.boundary)) {
      const doc: TurnDoc = { _id: childOf(sessionKey, turn.turnId), sessionKey, ...turn };
      let fresh = true;
      try {
        await this.turns.create(doc);
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        fresh = false;
      }
      // A turn stored before is logged already — unless its first append stopped in between: log it then.
      const logged = fresh ? undefined : await this.loadTurns(sessionKey, head);
      if (!logged?.slotOf.has(turn.turnId)) head = { ...head, last: await this.logTurn(sessionKey, turn.turnId, head, logged?.highest) };
    }
    // Touched after the turn is stored, so a purge racing this append never leaves turns without a session.
    await this.touch(sessionKey, turn, now, head.userId);
    await this.compress(sessionKey, head);
  }

  /** Puts a turn id in the next free slot of its session's turn log, moves the `last` hint there, and returns the slot. */
  private async logTurn(sessionKey: string, turnId: string, head: Head, highest = head.last): Promise<number> {
    for (let slot = Math.max(highest, head.last) + 1; ; slot++) {
      try {
        await this.turnLog.create({ _id: childOf(sessionKey, slot), sessionKey, slot, turnId });
      } catch (err) {
        if (isDuplicateKey(err)) continue; // taken by a concurrent append (or the hint lagged): the next one
        throw err;
      }
      await this.sessions.updateOne({ _id: sessionKey }, { $max: { last: slot } });
      return slot;
    }
  }

  private async touch(sessionKey: string, turn: Turn, now: Date, ownerId: string | undefined): Promise<void> {
    // The first user to speak owns the session (an anonymous session is claimed by the first identified turn).
    const claim = turn.userId !== undefined && !ownerId ? { $set: { userId: turn.userId } } : {};
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

  /** Folds the oldest turns into a new summary revision once the session is past its budget. `head`: the append's (hints; reads probe past them). */
  private async compress(sessionKey: string, head: Head): Promise<void> {
    // Turns first, then the summary: a fold landing in between only hides turns it has folded.
    const loaded = await this.loadTurns(sessionKey, head);
    const previous = await this.latestSummary(sessionKey, head);
    const turns = loaded.turns.filter((t) => !isSummarised(t, previous?.boundary));
    const fold = planFold(turns, this.options);
    if (fold.length === 0) return;
    const text = await this.options.summarise({ previous: previous?.text, turns: fold });
    const last = fold[fold.length - 1]!;
    const [tenantId, sessionId] = JSON.parse(sessionKey) as [string, string];
    const rev = (previous?.rev ?? 0) + 1;
    try {
      await this.summaries.create({
        _id: childOf(sessionKey, rev), sessionKey, tenantId, sessionId, rev, text, throughAt: last.at, throughTurnId: last.turnId, createdAt: this.options.now(),
      });
    } catch (err) {
      // A concurrent fold created this revision first; it covers these turns or the next append folds them.
      if (isDuplicateKey(err)) return;
      throw err;
    }
    await this.sessions.updateOne({ _id: sessionKey }, { $max: { rev } });
    // The previous revision keeps its place (a stub without text), so a reader probing on from a
    // lagging `rev` hint never meets a gap before the latest one.
    if (previous) await this.summaries.updateOne({ _id: childOf(sessionKey, previous.rev) }, { $set: { text: '' } });
    // The folded turns go. Their slots stay (tiny, removed with the session) for the same reason, and
    // `low` moves up to the oldest slot whose turn is still live, so reads skip them.
    const boundary = { at: last.at, turnId: last.turnId };
    const live = new Set(loaded.turns.filter((t) => !isSummarised(t, boundary)).map((t) => t.turnId));
    await Promise.all(loaded.turns.filter((t) => !live.has(t.turnId)).map((t) => this.turns.deleteOne({ _id: childOf(sessionKey, t.turnId) })));
    const liveSlots = loaded.slots.filter((s) => live.has(s.turnId)).map((s) => s.slot);
    await this.sessions.updateOne({ _id: sessionKey }, { $max: { low: liveSlots.length ? Math.min(...liveSlots) : loaded.highest + 1, last: loaded.highest } });
  }

  async recentContext(tenantId: string, sessionId: string, options: { maxTokens: number }): Promise<RecentContext> {
    requireScope(tenantId, 'sessionId', sessionId);
    requireMaxTokens(options.maxTokens);
    const sessionKey = keyOf(tenantId, sessionId);
    const head = await this.head(sessionKey);
    const [{ turns }, summary] = await Promise.all([this.loadTurns(sessionKey, head), this.latestSummary(sessionKey, head)]);
    const context: RecentContext = { turns: selectRecent(turns.filter((t) => !isSummarised(t, summary?.boundary)), options.maxTokens) };
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
    await this.turnLog.deleteMany({ sessionKey: { $in: sessionKeys } });
    await this.summaries.deleteMany({ sessionKey: { $in: sessionKeys } });
  }

  /** The session's hints (zeros for a session never touched: every read then probes from slot 1). */
  private async head(sessionKey: string): Promise<Head> {
    const s = await this.sessions.findById(sessionKey, { last: 1, low: 1, rev: 1, userId: 1 }).lean();
    return { last: s?.last ?? 0, low: s?.low ?? 1, rev: s?.rev ?? 0, ...(s?.userId ? { userId: s.userId } : {}) };
  }

  /**
   * The session's stored turns, oldest first (summarised ones not yet deleted included): its turn
   * log from `low` to `last` and on past `last` until a slot is missing, each turn then by `_id`.
   */
  private async loadTurns(sessionKey: string, head: Head): Promise<Loaded> {
    const slots: { slot: number; turnId: string }[] = [];
    const known = Array.from({ length: Math.max(0, head.last - head.low + 1) }, (_, i) => head.low + i);
    const found = await Promise.all(known.map((slot) => this.turnLog.findById(childOf(sessionKey, slot), { turnId: 1 }).lean()));
    found.forEach((d, i) => d && slots.push({ slot: known[i]!, turnId: d.turnId }));
    let highest = head.last;
    for (let slot = Math.max(head.last, head.low - 1) + 1; ; slot++) {
      const d = await this.turnLog.findById(childOf(sessionKey, slot), { turnId: 1 }).lean();
      if (!d) break;
      slots.push({ slot, turnId: d.turnId });
      highest = slot;
    }
    const slotOf = new Map<string, number>();
    for (const s of slots) if (!slotOf.has(s.turnId)) slotOf.set(s.turnId, s.slot);
    const docs = await Promise.all([...slotOf.keys()].map((turnId) => this.turns.findById(childOf(sessionKey, turnId)).lean<TurnDoc>()));
    // Sorted here rather than by the server, so the order is compareTurns' whatever the server's collation.
    const turns = docs.filter((d): d is TurnDoc => d !== null).map(toTurn).sort(compareTurns);
    return { turns, slotOf, slots, highest };
  }

  /** The latest summary revision: from the `rev` hint, probing on past it until one is missing. */
  private async latestSummary(sessionKey: string, head: Head): Promise<{ rev: number; text: string; boundary: SummaryBoundary } | undefined> {
    let s = head.rev > 0 ? await this.summaries.findById(childOf(sessionKey, head.rev)).lean() : null;
    for (let rev = head.rev + 1; ; rev++) {
      const next = await this.summaries.findById(childOf(sessionKey, rev)).lean();
      if (!next) break;
      s = next;
    }
    return s ? { rev: s.rev, text: s.text, boundary: { at: s.throughAt, turnId: s.throughTurnId } } : undefined;
  }
}
