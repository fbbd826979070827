import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { ALL_TOPICS, decode, DeadLetterRecordedV1, Envelope, Headers, Topics } from '@flotilla/contracts';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { SqliteConversationStore, SqliteWorkflowViewStore } from '@flotilla/memory';
import { EmbeddedMessageBus, OutgoingMessage } from '@flotilla/messaging';
import { Readiness } from '@flotilla/platform';
import { DomainEvent, toEnvelope } from '@flotilla/workflow';
import { PROJECTOR_GROUP, projectWorkflowEvents, WorkflowProjector } from './projector';
import { ProjectionLag } from './projection-lag';
import { toWorkflowView } from './workflow-view';

const TENANT = 'tenant-a';
const AT = '2026-01-01T00:00:00.000Z';

function started(workflowId: string, sessionId?: string): DomainEvent {
  return {
    type: 'WorkflowStarted',
    data: { workflowId, requestId: `req-${workflowId}`, tenantId: TENANT, question: `where is order of ${workflowId}?`, sessionId, channel: 'api', pins: {}, startedAt: AT },
  } as DomainEvent;
}
const completed = (answer: string): DomainEvent => ({ type: 'WorkflowCompleted', data: { answer, sources: [], validated: true, completedAt: '2026-01-01T00:00:05.000Z' } }) as DomainEvent;
const failed = (): DomainEvent => ({ type: 'WorkflowFailed', data: { code: 'MODEL_FAILED', reason: 'compose failed', failedAt: AT } }) as DomainEvent;

const envelope = (workflowId: string, sequence: number, event: DomainEvent): Envelope => toEnvelope(event, workflowId, sequence, { tenantId: TENANT });

function wire(e: Envelope): OutgoingMessage {
  const workflowId = e.metadata.workflowId!;
  return {
    topic: Topics.workflowEvents.name, key: workflowId, value: JSON.stringify(e),
    headers: { [Headers.messageType]: `${e.type}@v${e.version}`, [Headers.workflowId]: workflowId, [Headers.tenantId]: TENANT },
  };
}

