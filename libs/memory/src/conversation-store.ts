import { ErrorCode, FieldError, FlotillaError } from '@flotilla/common';

/** Who spoke a turn. */
export type TurnRole = 'user' | 'assistant';

/** One message of a conversation, as the agents remember it. */
export interface Turn {
  tenantId: string;
  sessionId: string;
  userId?: string;
  /** Idempotency key: appending the same turnId to the same session again stores nothing new. */
  turnId: string;
  role: TurnRole;
  text: string;
  workflowId?: string;
  /** What a follow-up may need to resolve ("where is it now?"), e.g. `{ intent, orderId }`. */
  facts?: Record<string, unknown>;
  /** The turn's size in model tokens, counted by the caller (the one that knows the tokenizer). */
  tokens: number;
  /** When the turn was said, ISO-8601; turns are ordered by it (ties by turnId). */
  at: string;
}

/** What an agent puts in front of the model: the running summary of older turns and the newest turns verbatim. */
export interface RecentContext {
  summary?: string;
  /** Oldest first; the newest turns whose tokens fit the budget (always a contiguous tail). */
  turns: Turn[];
}

export interface ConversationSession {
  tenantId: string;
  sessionId: string;
  userId?: string;
  createdAt: string;
  lastActiveAt: string;
}

export type PreferenceValue = string | number | boolean;

/**
 * Folds old turns into the running summary. Pure and deterministic by default
 * ({@link extractiveSummariser}); an LLM-backed one can be plugged in, hence the optional promise.
 */
export type Summariser = (input: { previous?: string; turns: readonly Turn[] }) => string | Promise<string>;

export interface ConversationStoreOptions {
  /** Un-summarised tokens a session may hold before its oldest turns are folded into the summary. Default 2,000. */
  compressAboveTokens?: number;
  /** Un-summarised tokens left after a fold (hysteresis, so not every turn triggers one). Default half of compressAboveTokens. */
  retainTokens?: number;
  summarise?: Summariser;
  /** The clock sessions' activity is recorded with (injected in tests). */
  now?: () => Date;
}

/**
 * Conversation memory: sessions, their turns, a running summary of older turns, and per-user
 * preferences. Every read and write is scoped by tenant; a read under another tenant sees nothing.
 *
 * A session's storage stays bounded: once its un-summarised turns exceed `compressAboveTokens`,
 * the oldest are folded into the summary and deleted. A turn ordered at or before the summary's
 * last folded turn (a redelivery of a folded turn, typically) is ignored.
 */
export interface ConversationStore {
  init(): Promise<void>;
  /** Stores a turn (idempotent by tenant, session and turnId), touches the session, and compresses when over budget. */
  appendTurn(turn: Turn): Promise<void>;
  /** The running summary plus the newest turns that fit `maxTokens`. Empty for an unknown session or another tenant. */
  recentContext(tenantId: string, sessionId: string, options: { maxTokens: number }): Promise<RecentContext>;
  getSession(tenantId: string, sessionId: string): Promise<ConversationSession | null>;
  setPreference(tenantId: string, userId: string, name: string, value: PreferenceValue): Promise<void>;
  getPreferences(tenantId: string, userId: string): Promise<Record<string, PreferenceValue>>;
  /**
   * Deletes every session (with its turns and summary) last active before `olderThan`; returns how many.
   * This is the TTL cleanup in both adapters: FerretDB v1.24 rejects TTL indexes (see MongoConversationStore).
   */
  purgeIdle(olderThan: Date): Promise<number>;
  /** Deletes a user's sessions (with turns and summaries) and preferences in one tenant (privacy erasure). */
  forgetUser(tenantId: string, userId: string): Promise<void>;
  healthy(): boolean;
  close(): Promise<void>;
}

/** The last turn folded into a summary: turns ordered at or before it live only in the summary. */
export interface SummaryBoundary {
  at: string;
  turnId: string;
}

export const DEFAULT_COMPRESS_ABOVE_TOKENS = 2000;

/** Options with defaults applied and checked; a bad value fails at construction, not on the first turn. */
export interface ResolvedConversationOptions {
  compressAboveTokens: number;
  retainTokens: number;
  summarise: Summariser;
  now: () => Date;
}

export function resolveConversationOptions(options: ConversationStoreOptions = {}): ResolvedConversationOptions {
  const compressAboveTokens = options.compressAboveTokens ?? DEFAULT_COMPRESS_ABOVE_TOKENS;
  const retainTokens = options.retainTokens ?? Math.floor(compressAboveTokens / 2);
  const fields: FieldError[] = [];
  if (!Number.isInteger(compressAboveTokens) || compressAboveTokens < 1) fields.push({ field: 'compressAboveTokens', reasons: ['must be a positive integer'] });
  if (!Number.isInteger(retainTokens) || retainTokens < 0 || retainTokens > compressAboveTokens) {
    fields.push({ field: 'retainTokens', reasons: ['must be an integer between 0 and compressAboveTokens'] });
  }
  if (fields.length) throw new FlotillaError(ErrorCode.ConfigInvalid, 'invalid conversation store options', { fields });
  return { compressAboveTokens, retainTokens, summarise: options.summarise ?? extractiveSummariser(), now: options.now ?? (() => new Date()) };
}

const ROLES: readonly TurnRole[] = ['user', 'assistant'];

function nonEmpty(fields: FieldError[], field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) fields.push({ field, reasons: ['must be a non-empty string'] });
}

