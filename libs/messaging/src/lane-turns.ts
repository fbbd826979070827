import { Headers, Lane } from '@flotilla/contracts';
import type { IncomingMessage, OutgoingMessage } from './port';

/**
 * The lane a message belongs to: a subscription of the batch lane (batch task, intake or ingest
 * topics) makes all its messages batch; otherwise the message's `flotilla-lane` header decides
 * (workflow events, step results and answer tokens of batch workflows carry `batch`). For consumers
 * that tell lanes apart themselves; the embedded bus schedules by the subscription's lane only.
 */
export function laneOfMessage(message: Pick<IncomingMessage, 'headers'>, subscriptionLane: Lane = 'interactive'): Lane {
  return subscriptionLane === 'batch' || message.headers[Headers.lane] === 'batch' ? 'batch' : 'interactive';
}

/** The message marked as work of `lane` (the `flotilla-lane` header), for consumers that share a topic across lanes. */
export function withLane(message: OutgoingMessage, lane: Lane): OutgoingMessage {
  return { ...message, headers: { ...message.headers, [Headers.lane]: lane } };
}

export interface LaneTurnsOptions {
  /** Batch messages started per event-loop turn while interactive work is around (default 1). */
  batchPerTurnWhileInteractive?: number;
  /** How long after the last interactive message the lane still counts as busy (default 250 ms: the gaps between one chat's hops). */
  interactiveQuietMs?: number;
  /** The clock (tests). */
  now?: () => number;
  /** Runs a callback on the next event-loop turn, after pending I/O (tests). */
  nextTurn?: (fn: () => void) => void;
}

/**
 * Priority of the interactive lane over the batch lane among the consumers of ONE process — what
 * embedded mode needs, where every service shares one event loop. Interactive messages are handled
 * the moment they are appended (their consumers wake in the same turn); a batch message first waits
 * for a turn of the event loop (`setImmediate`, so WebSocket frames, HTTP and timers go first), and
 * while interactive work runs or ran within `interactiveQuietMs`, only
 * `batchPerTurnWhileInteractive` batch messages start per turn — a chat hop waits behind at most
 * that much batch work, never behind a long run of it. Once chat is quiet, every waiting batch
 * consumer goes each turn: the batch lane always makes progress, only slower while chat is served.
 *
 * Distributed mode runs each service in its own process and the lanes in their own consumer
 * groups; this orders work inside one process only.
 */
export class LaneTurns {
  private readonly waiting: (() => void)[] = [];
  private readonly perTurn: number;
  private readonly quietMs: number;
  private readonly now: () => number;
  private readonly nextTurn: (fn: () => void) => void;
  private interactiveRunning = 0;
  private lastInteractiveEnd = Number.NEGATIVE_INFINITY;
  private scheduled = false;

  constructor(options: LaneTurnsOptions = {}) {
    const perTurn = options.batchPerTurnWhileInteractive ?? 1;
    if (!Number.isInteger(perTurn) || perTurn < 1) throw new RangeError(`batchPerTurnWhileInteractive must be an integer >= 1, got ${perTurn}`);
    this.perTurn = perTurn;
    this.quietMs = Math.max(0, options.interactiveQuietMs ?? 250);
    this.now = options.now ?? Date.now;
    this.nextTurn = options.nextTurn ?? ((fn) => void setImmediate(fn));
  }

  /** True while interactive messages are handled, or were within the quiet window. */
  get interactiveBusy(): boolean {
    return this.interactiveRunning > 0 || this.now() - this.lastInteractiveEnd < this.quietMs;
  }

  /** Batch messages waiting for their turn. */
  get batchWaiting(): number {
    return this.waiting.length;
  }

  /** Handles one message in its lane: interactive at once, batch on its turn. */
  async run<T>(lane: Lane, handle: () => Promise<T>): Promise<T> {
    if (lane === 'batch') {
      await this.batchTurn();
      return handle();
    }
    this.interactiveRunning++;
    try {
      return await handle();
    } finally {
      this.interactiveRunning--;
      this.lastInteractiveEnd = this.now();
    }
  }

  /** Resolves on a later event-loop turn when this batch message may start (FIFO among batch messages). */
  batchTurn(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.nextTurn(() => this.turn());
  }

  private turn(): void {
    this.scheduled = false;
    const n = this.interactiveBusy ? this.perTurn : this.waiting.length;
    for (const grant of this.waiting.splice(0, n)) grant();
    if (this.waiting.length > 0) this.schedule();
  }
}

let processTurns: LaneTurns | undefined;
/** The turns every embedded bus of this process shares: one event loop, one schedule. */
export function processLaneTurns(): LaneTurns {
  processTurns ??= new LaneTurns();
  return processTurns;
}
