import { createLogger, FieldError } from '@flotilla/common';
import { WorkflowEvent } from '@flotilla/contracts';
import { ResumeFrame } from './dto';
import { checkFrame } from './frame-check';
import type { LiveUpdates } from './live-updates';
import type { FollowStart, StreamFollower } from './stream-follower';
import { parseCursor, StreamFrame } from './stream-merger';

const log = createLogger({ service: 'gateway', component: 'chat-stream' });

/** The server frames of a workflow's answer stream (the `cursor`s are documented in stream-merger.ts). */
export type StreamServerFrame =
  | { type: 'step'; workflowId: string; stepId: string; kind?: string; status: 'scheduled' | 'completed' | 'failed'; attempt: number }
  | { type: 'token'; workflowId: string; seq: number; text: string; cursor: string }
  | { type: 'revision'; workflowId: string; revision: number; reasons: string[]; cursor: string }
  /** A side-effecting step waits for the user: answer with a `confirm` frame (or POST /v1/workflows/{id}/confirm) before `expiresAt`. */
  | { type: 'confirmation'; workflowId: string; requestId: string; stepId: string; tool: string; args: Record<string, unknown>; summary: string; expiresAt: string; cursor: string }
  | { type: 'answer'; workflowId: string; requestId: string; text: string; sources: unknown[]; validated: boolean; model?: unknown; cursor: string }
  | { type: 'error'; code: string; message: string; fields?: FieldError[]; requestId?: string; workflowId?: string; cursor?: string }
  | { type: 'resumed'; workflowId: string; requestId?: string; after?: string; status: 'accepted' | 'running' | 'completed' | 'failed' | 'cancelled' };

type Send = (frame: StreamServerFrame) => void;

export interface AnswerStreamOptions {
  workflowId: string;
  tenantId: string;
  requestId: string;
  send: Send;
  /** No final frame within this: a TIMEOUT error frame, and the stream stops (the workflow goes on). */
  timeoutMs: number;
  after?: string;
  catchUp?: boolean;
  /** Called with what the read model knew, before the first stream frame. */
  onStart?(known: FollowStart | null): void;
}

/**
 * One client's view of one workflow's answer: `step` frames as the workflow progresses, then the
 * `token`, `revision` and final `answer` (or `error`) frames, each with its cursor, once and in
 * order — from this process's live updates merged with the shared read model.
 */
export class AnswerStream {
  private readonly follower: StreamFollower;
  private timer?: NodeJS.Timeout;
  private requestId: string;

  constructor(live: LiveUpdates, private readonly options: AnswerStreamOptions) {
    this.requestId = options.requestId;
    const after = options.after === undefined ? undefined : parseCursor(options.after);
    this.follower = live.follow({
      workflowId: options.workflowId,
      tenantId: options.tenantId,
      after,
      catchUp: options.catchUp,
      onFrame: (frame) => {
        // The wait for the user's answer is not the system's: the stream waits that long on top.
        if (frame.kind === 'confirmation') this.arm(Math.max(0, Date.parse(frame.expiresAt) - Date.now()) + options.timeoutMs);
        options.send(this.toServerFrame(frame));
      },
      onLiveEvent: (event) => {
        const frame = stepFrame(event, options.workflowId);
        if (frame) options.send(frame);
      },
      onStart: (known) => {
        if (known?.requestId) this.requestId = known.requestId;
        options.onStart?.(known);
      },
      onEnd: () => this.stop(),
    });
    // Watch before anything can produce updates (the ask is submitted after this).
    this.follower.watch();
  }

  /** Reads what is already known and streams from there; null when the workflow is unknown to the tenant and `requireKnown`. */
  async start(requireKnown = false): Promise<FollowStart | null> {
    this.arm(this.options.timeoutMs);
    try {
      const known = await this.follower.start(requireKnown);
      if (!known && requireKnown) this.stop();
      return known;
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  /** (Re)starts the wait for the final frame: `ms` from now, a TIMEOUT error frame and the stream stops. */
  private arm(ms: number): void {
    const { workflowId } = this.options;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.options.send({
        type: 'error', code: 'TIMEOUT', message: `no answer within ${ms} ms; the workflow continues — GET /v1/workflows/${workflowId}`,
        workflowId, requestId: this.requestId,
      });
      this.stop();
    }, ms);
    this.timer.unref();
  }

