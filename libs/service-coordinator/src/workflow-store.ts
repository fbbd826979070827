import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { createLogger, waitFor } from '@flotilla/common';
import { Lane, laneOf, Topics, WorkflowEvent } from '@flotilla/contracts';
import { consume, MessageBus, on, Subscription } from '@flotilla/messaging';
import { DomainEvent, evolve, initialState, toDomainEvent, WorkflowState } from '@flotilla/workflow';

const log = createLogger({ component: 'workflow-store' });
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
/** How long a partition one offset short of its end must stay so before that offset counts as a commit marker. */
const MARKER_QUIET_MS = 1_000;

/**
 * Where snapshots of the workflow states are kept: `@flotilla/memory`'s snapshot stores (SQLite
 * embedded, MongoDB distributed) implement it structurally. A snapshot is an optimisation only:
 * `latest` answering nothing, or something unreadable, means "rebuild from the log".
 */
export interface WorkflowSnapshotStore {
  init(): Promise<void>;
  save(snapshot: { stream: string; format: string; bytes: Buffer; takenAt?: Date }): Promise<void>;
  latest(stream: string): Promise<{ format: string; takenAt: Date; bytes: Buffer } | undefined>;
  close(): Promise<void>;
}

export interface WorkflowSnapshotOptions {
  store: WorkflowSnapshotStore;
  /** One stream per log: the Kafka namespace's workflow-events topic (offsets mean nothing elsewhere). */
  stream: string;
  /** Snapshot after this many events applied since the last one (> 0). */
  everyEvents: number;
  /** …and at least this often while events arrive (ms). */
  intervalMs: number;
  /** Finished workflows kept in a snapshot (the most recently finished). */
  maxTombstones: number;
}

/**
 * The snapshot format. A snapshot of another format is ignored (the log is replayed from the
 * beginning). Bump the version when `evolve` or the meaning of a state field changes; the key
 * fingerprint catches fields added to or removed from the state's shape automatically.
 */
export const WORKFLOW_SNAPSHOT_FORMAT = `workflow-states/v1;${createHash('sha256').update(Object.keys(initialState()).sort().join(',')).digest('hex').slice(0, 12)}`;

/** What a snapshot holds: the tail's position on each partition and every state folded up to exactly there. */
interface SnapshotBody {
  topic: string;
  /** partition → next offset to read. */
  offsets: Record<string, string>;
  running: WorkflowState[];
  /** Finished workflows, compacted, oldest first. */
  tombstones: WorkflowState[];
}

/** How a start went: from a snapshot (and which), or from the beginning of the log (and why). */
export type RebuildSource =
  | { from: 'snapshot'; takenAt: string; workflows: number; offsets: Record<string, string> }
  | { from: 'log'; reason: string };

/**
 * The coordinator's view of every workflow, rebuilt from the event log alone: a tail consumer reads
 * the workflow-events topic and folds each event into its workflow's state. Events this replica
 * appends are applied at once (`set`); the tail skips them by sequence number in the view, so the
 * same event is never applied twice. Finished workflows shrink to a tombstone (status + version),
 * enough to make duplicate submissions and late results harmless.
 *
 * Snapshots (docs/adr/0010), when configured: every `everyEvents` events or `intervalMs`, and at a
 * graceful stop, the states folded by the TAIL (never the optimistic `set`s, which may be ahead of
 * the log position) are saved with the tail's offsets — taken synchronously between two applied
 * events, so states and offsets correspond exactly. A start loads the newest snapshot and starts the
 * tail at its offsets; a snapshot of another format, damaged, or pointing past the log's end (a
 * recreated topic) is ignored and the log is read from the beginning.
 */
