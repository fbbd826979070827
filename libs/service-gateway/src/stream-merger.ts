/**
 * The ordering of a workflow's answer stream, shared by every gateway process: pure, no I/O.
 *
 * A stream frame's **cursor** is a position in the workflow's own event log, so every gateway
 * computes the same cursor for the same frame from data every gateway can read (the log, or the
 * read model projected from it):
 *
 * - a `token` is `"<s>:<seq>"`: token `seq` of the compose attempt scheduled by event `s`
 *   (its `StepScheduled`);
 * - a `revision`, a `confirmation` question, the `answer` and a workflow's final `error` (failed or
 *   cancelled) are `"<e>"`: the event `e` they show.
 *
 * Cursors order as the pairs `(s, seq)` and `(e, -1)`. A revision or the final outcome is decided
 * only after every token of the compose attempts scheduled before it was published, so this order
 * is the order a client must see; and every compose attempt (a retry, or a revision after the
 * validator rejected the text) is scheduled by a later event, so it sorts after the one before.
 */
export interface Cursor {
  /** The workflow event (sequence number) the frame belongs to. */
  at: number;
  /** Tokens only: the token's position within its compose attempt. */
  seq?: number;
}

/** What a cursor looks like on the wire: `"<e>"` or `"<e>:<seq>"`. */
export const CURSOR_PATTERN = /^(\d{1,9})(?::(\d{1,9}))?$/;

export function formatCursor(c: Cursor): string {
  return c.seq === undefined ? String(c.at) : `${c.at}:${c.seq}`;
}

/** The cursor a string names, or undefined when it is not one. */
export function parseCursor(text: string): Cursor | undefined {
  const m = CURSOR_PATTERN.exec(text);
  if (!m) return undefined;
  return m[2] === undefined ? { at: Number(m[1]) } : { at: Number(m[1]), seq: Number(m[2]) };
}

/** Negative when `a` comes before `b` in the stream, 0 when they are the same position. */
export function compareCursors(a: Cursor, b: Cursor): number {
  return a.at - b.at || (a.seq ?? -1) - (b.seq ?? -1);
}

/** A workflow event as the stream needs it, from the live topic or from the read model. */
export interface StreamEvent {
  sequence: number;
  type: string;
  data: unknown;
}

/** An `AnswerTokenStreamed`, from the live topic or from the read model. */
export interface StreamToken {
  taskId: string;
  seq: number;
  text: string;
}

export type StreamFrame =
  | { kind: 'token'; cursor: string; seq: number; text: string }
  | { kind: 'revision'; cursor: string; revision: number; reasons: string[] }
  | { kind: 'confirmation'; cursor: string; stepId: string; tool: string; args: Record<string, unknown>; summary: string; expiresAt: string }
  | { kind: 'completed'; cursor: string; answer: string; sources: unknown[]; validated: boolean; model?: unknown }
  | { kind: 'failed'; cursor: string; code: string; reason: string };

/**
 * What the merger waits for: `live` — more of the stream, which arrives live as it is produced;
 * `gap` — something it knows exists but has not got (a missing event or token that the live
 * consumer passed before this client watched, and the read model may not hold yet); `nothing` —
 * the stream is complete.
 */
export type Waiting = 'live' | 'gap' | 'nothing';

type TaskEnd = { tokens: number } | 'unknown';

const FINAL = new Set(['WorkflowCompleted', 'WorkflowFailed', 'WorkflowCancelled']);

const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});

/**
 * Merges a workflow's events and answer tokens, from any number of sources (the read model, the live
 * topics, both at once, repeated), into the stream frames in cursor order: each frame once, none
 * skipped, none before its predecessors. Frames at or before `after` count as already sent.
 */
export class StreamMerger {
  private readonly events = new Map<number, StreamEvent>();
  /** Events 0..contiguous are all known. */
  private contiguous = -1;
  private readonly tokens = new Map<string, Map<number, string>>();
  private position: Cursor | undefined;
  private done = false;
  private waitingFor: Waiting = 'live';

  constructor(after?: Cursor) {
    this.position = after;
  }

  /** Adds an event; true when it was new. */
  addEvent(event: StreamEvent): boolean {
    if (this.events.has(event.sequence) || !Number.isInteger(event.sequence) || event.sequence < 0) return false;
    this.events.set(event.sequence, event);
    while (this.events.has(this.contiguous + 1)) this.contiguous++;
    return true;
  }

  /** Adds a token; true when it was new. The first copy of a position wins. */
  addToken(token: StreamToken): boolean {
    const byTask = this.tokens.get(token.taskId) ?? new Map<number, string>();
    this.tokens.set(token.taskId, byTask);
    if (byTask.has(token.seq)) return false;
    byTask.set(token.seq, token.text);
    return true;
  }

  /** True once the final frame (answer or failure) was emitted, or lies at or before `after`. */
  get finished(): boolean {
    return this.done;
  }

  /** What the last `drain` stopped on. */
  get waiting(): Waiting {
    return this.done ? 'nothing' : this.waitingFor;
  }

  /** The position of the last frame emitted (or `after`). */
  get cursor(): string | undefined {
    return this.position && formatCursor(this.position);
  }

