import { createLogger, Logger } from '@flotilla/common';
import { WorkflowEvent } from '@flotilla/contracts';
import { StoredEvent, WorkflowViewStore } from '@flotilla/memory';
import type { LiveUpdate } from './live-updates';
import { Cursor, StreamFrame, StreamMerger } from './stream-merger';

/**
 * How long a known gap in the stream is waited for before it is skipped: long enough for the
 * projector partitions of a crashed gateway to be reassigned (Kafka session timeout 10 s, then the
 * rebalance) and caught up.
 */
export const DEFAULT_GAP_WAIT_MS = 30_000;
/** How often the read model is read while a gap is waited for. */
export const DEFAULT_GAP_POLL_MS = 150;
/** Catching up (a resume): the read model is read again after this, doubling while it has nothing new… */
export const CATCH_UP_FIRST_POLL_MS = 200;
/** …up to this. */
export const CATCH_UP_MAX_POLL_MS = 2_000;

export interface FollowOptions {
  workflowId: string;
  tenantId: string;
  /** The cursor of the last frame the client has; frames at or before it are not sent again. */
  after?: Cursor;
  /** Each stream frame (token, revision, the final answer or failure) once, in cursor order. */
  onFrame(frame: StreamFrame): void;
  /** Each live event of the workflow as it arrives, once started (progress frames). */
  onLiveEvent?(event: WorkflowEvent): void;
  /** Called once with what the read model knew, before the first frame. */
  onStart?(known: FollowStart | null): void;
  /** Called once, after the final frame. */
  onEnd?(): void;
  /**
   * Read the read model again while the stream is quiet, not only when a gap is known: a resumed
   * client cannot tell "nothing new yet" from "the rest was streamed before I watched, and the
   * projector has not stored it yet".
   */
  catchUp?: boolean;
  gapWaitMs?: number;
  gapPollMs?: number;
}

export interface FollowerDeps {
  store: Pick<WorkflowViewStore, 'load' | 'loadStreamTokens'>;
  watch(workflowId: string, listener: (update: LiveUpdate) => void): () => void;
  logger?: Logger;
}

/** What the read model knew of the workflow when the follower started. */
export interface FollowStart {
  requestId?: string;
  status: 'accepted' | 'running' | 'completed' | 'failed' | 'cancelled';
}

const defaultLog = createLogger({ service: 'gateway', component: 'stream-follower' });

/**
 * Follows one workflow's answer stream for one client: live updates from this process's broadcast
 * consumer merged with the read model (which every gateway shares, projected by one consumer
 * group), through a {@link StreamMerger}. Live updates are watched FIRST and buffered, then the
 * read model is read; a gap between the two — the live consumer is ahead of the projector, or the
 * client watched after part of the stream went by — is filled by reading the read model again,
 * for at most `gapWaitMs`, after which it is skipped (and logged) rather than stalling the stream.
 */
export class StreamFollower {
  private readonly merger: StreamMerger;
  private readonly log: Logger;
  private readonly gapWaitMs: number;
  private readonly gapPollMs: number;
  private unwatch?: () => void;
  private started = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private polling = false;
  private gapSince?: number;
  private backoff = CATCH_UP_FIRST_POLL_MS;
  private readonly held: WorkflowEvent[] = [];

  constructor(private readonly deps: FollowerDeps, private readonly options: FollowOptions) {
    this.merger = new StreamMerger(options.after);
    this.log = deps.logger ?? defaultLog;
    this.gapWaitMs = options.gapWaitMs ?? DEFAULT_GAP_WAIT_MS;
    this.gapPollMs = options.gapPollMs ?? DEFAULT_GAP_POLL_MS;
  }

  /** Starts buffering live updates (call before anything that could produce them). */
  watch(): void {
    if (this.unwatch || this.stopped) return;
    this.unwatch = this.deps.watch(this.options.workflowId, (update) => this.onLive(update));
  }

