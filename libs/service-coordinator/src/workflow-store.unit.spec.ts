import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { waitFor } from '@flotilla/common';
import { SubmitRequestV1, Topics } from '@flotilla/contracts';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { EmbeddedMessageBus } from '@flotilla/messaging';
import { decide, DomainEvent, fold, initialState, taskIdFor, WorkflowCommand, workflowIdFor, WorkflowState } from '@flotilla/workflow';
import { eventMessages } from './dispatch';
import { WORKFLOW_SNAPSHOT_FORMAT, WorkflowSnapshotOptions, WorkflowSnapshotStore, WorkflowStore } from './workflow-store';

/** Snapshots kept in memory, newest last; tests may tamper with them. */
class MemorySnapshots implements WorkflowSnapshotStore {
  saved: { stream: string; format: string; bytes: Buffer; takenAt: Date }[] = [];
  async init(): Promise<void> {
    // nothing to open
  }
  async save(s: { stream: string; format: string; bytes: Buffer; takenAt?: Date }): Promise<void> {
    this.saved.push({ ...s, takenAt: s.takenAt ?? new Date() });
  }
  async latest(stream: string): Promise<{ format: string; takenAt: Date; bytes: Buffer } | undefined> {
    return this.saved.filter((s) => s.stream === stream).at(-1);
  }
  async close(): Promise<void> {
    // nothing to close
  }
  body(): { offsets: Record<string, string>; running: WorkflowState[]; tombstones: WorkflowState[] } {
    return JSON.parse(gunzipSync(this.saved.at(-1)!.bytes).toString()) as ReturnType<MemorySnapshots['body']>;
  }
}

const NOW = '2026-11-21T10:00:00.000Z';
const plan = [
  { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId: '1001' } }, dependsOn: [] },
  { id: 'compose', kind: 'compose', input: {}, dependsOn: ['lookup-order'] },
  { id: 'validate', kind: 'validate', input: {}, dependsOn: ['compose'] },
];

/**
 * Workflows driven through the real decider, their events appended to the embedded log exactly as
 * the coordinator appends them. `advance(n)` moves workflow n one command further: start, plan,
 * lookup, then (for every third workflow) a compose failure that ends it.
 */
class History {
  private readonly events = new Map<string, DomainEvent[]>();
  private readonly steps = new Map<string, number>();
  constructor(private readonly bus: EmbeddedMessageBus) {}

  id(n: number): string {
    return workflowIdFor('acme', `r-${n}`);
  }

  async advance(...ns: number[]): Promise<void> {
    for (const n of ns) {
      const wf = this.id(n);
      const step = this.steps.get(wf) ?? 0;
      const result = (stepId: string, output: Record<string, unknown>): WorkflowCommand => ({
        type: 'RecordStepSucceeded', data: { result: { workflowId: wf, stepId, taskId: taskIdFor(wf, stepId, 1), attempt: 1, output }, now: NOW },
      });
      const request: SubmitRequestV1 = { requestId: `r-${n}`, tenantId: 'acme', question: `Where is my order ${1000 + n}?`, channel: 'chat' };
      const commands: WorkflowCommand[] = [
        { type: 'StartWorkflow', data: { workflowId: wf, request, pins: { planVersion: 'plan-v1' }, now: NOW } },
        result('plan', { intent: { intent: 'order_status' }, planVersion: 'plan-v1', steps: plan }),
        result('lookup-order', { found: true, order: { id: String(1000 + n) } }),
        n % 3 === 0
          ? { type: 'RecordStepErrored', data: { result: { workflowId: wf, stepId: 'compose', taskId: taskIdFor(wf, 'compose', 1), attempt: 1, error: { code: 'X', message: 'no', retryable: false } }, now: NOW } }
          : result('compose', { answer: `Order ${1000 + n} is on its way.` }),
      ];
      const command = commands[step];
      if (!command) continue;
      const past = this.events.get(wf) ?? [];
      const before = fold(past);
      const decided = decide(command, before);
      await this.bus.publish(eventMessages(decided, before, wf, 'acme', `cause-${n}-${step}`));
      this.events.set(wf, [...past, ...decided]);
      this.steps.set(wf, step + 1);
    }
  }

  get ids(): string[] {
    return [...this.events.keys()];
  }