  stop(): void {
    this.follower.stop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private toServerFrame(frame: StreamFrame): StreamServerFrame {
    const workflowId = this.options.workflowId;
    switch (frame.kind) {
      case 'token':
        return { type: 'token', workflowId, seq: frame.seq, text: frame.text, cursor: frame.cursor };
      case 'revision':
        // The text streamed so far was rejected by the validator; a revised answer follows.
        return { type: 'revision', workflowId, revision: frame.revision, reasons: frame.reasons, cursor: frame.cursor };
      case 'confirmation':
        return {
          type: 'confirmation', workflowId, requestId: this.requestId, stepId: frame.stepId, tool: frame.tool, args: frame.args, summary: frame.summary,
          expiresAt: frame.expiresAt, cursor: frame.cursor,
        };
      case 'completed':
        return {
          type: 'answer', workflowId, requestId: this.requestId, text: frame.answer, sources: frame.sources, validated: frame.validated,
          ...(frame.model !== undefined ? { model: frame.model } : {}), cursor: frame.cursor,
        };
      case 'failed':
        return { type: 'error', code: frame.code, message: frame.reason, workflowId, requestId: this.requestId, cursor: frame.cursor };
    }
  }
}

function stepFrame(event: WorkflowEvent, workflowId: string): StreamServerFrame | undefined {
  switch (event.type) {
    case 'StepScheduled':
      return { type: 'step', workflowId, stepId: event.data.stepId, kind: event.data.kind, status: 'scheduled', attempt: event.data.attempt };
    case 'StepCompleted':
      return { type: 'step', workflowId, stepId: event.data.stepId, status: 'completed', attempt: event.data.attempt };
    case 'StepFailed':
      return { type: 'step', workflowId, stepId: event.data.stepId, status: 'failed', attempt: event.data.attempt };
    case 'WorkflowStarted':
    case 'PlanAccepted':
    case 'AnswerRevisionRequested':
    case 'StepAwaitingConfirmation':
    case 'ConfirmationGiven':
    case 'ConfirmationDeclined':
    case 'ConfirmationExpired':
    case 'WorkflowCompleted':
    case 'WorkflowFailed':
    case 'WorkflowCancelled':
      // The stream frames of these come through the merger, in cursor order.
      return undefined;
  }
}

/**
 * The `resume` frame: validated, tenant-checked (another tenant's workflow and an unknown one get
 * the same NOT_FOUND error frame; the connection stays open), then the rest of the stream after the
 * client's cursor — the final frame included, from the read model, if the workflow already ended.
 */
export function resumeStream(live: LiveUpdates, raw: unknown, tenantId: string, send: Send, onClose: (() => void)[], timeoutMs: number): void {
  const checked = checkFrame(ResumeFrame, raw, 'resume', send);
  if (!checked) return;
  const { workflowId, after } = checked;
  const stream = new AnswerStream(live, {
    workflowId, tenantId, requestId: '', send, timeoutMs, after, catchUp: true,
    // Before any stream frame: what is being resumed, and how far the workflow is.
    onStart: (known) => {
      if (known) send({ type: 'resumed', workflowId, requestId: known.requestId, ...(after !== undefined ? { after } : {}), status: known.status });
    },
  });
  onClose.push(() => stream.stop());
  stream.start(true).then((known) => {
    if (!known) send({ type: 'error', code: 'NOT_FOUND', message: `no workflow ${workflowId} for this tenant`, workflowId });
  }, (err: unknown) => {
    log.error('resume failed', { workflowId, err });
    send({ type: 'error', code: 'UNAVAILABLE', message: 'the stream could not be resumed; try again', workflowId });
  });
}