export class WorkflowStore {
  /** The view: the log's states, or this replica's newer ones after its own appends. */
  private readonly states = new Map<string, WorkflowState>();
  /** The states folded from the log alone, in insertion order = finishing order for tombstones. */
  private readonly logged = new Map<string, WorkflowState>();
  private readonly consumed = new Map<number, bigint>();
  /** Running workflows in the view, per lane: batch admission asks on every intake message, so it must not scan the view. */
  private readonly runningPerLane: Record<Lane, number> = { interactive: 0, batch: 0 };
  /** Running workflows that are moving — not waiting for a person to confirm a step — per lane. */
  private readonly movingPerLane: Record<Lane, number> = { interactive: 0, batch: 0 };
  private readonly stillWaiters = new Set<{ lane: Lane; wake: () => void }>();
  private readonly finishListeners: ((state: WorkflowState) => void)[] = [];
  private tail?: Subscription;
  private applied = 0;
  private sinceSnapshot = 0;
  private snapshotting?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private source: RebuildSource = { from: 'log', reason: 'snapshots are off' };
  /** Until the first catch-up: no periodic snapshots while the boot replays the log (each is O(workflows)). */
  private booting = true;

  constructor(private readonly bus: MessageBus, private readonly instanceId: string, private readonly snapshots?: WorkflowSnapshotOptions) {}

  get size(): number {
    return this.states.size;
  }

  get eventsApplied(): number {
    return this.applied;
  }

  /** Where the last `start` rebuilt from. */
  get rebuiltFrom(): RebuildSource {
    return this.source;
  }

  async start(): Promise<void> {
    const startAt = this.snapshots ? await this.restore(this.snapshots) : undefined;
    if (startAt) await this.commitStart(startAt);
    this.tail = await consume(this.bus, {
      groupId: this.tailGroupId,
      fromBeginning: true,
      ...(startAt ? { startAt: { [Topics.workflowEvents.name]: startAt } } : {}),
      partitionsConcurrently: Topics.workflowEvents.partitions,
      handlers: [on(Topics.workflowEvents, async (message: WorkflowEvent, raw) => {
        // Fold and position move together, with no await in between: a snapshot taken between two
        // handler calls always sees states that are exactly the fold of the log up to `consumed`.
        this.applyLogged(message);
        this.consumed.set(raw.partition, BigInt(raw.offset) + 1n);
        this.noteApplied();
      })],
    });
    await this.tail.ready;
    if (this.snapshots) {
      this.timer = setInterval(() => {
        if (!this.booting && this.sinceSnapshot > 0) this.snapshotSoon();
      }, this.snapshots.intervalMs);
      this.timer.unref();
    }
  }

  /** The tail's consumer group: one per coordinator process, so each reads the whole log. */
  private get tailGroupId(): string {
    return `flotilla-coordinator-tail-${this.instanceId}`;
  }

  /**
   * Commits the snapshot's offsets for the (fresh) tail group before it subscribes, so it starts
   * there. `startAt` alone does the same, but the Kafka adapter then sets the offsets with the admin
   * API, which joins the group once just for that (~5 s measured); a transactional offset commit
   * (`publishAndCommit` with no messages) takes milliseconds. `startAt` stays as the fallback.
   */
  private async commitStart(startAt: Record<number, string>): Promise<void> {
    const topic = Topics.workflowEvents.name;
    const offsets = Object.entries(startAt).map(([p, o]) => ({ groupId: this.tailGroupId, topic, partition: Number(p), offset: o }));
    try {
      await this.bus.publishAndCommit([], offsets);
      // Kafka applies a transaction's offsets when its markers land, a moment after the commit returns.
      await waitFor(async () => {
        const committed = await this.bus.committedOffsets(this.tailGroupId, topic);
        return offsets.every((o) => committed.get(o.partition) === BigInt(o.offset));
      }, 5_000, 'snapshot offsets committed for the tail group');
    } catch (err) {
      log.warn('could not commit the snapshot offsets ahead; the tail positions itself', { err });
    }
  }

  /** Waits until the tail has read everything written to the log so far. */
  async catchUp(timeoutMs = 60_000): Promise<void> {
    await this.readToEnd(timeoutMs);
    this.booted();
  }