  /**
   * Reads the read model and starts emitting. Null when the workflow is unknown to this tenant
   * (nothing is emitted then, and the follower is stopped if `requireKnown`).
   */
  async start(requireKnown = false): Promise<FollowStart | null> {
    this.watch();
    const { view } = await this.readModel();
    if (this.stopped) return null;
    if (!view && requireKnown) {
      this.stop();
      return null;
    }
    const known = view ? summarise(view) : null;
    this.options.onStart?.(known);
    this.started = true;
    for (const event of this.held.splice(0)) this.options.onLiveEvent?.(event);
    this.pump();
    return known;
  }

  stop(): void {
    this.stopped = true;
    this.unwatch?.();
    this.unwatch = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onLive(update: LiveUpdate): void {
    if (this.stopped) return;
    if (update.kind === 'token') {
      const t = update.token.data;
      this.merger.addToken({ taskId: t.taskId, seq: t.seq, text: t.text });
    } else {
      const sequence = update.event.metadata.sequence;
      if (sequence !== undefined) this.merger.addEvent({ sequence, type: update.event.type, data: update.event.data });
      if (this.started) this.options.onLiveEvent?.(update.event);
      else this.held.push(update.event);
    }
    this.pump();
  }

  private async readModel(): Promise<{ view: { accepted?: { requestId: string }; events: StoredEvent[] } | null; fresh: boolean }> {
    const { workflowId, tenantId } = this.options;
    const [view, tokens] = await Promise.all([this.deps.store.load(workflowId, tenantId), this.deps.store.loadStreamTokens(workflowId, tenantId)]);
    let fresh = false;
    for (const e of view?.events ?? []) fresh = this.merger.addEvent({ sequence: e.sequence, type: e.type, data: e.data }) || fresh;
    for (const t of tokens) fresh = this.merger.addToken({ taskId: t.taskId, seq: t.seq, text: t.text }) || fresh;
    return { view, fresh };
  }

  private pump(): void {
    if (!this.started || this.stopped) return;
    const progressed = this.emit(this.merger.drain());
    if (this.stopped) return;
    if (this.merger.waiting === 'gap') {
      const now = Date.now();
      if (progressed || this.gapSince === undefined) this.gapSince = now;
      else if (now - this.gapSince >= this.gapWaitMs) {
        this.log.warn('gave up waiting for part of an answer stream; skipping it', { workflowId: this.options.workflowId, after: this.merger.cursor, waitedMs: now - this.gapSince });
        this.gapSince = undefined;
        this.emit(this.merger.drain(true));
        if (this.stopped) return;
      }
      this.schedule(this.gapPollMs);
      return;
    }
    this.gapSince = undefined;
    if (this.options.catchUp) this.schedule(this.backoff);
  }

  /** Sends frames; true when there were any. Ends the follower after the final one. */
  private emit(frames: StreamFrame[]): boolean {
    for (const frame of frames) {
      if (this.stopped) return true;
      this.options.onFrame(frame);
    }
    if (this.merger.finished && !this.stopped) {
      this.stop();
      this.options.onEnd?.();
    }
    return frames.length > 0;
  }

  private schedule(ms: number): void {
    if (this.timer || this.polling || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, ms);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    this.polling = true;
    try {
      const { fresh } = await this.readModel();
      this.backoff = fresh ? CATCH_UP_FIRST_POLL_MS : Math.min(this.backoff * 2, CATCH_UP_MAX_POLL_MS);
    } catch (err) {
      // The read model is briefly unreachable: the stream waits (bounded), it does not end.
      this.log.warn('reading the answer stream from the read model failed; retrying', { workflowId: this.options.workflowId, err });
    } finally {
      this.polling = false;
    }
    this.pump();
  }
}

function summarise(view: { accepted?: { requestId: string }; events: StoredEvent[] }): FollowStart {
  const types = new Set(view.events.map((e) => e.type));
  const started = view.events.find((e) => e.type === 'WorkflowStarted')?.data as { requestId?: unknown } | undefined;
  const requestId = typeof started?.requestId === 'string' ? started.requestId : view.accepted?.requestId;
  const status = types.has('WorkflowCompleted') ? 'completed' : types.has('WorkflowFailed') ? 'failed' : types.has('WorkflowCancelled') ? 'cancelled'
    : view.events.length ? 'running' : 'accepted';
  return { requestId, status };
}