/** Validates a turn at the store's edge and normalises `at` to `toISOString()` form (so it sorts as text). */
export function normaliseTurn(turn: Turn): Turn {
  const fields: FieldError[] = [];
  nonEmpty(fields, 'tenantId', turn.tenantId);
  nonEmpty(fields, 'sessionId', turn.sessionId);
  nonEmpty(fields, 'turnId', turn.turnId);
  if (turn.userId !== undefined) nonEmpty(fields, 'userId', turn.userId);
  if (turn.workflowId !== undefined) nonEmpty(fields, 'workflowId', turn.workflowId);
  if (!ROLES.includes(turn.role)) fields.push({ field: 'role', reasons: [`must be one of ${ROLES.join(', ')}`] });
  if (typeof turn.text !== 'string') fields.push({ field: 'text', reasons: ['must be a string'] });
  if (!Number.isInteger(turn.tokens) || turn.tokens < 0) fields.push({ field: 'tokens', reasons: ['must be a non-negative integer'] });
  if (turn.facts !== undefined && (turn.facts === null || typeof turn.facts !== 'object' || Array.isArray(turn.facts))) {
    fields.push({ field: 'facts', reasons: ['must be an object'] });
  }
  const at = typeof turn.at === 'string' ? new Date(turn.at) : new Date(NaN);
  if (Number.isNaN(at.getTime())) fields.push({ field: 'at', reasons: ['must be an ISO-8601 timestamp'] });
  if (fields.length) throw new FlotillaError(ErrorCode.ValidationFailed, 'invalid conversation turn', { fields });
  const normalised: Turn = { tenantId: turn.tenantId, sessionId: turn.sessionId, turnId: turn.turnId, role: turn.role, text: turn.text, tokens: turn.tokens, at: at.toISOString() };
  if (turn.userId !== undefined) normalised.userId = turn.userId;
  if (turn.workflowId !== undefined) normalised.workflowId = turn.workflowId;
  if (turn.facts !== undefined) normalised.facts = turn.facts;
  return normalised;
}

export function requireScope(tenantId: string, what: string, id: string): void {
  const fields: FieldError[] = [];
  nonEmpty(fields, 'tenantId', tenantId);
  nonEmpty(fields, what, id);
  if (fields.length) throw new FlotillaError(ErrorCode.ValidationFailed, `invalid ${what} scope`, { fields });
}

export function requireMaxTokens(maxTokens: number): void {
  if (!Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new FlotillaError(ErrorCode.ValidationFailed, 'invalid context budget', { fields: [{ field: 'maxTokens', reasons: ['must be a non-negative integer'] }] });
  }
}

export function requirePreference(name: string, value: PreferenceValue): void {
  const fields: FieldError[] = [];
  nonEmpty(fields, 'name', name);
  const ok = typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
  if (!ok) fields.push({ field: 'value', reasons: ['must be a string, a finite number or a boolean'] });
  if (fields.length) throw new FlotillaError(ErrorCode.ValidationFailed, 'invalid preference', { fields });
}

/** Conversation order: by time, ties broken by turnId so every adapter agrees. */
export function compareTurns(a: { at: string; turnId: string }, b: { at: string; turnId: string }): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return a.turnId < b.turnId ? -1 : a.turnId > b.turnId ? 1 : 0;
}

/** Whether a turn is already folded into a summary that ends at `boundary`. */
export function isSummarised(turn: { at: string; turnId: string }, boundary: SummaryBoundary | undefined): boolean {
  return boundary !== undefined && compareTurns(turn, boundary) <= 0;
}

/** The newest turns whose tokens fit `maxTokens`, as a contiguous tail, oldest first. */
export function selectRecent<T extends { tokens: number }>(turnsOldestFirst: readonly T[], maxTokens: number): T[] {
  let used = 0;
  let start = turnsOldestFirst.length;
  while (start > 0 && used + turnsOldestFirst[start - 1]!.tokens <= maxTokens) {
    used += turnsOldestFirst[start - 1]!.tokens;
    start -= 1;
  }
  return turnsOldestFirst.slice(start);
}

/**
 * Which of a session's un-summarised turns (oldest first) to fold: none while they total at most
 * `compressAboveTokens`; past that, the oldest ones until at most `retainTokens` remain. The newest
 * turn always stays verbatim, however large.
 */
export function planFold<T extends { tokens: number }>(turnsOldestFirst: readonly T[], budget: { compressAboveTokens: number; retainTokens: number }): T[] {
  let remaining = turnsOldestFirst.reduce((sum, t) => sum + t.tokens, 0);
  if (remaining <= budget.compressAboveTokens) return [];
  let count = 0;
  while (count < turnsOldestFirst.length - 1 && remaining > budget.retainTokens) {
    remaining -= turnsOldestFirst[count]!.tokens;
    count += 1;
  }
  return turnsOldestFirst.slice(0, count);
}

function shorten(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, Math.max(0, max - 1)).trimEnd()}…`;
}

/**
 * The default summariser: no model, no randomness. Each folded turn becomes one line — its role,
 * its facts as JSON and its text shortened to `textChars` — appended to the previous summary; the
 * oldest lines are dropped once the summary would pass `maxChars`, so a session's summary (and so
 * its storage) stays bounded however long the conversation runs.
 */
export function extractiveSummariser(options: { textChars?: number; maxChars?: number } = {}): Summariser {
  const textChars = options.textChars ?? 160;
  const maxChars = options.maxChars ?? 4000;
  return ({ previous, turns }) => {
    const lines = previous ? previous.split('\n') : [];
    for (const t of turns) {
      const facts = t.facts && Object.keys(t.facts).length ? ` ${JSON.stringify(t.facts)}` : '';
      lines.push(`${t.role}${facts}: ${shorten(t.text, textChars)}`);
    }
    let size = lines.reduce((n, l) => n + l.length + 1, -1);
    while (lines.length > 1 && size > maxChars) size -= lines.shift()!.length + 1;
    const summary = lines.join('\n');
    return summary.length > maxChars ? shorten(summary, maxChars) : summary;
  };
}