  private async readToEnd(timeoutMs: number): Promise<void> {
    const topic = Topics.workflowEvents.name;
    const ends = await this.bus.endOffsets(topic);
    const deadline = Date.now() + timeoutMs;
    const readTo = (positions: Map<number, bigint>): boolean => [...ends].every(([p, end]) => (positions.get(p) ?? 0n) >= end);
    const still = new Map<number, { at: bigint; since: number }>();
    while (!readTo(this.consumed)) {
      // NOTE (coordinator owner): on Kafka a transaction's commit marker takes the last offset of a
      // partition and is never delivered to a handler, so `consumed` can stop one short of the end
      // for good; the tail group's committed position moves past the marker once everything before
      // it is handled. Keep this when restructuring the store.
      // kafkajs commits only every autoCommitInterval, and only while batches arrive: after the last
      // marker of a quiet log the committed position may never move. So a partition that has stayed
      // exactly one short of its end, with nothing delivered, for MARKER_QUIET_MS counts as read too
      // — a message waiting at that offset would have been fetched by then.
      const committed = await this.bus.committedOffsets(this.tailGroupId, topic);
      const now = Date.now();
      const merged = new Map([...ends].map(([p, end]) => {
        const at = this.consumed.get(p) ?? 0n;
        const last = still.get(p);
        if (!last || last.at !== at) still.set(p, { at, since: now });
        const quietMarker = last?.at === at && end - at === 1n && now - last.since >= MARKER_QUIET_MS;
        return [p, quietMarker ? end : [at, committed.get(p) ?? 0n].reduce((a, b) => (a > b ? a : b))];
      }));
      if (readTo(merged)) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: workflow event log catch-up`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get(workflowId: string): WorkflowState {
    return this.states.get(workflowId) ?? initialState();
  }

  /** Records the state after this replica appended events for a workflow. */
  set(workflowId: string, state: WorkflowState): void {
    this.put(workflowId, compact(state), state);
  }

  /** Calls `listener` with the whole final state of each workflow once the view sees it end. */
  onFinish(listener: (state: WorkflowState) => void): void {
    this.finishListeners.push(listener);
  }

  /** How many workflows of `lane` are running (O(1)). */
  runningCount(lane: Lane): number {
    return this.runningPerLane[lane];
  }

  /**
   * How many workflows of `lane` are running and not waiting for a person (O(1)): across every
   * replica, since the view folds the whole log. A chat waiting for a confirmation is not chat in flight.
   */
  movingCount(lane: Lane): number {
    return this.movingPerLane[lane];
  }

  /**
   * Resolves true as soon as no workflow of `lane` is moving (at once if none is), or false after
   * `maxMs` if some still are.
   */
  untilStill(lane: Lane, maxMs: number): Promise<boolean> {
    if (this.movingPerLane[lane] === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = { lane, wake: () => { clearTimeout(timer); resolve(true); } };
      const timer = setTimeout(() => {
        this.stillWaiters.delete(waiter);
        resolve(false);
      }, maxMs);
      this.stillWaiters.add(waiter);
    });
  }

  /** Every change of the view goes through here, so the per-lane counts stay exact. */
  private put(workflowId: string, state: WorkflowState, full?: WorkflowState): void {
    const before = this.states.get(workflowId);
    if (before?.status === 'running') {
      this.runningPerLane[laneOf(before.channel)]--;
      if (moving(before)) this.movingPerLane[laneOf(before.channel)]--;
    }
    if (state.status === 'running') {
      this.runningPerLane[laneOf(state.channel)]++;
      if (moving(state)) this.movingPerLane[laneOf(state.channel)]++;
    }
    this.states.set(workflowId, state);
    if (before?.status === 'running' && state.status !== 'running' && full) {
      for (const listener of this.finishListeners) listener(full);
    }
    for (const w of this.stillWaiters) {
      if (this.movingPerLane[w.lane] > 0) continue;
      this.stillWaiters.delete(w);
      w.wake();
    }
  }

  running(): WorkflowState[] {
    return [...this.states.values()].filter((s) => s.status === 'running');
  }

  /** Saves a snapshot now (after any in flight); resolves when it is stored or failed (failures are logged). */
  async snapshotNow(): Promise<void> {
    while (this.snapshotting) await this.snapshotting;
    if (!this.snapshots) return;
    const run = this.writeSnapshot(this.snapshots).finally(() => {
      if (this.snapshotting === run) this.snapshotting = undefined;
    });
    this.snapshotting = run;
    await run;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.tail?.stop();
    this.tail = undefined;
    if (this.snapshots) {
      while (this.snapshotting) await this.snapshotting;
      // The graceful path: what was applied since the last snapshot is not replayed at the next start.
      if (this.sinceSnapshot > 0) await this.snapshotNow();
      await this.snapshots.store.close().catch((err: unknown) => log.warn('closing the snapshot store failed', { err }));
    }
  }

  private applyLogged(message: WorkflowEvent): void {
    const workflowId = message.metadata.workflowId;
    const sequence = message.metadata.sequence;
    if (!workflowId || sequence === undefined) {
      log.warn('workflow event without workflowId/sequence ignored', { id: message.id });
      return;
    }
    const logged = this.logged.get(workflowId) ?? initialState();
    if (sequence < logged.version) return; // a redelivery
    if (sequence > logged.version) {
      log.error('gap in workflow event sequence', { workflowId, expected: logged.version, got: sequence });
      return;
    }
    const event: DomainEvent = toDomainEvent(message);
    const full = evolve(logged, event);
    const next = compact(full);
    // A workflow that finishes moves to the end: iteration order is then finishing order for tombstones.
    if (next.status !== 'running' && logged.status === 'running') this.logged.delete(workflowId);
    this.logged.set(workflowId, next);
    // The view never goes back: this replica's own appends may already have taken it further.
    const current = this.states.get(workflowId);
    if (!current || current.version <= next.version) this.put(workflowId, next, full);
    this.applied++;
  }

  private noteApplied(): void {
    if (!this.snapshots) return;
    this.sinceSnapshot++;
    if (!this.booting && this.sinceSnapshot >= this.snapshots.everyEvents) this.snapshotSoon();
  }

  /** The boot replay is over: one snapshot of it if it was long (a short one is left to the interval), then the periodic ones. */
  private booted(): void {
    if (!this.booting) return;
    this.booting = false;
    if (this.snapshots && this.sinceSnapshot >= this.snapshots.everyEvents) this.snapshotSoon();
  }

  private snapshotSoon(): void {
    if (this.snapshotting || !this.snapshots) return;
    const options = this.snapshots;
    // After the current handler returns: the capture happens between two applied events.
    const run: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.writeSnapshot(options))
      .finally(() => {
        if (this.snapshotting === run) this.snapshotting = undefined;
      });
    this.snapshotting = run;
  }

  /** Captures synchronously (states are immutable values), then serialises, compresses and stores. */
  private async writeSnapshot(options: WorkflowSnapshotOptions): Promise<void> {
    const started = Date.now();
    const running: WorkflowState[] = [];
    const tombstones: WorkflowState[] = [];
    for (const s of this.logged.values()) (s.status === 'running' ? running : tombstones).push(s);
    const body: SnapshotBody = {
      topic: Topics.workflowEvents.name,
      offsets: Object.fromEntries([...this.consumed].map(([p, o]) => [String(p), o.toString()])),
      running,
      tombstones: tombstones.slice(Math.max(0, tombstones.length - options.maxTombstones)),
    };
    const applied = this.sinceSnapshot;
    this.sinceSnapshot = 0;
    try {
      const bytes = await gzipAsync(Buffer.from(JSON.stringify(body)));
      await options.store.save({ stream: options.stream, format: WORKFLOW_SNAPSHOT_FORMAT, bytes });
      log.info('workflow snapshot saved', {
        running: body.running.length, tombstones: body.tombstones.length, bytes: bytes.length, offsets: body.offsets, ms: Date.now() - started,
      });
    } catch (err) {
      // The next trigger tries again; meanwhile a restart only replays a longer stretch of the log.
      this.sinceSnapshot += applied;
      log.warn('saving a workflow snapshot failed', { err });
    }
  }

  /** Loads the newest usable snapshot into the maps; returns the tail's start offsets, or undefined for "from the beginning". */
  private async restore(options: WorkflowSnapshotOptions): Promise<Record<number, string> | undefined> {
    const started = Date.now();
    let body: SnapshotBody;
    try {
      await options.store.init();
      const stored = await options.store.latest(options.stream);
      if (!stored) return this.fromLog('no snapshot yet');
      if (stored.format !== WORKFLOW_SNAPSHOT_FORMAT) return this.fromLog(`snapshot format ${stored.format} is not ${WORKFLOW_SNAPSHOT_FORMAT}`);
      body = parseBody(await gunzipAsync(stored.bytes));
      const ends = await this.bus.endOffsets(Topics.workflowEvents.name);
      for (const [p, o] of Object.entries(body.offsets)) {
        const end = ends.get(Number(p));
        if (end === undefined || BigInt(o) > end) return this.fromLog(`snapshot offset ${o} of partition ${p} is past the log's end (${end ?? 'no such partition'}): the topic was recreated`);
      }
      this.source = { from: 'snapshot', takenAt: stored.takenAt.toISOString(), workflows: body.running.length + body.tombstones.length, offsets: body.offsets };
    } catch (err) {
      return this.fromLog(`snapshot unreadable: ${(err as Error).message}`);
    }
    for (const s of [...body.tombstones, ...body.running]) {
      this.logged.set(s.workflowId, s);
      this.put(s.workflowId, s);
    }
    const startAt: Record<number, string> = {};
    for (const [p, o] of Object.entries(body.offsets)) {
      this.consumed.set(Number(p), BigInt(o));
      startAt[Number(p)] = o;
    }
    log.info('workflow snapshot loaded; replaying the log after it', {
      takenAt: this.source.from === 'snapshot' ? this.source.takenAt : undefined, running: body.running.length, tombstones: body.tombstones.length,
      offsets: body.offsets, ms: Date.now() - started,
    });
    return startAt;
  }

  private fromLog(reason: string): undefined {
    this.source = { from: 'log', reason };
    log.info('rebuilding workflow states from the beginning of the log', { reason });
    return undefined;
  }
}