  /**
   * The frames that can be emitted now, in order; the merger remembers them as sent. With `force`,
   * what is missing is given up on (the bounded wait is over): missing events and tokens are
   * skipped, so the stream moves on to what is known.
   */
  drain(force = false): StreamFrame[] {
    if (this.done) return [];
    if (force && this.events.size > 0) this.contiguous = Math.max(this.contiguous, ...this.events.keys());
    const out: StreamFrame[] = [];
    const composeAt = new Map<string, number>();
    const ends = new Map<string, TaskEnd>();
    for (let s = 0; s <= this.contiguous; s++) {
      const e = this.events.get(s);
      if (!e) continue;
      const d = record(e.data);
      const taskId = typeof d['taskId'] === 'string' ? d['taskId'] : undefined;
      if (e.type === 'StepScheduled' && d['kind'] === 'compose' && taskId) composeAt.set(taskId, s);
      else if (e.type === 'StepCompleted' && taskId && composeAt.has(taskId)) {
        const n = record(d['output'])['streamedTokens'];
        ends.set(taskId, typeof n === 'number' ? { tokens: n } : 'unknown');
      } else if (e.type === 'StepFailed' && taskId && composeAt.has(taskId)) ends.set(taskId, 'unknown');
      else if (FINAL.has(e.type)) {
        // A workflow that ended (failed on a deadline, cancelled) abandons a compose attempt still running.
        for (const id of composeAt.keys()) if (!ends.has(id)) ends.set(id, 'unknown');
      }
    }
    const start = this.position?.at ?? 0;
    let stop: Waiting | undefined;
    for (let s = start; s <= this.contiguous && !stop; s++) {
      const e = this.events.get(s);
      if (!e) continue;
      const d = record(e.data);
      if (e.type === 'StepScheduled' && d['kind'] === 'compose' && typeof d['taskId'] === 'string') {
        stop = this.emitTokens(s, d['taskId'], ends.get(d['taskId']), force, out);
        continue;
      }
      const frame = this.eventFrame(e, d);
      if (!frame) continue;
      const final = frame.kind === 'completed' || frame.kind === 'failed';
      // At or before `after`: the client has it already.
      const sent = this.position !== undefined && compareCursors({ at: s }, this.position) <= 0;
      if (!sent) {
        out.push(frame);
        this.position = { at: s };
      }
      if (final) {
        this.done = true;
        return out;
      }
    }
    const unplaced = [...this.tokens.keys()].some((taskId) => !composeAt.has(taskId));
    const beyond = this.events.size > 0 && Math.max(...this.events.keys()) > this.contiguous;
    this.waitingFor = stop === 'gap' || unplaced || beyond ? 'gap' : 'live';
    return out;
  }

  /**
   * Emits the tokens of the compose attempt scheduled at `s`. Undefined when the attempt is complete
   * (the stream goes on), else what the stream waits for there.
   */
  private emitTokens(s: number, taskId: string, end: TaskEnd | undefined, force: boolean, out: StreamFrame[]): Waiting | undefined {
    if (this.position && this.position.at > s) return undefined;
    let next = this.position && this.position.at === s ? (this.position.seq ?? -1) + 1 : 0;
    const texts = this.tokens.get(taskId);
    for (;;) {
      if (end !== undefined && end !== 'unknown' && next >= end.tokens) return undefined;
      const text = texts?.get(next);
      if (text !== undefined) {
        out.push({ kind: 'token', cursor: formatCursor({ at: s, seq: next }), seq: next, text });
        this.position = { at: s, seq: next };
        next++;
        continue;
      }
      const later = [...(texts?.keys() ?? [])].filter((q) => q > next);
      // An attempt that ended without saying how much it streamed (a failed one): what came is all there is.
      if (end === 'unknown' && later.length === 0) return undefined;
      if (force && later.length > 0) {
        next = Math.min(...later);
        continue;
      }
      if (force && end !== undefined) return undefined;
      return later.length > 0 || end !== undefined ? 'gap' : 'live';
    }
  }

  private eventFrame(e: StreamEvent, d: Record<string, unknown>): StreamFrame | undefined {
    const cursor = String(e.sequence);
    switch (e.type) {
      case 'AnswerRevisionRequested':
        return { kind: 'revision', cursor, revision: Number(d['revision']), reasons: Array.isArray(d['reasons']) ? d['reasons'].map(String) : [] };
      case 'StepAwaitingConfirmation':
        return {
          kind: 'confirmation', cursor, stepId: String(d['stepId'] ?? ''), tool: String(d['tool'] ?? ''), args: record(d['args']), summary: String(d['summary'] ?? ''),
          expiresAt: String(d['expiresAt'] ?? ''),
        };
      case 'WorkflowCompleted':
        return {
          kind: 'completed', cursor, answer: String(d['answer'] ?? ''), sources: Array.isArray(d['sources']) ? d['sources'] : [], validated: d['validated'] === true,
          ...(d['model'] !== undefined ? { model: d['model'] } : {}),
        };
      case 'WorkflowFailed':
        return { kind: 'failed', cursor, code: String(d['code'] ?? 'FAILED'), reason: String(d['reason'] ?? '') };
      case 'WorkflowCancelled':
        return { kind: 'failed', cursor, code: 'CANCELLED', reason: typeof d['reason'] === 'string' && d['reason'] ? `the workflow was cancelled: ${d['reason']}` : 'the workflow was cancelled' };
      default:
        return undefined;
    }
  }
}