describe('WorkflowProjector (batched)', () => {
  let dir: string;
  let file: string;
  let views: SqliteWorkflowViewStore;
  let conversations: SqliteConversationStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-projector-'));
    file = join(dir, 'flotilla.db');
    views = new SqliteWorkflowViewStore(file);
    conversations = new SqliteConversationStore(file);
    await views.init();
    await conversations.init();
  });

  afterEach(() => {
    openEmbeddedDb(file).close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('projects a batch with a poison message in it: the poison is dead-lettered with its reason, the rest is projected and committed', async () => {
    const bus = new EmbeddedMessageBus(file);
    await bus.connect();
    await bus.ensureTopics(ALL_TOPICS);
    // One partition's worth of interleaved workflows, with an undecodable message between them.
    const a = 'wf_a';
    const b = 'wf_b';
    await bus.publish([
      wire(envelope(a, 0, started(a, 'sess-1'))),
      wire(envelope(b, 0, started(b))),
      { topic: Topics.workflowEvents.name, key: b, value: '{"type": "WorkflowFailed", ', headers: { [Headers.workflowId]: b, [Headers.tenantId]: TENANT } },
      wire(envelope(a, 1, completed('Order 1001 ships tomorrow.'))),
      wire(envelope(b, 1, failed())),
    ]);
    const deadLetters: DeadLetterRecordedV1[] = [];
    const reader = await bus.subscribe({
      groupId: 'test-dlq-reader', topics: [Topics.deadLetters.name], fromBeginning: true,
      handler: async (m) => {
        const d = decode(Topics.deadLetters, m.value);
        if (d.ok) deadLetters.push(d.message.data);
      },
    });
    const projector = new WorkflowProjector(bus, views, conversations, { SESSION_IDLE_TTL_MS: 3_600_000 } as FlotillaConfig, new Readiness());
    await projector.onApplicationBootstrap();
    try {
      await waitFor(async () => (await views.load(b, TENANT))?.events.length === 2, 10_000, 'the failed workflow projected');
      await waitFor(async () => (await views.load(a, TENANT))?.events.length === 2, 10_000, 'the completed workflow projected');
      await waitFor(() => deadLetters.length === 1, 10_000, 'the poison message dead-lettered');

      expect(toWorkflowView(a, TENANT, (await views.load(a, TENANT))!).status).toBe('completed');
      expect(toWorkflowView(b, TENANT, (await views.load(b, TENANT))!).status).toBe('failed');
      expect(deadLetters[0]).toMatchObject({ sourceTopic: Topics.workflowEvents.name, key: b, consumerGroup: PROJECTOR_GROUP, workflowId: b, attempts: 1 });
      expect(deadLetters[0]!.reason).toMatch(/invalid JSON/);
      // The finished chat was remembered before its completion was shown.
      const context = await conversations.recentContext(TENANT, 'sess-1', { maxTokens: 1_000 });
      expect(context.turns.map((t) => [t.role, t.text])).toEqual([['user', 'where is order of wf_a?'], ['assistant', 'Order 1001 ships tomorrow.']]);
      // Everything is committed, and the view says it is current.
      await waitFor(async () => {
        const [ends, done] = await Promise.all([bus.endOffsets(Topics.workflowEvents.name), bus.committedOffsets(PROJECTOR_GROUP, Topics.workflowEvents.name)]);
        return [...ends].every(([p, end]) => (done.get(p) ?? 0n) === end);
      }, 10_000, 'the projector committed the whole log');
      expect(await new ProjectionLag(bus).of(a)).toMatchObject({ state: 'current', pendingEvents: 0 });
    } finally {
      await projector.beforeApplicationShutdown();
      await reader.stop();
      await bus.disconnect();
    }
  });

  it('says how far behind the view is while the projector has not caught up', async () => {
    const bus = new EmbeddedMessageBus(file);
    await bus.connect();
    await bus.ensureTopics(ALL_TOPICS);
    const a = 'wf_lagging';
    await bus.publish([wire(envelope(a, 0, started(a))), wire(envelope(a, 1, failed()))]);
    // No projector runs: both events are pending, and a "running"/"accepted" view must not pass as current.
    const freshness = await new ProjectionLag(bus).of(a);
    expect(freshness).toMatchObject({ state: 'behind', pendingEvents: 2 });
    expect(Date.parse(freshness.measuredAt!)).not.toBeNaN();
    await bus.disconnect();
  });

  it('writes a redelivered or overlapping batch once, and remembers a finished chat once', async () => {
    const a = 'wf_replayed';
    const b = 'wf_other';
    const batch = [envelope(a, 0, started(a, 'sess-2')), envelope(b, 0, started(b)), envelope(a, 1, completed('It ships tomorrow.'))];
    await projectWorkflowEvents(views, conversations, batch);
    // A crash before the commit: the same batch again, then one that overlaps it and goes further.
    await projectWorkflowEvents(views, conversations, batch);
    await projectWorkflowEvents(views, conversations, [...batch.slice(1), envelope(b, 1, failed())]);

    expect((await views.load(a, TENANT))?.events.map((e) => [e.sequence, e.type])).toEqual([[0, 'WorkflowStarted'], [1, 'WorkflowCompleted']]);
    expect((await views.load(b, TENANT))?.events.map((e) => [e.sequence, e.type])).toEqual([[0, 'WorkflowStarted'], [1, 'WorkflowFailed']]);
    const context = await conversations.recentContext(TENANT, 'sess-2', { maxTokens: 1_000 });
    expect(context.turns.map((t) => t.role)).toEqual(['user', 'assistant']);
    expect(context.turns[1]!.text).toBe('It ships tomorrow.');
  });

  it('holds a completion back until the chat is remembered: a failed memory write leaves the workflow not yet completed', async () => {
    const a = 'wf_memory_down';
    const failing = Object.create(conversations) as SqliteConversationStore;
    failing.appendTurn = async () => {
      throw new Error('memory is down');
    };
    await expect(projectWorkflowEvents(views, failing, [envelope(a, 0, started(a, 'sess-3')), envelope(a, 1, completed('Soon.'))])).rejects.toThrow('memory is down');
    // What came before the completion is projected; the completion is not, so the redelivered batch finishes it.
    expect((await views.load(a, TENANT))?.events.map((e) => e.type)).toEqual(['WorkflowStarted']);
    await projectWorkflowEvents(views, conversations, [envelope(a, 0, started(a, 'sess-3')), envelope(a, 1, completed('Soon.'))]);
    expect((await views.load(a, TENANT))?.events.map((e) => e.type)).toEqual(['WorkflowStarted', 'WorkflowCompleted']);
    expect((await conversations.recentContext(TENANT, 'sess-3', { maxTokens: 1_000 })).turns).toHaveLength(2);
  });
});