/** Parses and checks a snapshot's shape; throws on anything unexpected (the caller falls back to the log). */
function parseBody(bytes: Buffer): SnapshotBody {
  const body = JSON.parse(bytes.toString('utf8')) as Partial<SnapshotBody>;
  if (body.topic !== Topics.workflowEvents.name) throw new Error(`snapshot of topic ${String(body.topic)}`);
  if (!body.offsets || typeof body.offsets !== 'object') throw new Error('snapshot without offsets');
  for (const [p, o] of Object.entries(body.offsets)) {
    if (!/^\d+$/.test(p) || typeof o !== 'string' || !/^\d+$/.test(o)) throw new Error(`bad offset ${p}=${String(o)}`);
  }
  const states = (list: unknown, running: boolean): WorkflowState[] => {
    if (!Array.isArray(list)) throw new Error('snapshot without state lists');
    for (const s of list as WorkflowState[]) {
      const ok = typeof s === 'object' && s !== null && typeof s.workflowId === 'string' && s.workflowId !== '' && Number.isInteger(s.version) && s.version > 0
        && (running ? s.status === 'running' : ['completed', 'failed', 'cancelled'].includes(s.status)) && typeof s.steps === 'object';
      if (!ok) throw new Error('snapshot holds a malformed workflow state');
    }
    return list as WorkflowState[];
  };
  return { topic: body.topic, offsets: body.offsets, running: states(body.running, true), tombstones: states(body.tombstones, false) };
}

/** A running workflow none of whose steps waits for a person's confirmation. */
function moving(state: WorkflowState): boolean {
  for (const step of Object.values(state.steps)) if (step.status === 'awaiting-confirmation') return false;
  return true;
}

/** A finished workflow keeps only what dedup needs. */
function compact(state: WorkflowState): WorkflowState {
  if (state.status === 'running' || state.status === 'none') return state;
  return { ...initialState(), workflowId: state.workflowId, status: state.status, version: state.version, requestId: state.requestId, tenantId: state.tenantId };
}