  get total(): number {
    return [...this.events.values()].reduce((a, e) => a + e.length, 0);
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

interface Fixture {
  bus: EmbeddedMessageBus;
  history: History;
  snapshots: MemorySnapshots;
  options(overrides?: Partial<WorkflowSnapshotOptions>): WorkflowSnapshotOptions;
  cleanup(): Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-wfstore-'));
  const file = join(dir, 'flotilla.db');
  const bus = new EmbeddedMessageBus(file);
  await bus.connect();
  await bus.ensureTopics([{ name: Topics.workflowEvents.name, partitions: Topics.workflowEvents.partitions }, { name: Topics.deadLetters.name, partitions: 1 }]);
  const snapshots = new MemorySnapshots();
  return {
    bus, history: new History(bus), snapshots,
    options: (overrides = {}) => ({ store: snapshots, stream: 'test', everyEvents: 1_000_000, intervalMs: 3_600_000, maxTombstones: 1_000, ...overrides }),
    cleanup: async () => {
      await bus.disconnect();
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function rebuilt(f: Fixture, instance: string, options?: WorkflowSnapshotOptions): Promise<WorkflowStore> {
  const store = new WorkflowStore(f.bus, instance, options);
  await store.start();
  await store.catchUp(10_000);
  return store;
}

/** Every workflow's state as a store sees it (JSON-normalised: a snapshot drops undefined fields). */
const statesOf = (store: WorkflowStore, ids: string[]): Record<string, unknown> =>
  Object.fromEntries(ids.map((id) => [id, JSON.parse(JSON.stringify(store.get(id))) as unknown]));

describe('WorkflowStore snapshots over the embedded log', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await fixture();
  });
  afterEach(() => f.cleanup());

  it('rebuilds the same states from a snapshot plus the log after it as from the whole log, reading only the events after it', async () => {
    // 40 workflows, all the way through (every third fails, the rest complete or wait for validation).
    for (let s = 0; s < 4; s++) await f.history.advance(...range(0, 40));
    const first = await rebuilt(f, 'first', f.options());
    await first.stop(); // graceful: a snapshot of everything applied
    const atSnapshot = f.history.total;
    expect(f.snapshots.saved).toHaveLength(1);
    const body = f.snapshots.body();
    expect(body.running.length + body.tombstones.length).toBe(40);
    expect(body.tombstones.length).toBeGreaterThan(0);

    // After the snapshot: new workflows and more steps of old ones.
    await f.history.advance(...range(40, 60));
    await f.history.advance(...range(40, 60));
    const after = f.history.total;

    const full = await rebuilt(f, 'full');
    const fromSnapshot = await rebuilt(f, 'snap', f.options());
    try {
      expect(full.rebuiltFrom).toEqual({ from: 'log', reason: 'snapshots are off' });
      expect(fromSnapshot.rebuiltFrom).toMatchObject({ from: 'snapshot', workflows: 40 });
      expect(full.eventsApplied).toBe(after);
      expect(fromSnapshot.eventsApplied).toBe(after - atSnapshot);
      expect(fromSnapshot.eventsApplied).toBeLessThan(full.eventsApplied / 2);
      expect(statesOf(fromSnapshot, f.history.ids)).toEqual(statesOf(full, f.history.ids));
      expect(fromSnapshot.running().map((s) => s.workflowId).sort()).toEqual(full.running().map((s) => s.workflowId).sort());
      expect(fromSnapshot.size).toBe(full.size);
      // The tail goes on from there: a later event reaches both.
      await f.history.advance(45);
      await full.catchUp(5_000);
      await fromSnapshot.catchUp(5_000);
      expect(statesOf(fromSnapshot, [f.history.id(45)])).toEqual(statesOf(full, [f.history.id(45)]));
    } finally {
      await full.stop();
      await fromSnapshot.stop();
    }
  });

  it.each([
    ['of another format', (s: MemorySnapshots) => void (s.saved.at(-1)!.format = 'workflow-states/v0;old'), /format workflow-states\/v0;old is not/],
    ['that is not gzip', (s: MemorySnapshots) => void (s.saved.at(-1)!.bytes = Buffer.from('garbage')), /snapshot unreadable/],
    ['holding malformed states', (s: MemorySnapshots) => {
      const body = s.body();
      body.running.push({ ...initialState(), status: 'running' });
      s.saved.at(-1)!.bytes = gzipSync(JSON.stringify({ topic: Topics.workflowEvents.name, ...body }));
    }, /malformed workflow state/],
    ['pointing past the end of the log (a recreated topic)', (s: MemorySnapshots) => {
      const body = s.body();
      const [p] = Object.keys(body.offsets);
      body.offsets[p!] = '999999';
      s.saved.at(-1)!.bytes = gzipSync(JSON.stringify({ topic: Topics.workflowEvents.name, ...body }));
    }, /past the log's end/],
  ])('ignores a snapshot %s and rebuilds from the beginning of the log', async (_what, spoil, reason) => {
    for (let s = 0; s < 3; s++) await f.history.advance(...range(0, 12));
    const first = await rebuilt(f, 'first', f.options());
    await first.stop();
    spoil(f.snapshots);
    const full = await rebuilt(f, 'full');
    const fallback = await rebuilt(f, 'fallback', f.options());
    try {
      expect(fallback.rebuiltFrom).toMatchObject({ from: 'log', reason: expect.stringMatching(reason) as never });
      expect(fallback.eventsApplied).toBe(f.history.total);
      expect(statesOf(fallback, f.history.ids)).toEqual(statesOf(full, f.history.ids));
    } finally {
      await full.stop();
      await fallback.stop();
    }
  });

  it('rebuilds from the log when there is no snapshot yet, and says so', async () => {
    await f.history.advance(...range(0, 5));
    const store = await rebuilt(f, 'fresh', f.options());
    await store.stop();
    expect(store.rebuiltFrom).toEqual({ from: 'log', reason: 'no snapshot yet' });
    expect(store.eventsApplied).toBe(f.history.total);
  });

  it('snapshots what the tail applied, never a state this replica set ahead of the log', async () => {
    await f.history.advance(...range(0, 3));
    const store = await rebuilt(f, 'one', f.options());
    const wf = f.history.id(1);
    const logged = store.get(wf);
    store.set(wf, { ...logged, version: logged.version + 5, question: 'set ahead of the log' });
    await store.snapshotNow();
    await store.stop();
    const snapped = f.snapshots.body().running.find((s) => s.workflowId === wf)!;
    expect(snapped.version).toBe(logged.version);
    expect(snapped.question).not.toBe('set ahead of the log');
  });

  it('snapshots every N applied events while tailing, with offsets that match the states', async () => {
    const store = await rebuilt(f, 'tailing', f.options({ everyEvents: 10 }));
    try {
      await f.history.advance(...range(0, 12)); // 12 starts × 2 events
      await store.catchUp(5_000);
      await waitFor(() => f.snapshots.saved.length >= 1, 5_000, 'a snapshot after 10 events');
      await waitFor(async () => {
        const b = f.snapshots.body();
        return Object.values(b.offsets).reduce((a, o) => a + Number(o), 0) === f.history.total;
      }, 5_000, 'a snapshot of everything');
      const b = f.snapshots.body();
      expect(b.running.reduce((a, s) => a + s.version, 0)).toBe(f.history.total);
    } finally {
      await store.stop();
    }
  });

  it('takes no periodic snapshot while the boot replays the log, and one once it has caught up', async () => {
    for (let s = 0; s < 3; s++) await f.history.advance(...range(0, 20)); // ~140 events
    const store = await rebuilt(f, 'booting', f.options({ everyEvents: 10 }));
    try {
      await waitFor(() => f.snapshots.saved.length >= 1, 5_000, 'the snapshot after the boot replay');
      await new Promise((r) => setTimeout(r, 100));
      expect(f.snapshots.saved).toHaveLength(1);
      expect(Object.values(f.snapshots.body().offsets).reduce((a, o) => a + Number(o), 0)).toBe(f.history.total);
    } finally {
      await store.stop();
    }
  });

  it('keeps only the most recently finished workflows as tombstones in a snapshot', async () => {
    for (let s = 0; s < 3; s++) await f.history.advance(...range(0, 9));
    const store = await rebuilt(f, 'bounded', f.options({ maxTombstones: 2 }));
    for (const n of [0, 3, 6]) { // these fail, in this order; the others stay running
      await f.history.advance(n);
      await store.catchUp(5_000);
    }
    await store.stop();
    const body = f.snapshots.body();
    expect(body.tombstones.map((s) => s.workflowId)).toEqual([f.history.id(3), f.history.id(6)]);
    expect(body.tombstones[0]).toEqual({ ...JSON.parse(JSON.stringify(initialState())), workflowId: f.history.id(3), status: 'failed', version: body.tombstones[0]!.version, requestId: 'r-3', tenantId: 'acme' });
  });

  it('names its format after the state shape, so a changed shape ignores old snapshots', () => {
    expect(WORKFLOW_SNAPSHOT_FORMAT).toMatch(/^workflow-states\/v1;[0-9a-f]{12}$/);
  });

  it('counts running workflows per lane without scanning, exactly as the view has them — from the log, its own appends and a snapshot', async () => {
    for (let s = 0; s < 3; s++) await f.history.advance(...range(0, 12));
    const counted = (store: WorkflowStore): Record<string, number> => ({ interactive: store.runningCount('interactive'), batch: store.runningCount('batch') });
    const scanned = (store: WorkflowStore): Record<string, number> => ({
      interactive: store.running().filter((s) => s.channel === 'chat').length, batch: store.running().filter((s) => s.channel !== 'chat').length,
    });
    const store = await rebuilt(f, 'lanes', f.options());
    try {
      expect(counted(store)).toEqual(scanned(store));
      expect(store.runningCount('interactive')).toBeGreaterThan(0);
      // This replica's own appends: a batch workflow starts, then ends; a chat one ends.
      const batchId = workflowIdFor('acme', 'batch-1');
      const running: WorkflowState = { ...initialState(), workflowId: batchId, tenantId: 'acme', status: 'running', channel: 'intake', version: 1 };
      store.set(batchId, running);
      expect(counted(store)).toEqual({ interactive: scanned(store).interactive, batch: 1 });
      store.set(batchId, { ...running, version: 2 }); // still running: counted once
      expect(store.runningCount('batch')).toBe(1);
      store.set(batchId, { ...running, status: 'completed', version: 3 });
      const chatId = store.running().find((s) => s.channel === 'chat')!.workflowId;
      store.set(chatId, { ...store.get(chatId), status: 'failed', version: store.get(chatId).version + 1 });
      expect(counted(store)).toEqual(scanned(store));
      expect(store.runningCount('batch')).toBe(0);
    } finally {
      await store.stop();
    }
    const restored = await rebuilt(f, 'lanes-again', f.options());
    try {
      expect(restored.rebuiltFrom).toMatchObject({ from: 'snapshot' });
      expect(counted(restored)).toEqual(scanned(restored));
    } finally {
      await restored.stop();
    }
  });
  it('tells chat in flight from chat waiting for a person, wakes batch waiters when chat is still, and reports each end once with its whole state', async () => {
    const store = await rebuilt(f, 'moving', f.options());
    try {
      const finished: WorkflowState[] = [];
      store.onFinish((s) => finished.push(s));
      expect(store.movingCount('interactive')).toBe(0);
      await expect(store.untilStill('interactive', 10)).resolves.toBe(true); // nothing moving: at once

      const chatId = workflowIdFor('acme', 'chat-1');
      const chat: WorkflowState = { ...initialState(), workflowId: chatId, tenantId: 'acme', status: 'running', channel: 'chat', version: 1, startedAt: NOW };
      store.set(chatId, chat);
      expect(store.movingCount('interactive')).toBe(1);
      await expect(store.untilStill('interactive', 30)).resolves.toBe(false); // bounded

      // Waiting for a confirmation is not chat in flight: it may wait for minutes.
      const asking: WorkflowState = { ...chat, version: 2, steps: { refund: { id: 'refund', kind: 'tool', input: {}, planInput: {}, dependsOn: [], status: 'awaiting-confirmation', attempt: 1 } as WorkflowState['steps'][string] } };
      store.set(chatId, asking);
      expect(store.runningCount('interactive')).toBe(1);
      expect(store.movingCount('interactive')).toBe(0);
      store.set(chatId, { ...chat, version: 3 });
      expect(store.movingCount('interactive')).toBe(1);

      const waiting = store.untilStill('interactive', 5_000);
      const ended: WorkflowState = { ...chat, version: 4, status: 'completed', endedAt: '2026-11-21T10:00:01.500Z', answer: 'on its way' };
      store.set(chatId, ended);
      await expect(waiting).resolves.toBe(true);
      expect(store.movingCount('interactive')).toBe(0);
      // The listener sees the whole final state (the view keeps only a tombstone), once.
      expect(finished).toHaveLength(1);
      expect(finished[0]).toMatchObject({ workflowId: chatId, status: 'completed', startedAt: NOW, endedAt: '2026-11-21T10:00:01.500Z' });
      store.set(chatId, { ...ended, version: 5 });
      expect(finished).toHaveLength(1);
    } finally {
      await store.stop();
    }
  });
});
