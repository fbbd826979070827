import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, ErrorCode, FlotillaError, waitFor } from '@flotilla/common';
import { ExecuteStepV1, Headers, Lane, Messages, STEP_RESULT_TOPICS, StepResultMessage, TASK_TOPICS } from '@flotilla/contracts';
import { connectBus, consume, EmbeddedMessageBus, on, outgoing, Subscription } from '@flotilla/messaging';
import { agentGroup, startAgentWorker } from './agent-worker';
import { LaneGate } from './lane-gate';

describe('the agent worker on two lanes', () => {
  let dir: string;
  let bus: EmbeddedMessageBus;
  const subs: Subscription[] = [];
  const results: StepResultMessage[] = [];
  /** The topic and lane header each result (by task id) arrived with. */
  const arrivedOn = new Map<string, { topic: string; lane?: string }>();
  const logger = createLogger({ service: 'test' });
  logger.info = () => undefined;
  logger.warn = () => undefined;

  beforeEach(async () => {
    results.length = 0;
    arrivedOn.clear();
    dir = mkdtempSync(join(tmpdir(), 'agent-worker-'));
    bus = new EmbeddedMessageBus(join(dir, 'flotilla.db'));
    await connectBus(bus);
    const observe = async (m: StepResultMessage, raw: { topic: string; headers: Record<string, string> }): Promise<void> => {
      results.push(m);
      arrivedOn.set(m.data.taskId, { topic: raw.topic, lane: raw.headers[Headers.lane] });
    };
    const observer = await consume(bus, { groupId: 'observer', handlers: [on(STEP_RESULT_TOPICS.interactive, observe), on(STEP_RESULT_TOPICS.batch, observe)] });
    subs.push(observer);
  });

  afterEach(async () => {
    await Promise.all(subs.splice(0).map((s) => s.stop()));
    await bus.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  const task = (lane: Lane): ExecuteStepV1 => {
    n++;
    return {
      workflowId: `wf_${lane}_${n}`, tenantId: 'public', stepId: 'lookup', taskId: `t_${lane}_${n}`, attempt: 1, kind: 'tool', input: {},
      context: { question: 'q', dependencies: {}, pins: {}, startedAt: new Date().toISOString(), lane },
    };
  };
  const send = (lane: Lane, t: ExecuteStepV1) => bus.publish([outgoing(TASK_TOPICS.tool[lane], Messages.ExecuteStep, t.workflowId, t, { tenantId: t.tenantId, workflowId: t.workflowId })]);

  it('consumes both lane topics under separate groups; chat is answered while batch tasks fill their slots, and batch stays within its bound', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 4, batchConcurrency: 2 });
    let batchRunning = 0;
    let batchPeak = 0;
    let unblock!: () => void;
    const blocked = new Promise<void>((r) => (unblock = r));
    subs.push(await startAgentWorker(bus, {
      agent: 'tool', gate, logger,
      execute: async (t) => {
        if (t.context.lane !== 'batch') return { output: { lane: 'interactive' } };
        batchRunning++;
        batchPeak = Math.max(batchPeak, batchRunning);
        await blocked;
        batchRunning--;
        return { output: { lane: 'batch' } };
      },
    }));
    const batch = Array.from({ length: 8 }, () => task('batch'));
    for (const t of batch) await send('batch', t);
    await waitFor(() => gate.stats().batch.running === 2, 5000, 'batch slots filled');

    const chat = task('interactive');
    await send('interactive', chat);
    await waitFor(() => results.some((r) => r.data.taskId === chat.taskId), 5000, 'the chat task answered while batch is busy');
    expect(results.filter((r) => r.data.taskId.startsWith('t_batch'))).toHaveLength(0);

    unblock();
    await waitFor(() => batch.every((t) => results.some((r) => r.data.taskId === t.taskId && r.type === 'StepSucceeded')), 15_000, 'every batch task reported');
    expect(batchPeak).toBe(2);
    // Each result goes back on its lane's topic, marked with its lane.
    expect(arrivedOn.get(chat.taskId)).toEqual({ topic: STEP_RESULT_TOPICS.interactive.name, lane: 'interactive' });
    for (const t of batch) expect(arrivedOn.get(t.taskId)).toEqual({ topic: STEP_RESULT_TOPICS.batch.name, lane: 'batch' });

    // Each lane's progress is committed under its own group.
    const committed = async (lane: Lane) => [...(await bus.committedOffsets(agentGroup('tool', lane), TASK_TOPICS.tool[lane].name)).values()].reduce((a, b) => a + b, 0n);
    await waitFor(async () => (await committed('batch')) === 8n, 5000, 'batch offsets committed');
    expect(await committed('interactive')).toBe(1n);
    expect(agentGroup('tool', 'interactive')).toBe('flotilla-tool');
    expect(agentGroup('tool', 'batch')).toBe('flotilla-tool-batch');
  }, 30_000);

  it('a lane-only replica (AGENT_LANES) consumes its lane and leaves the other lane\'s tasks to other replicas', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 2, batchConcurrency: 2 });
    subs.push(await startAgentWorker(bus, { agent: 'tool', gate, logger, lanes: ['batch'], execute: async () => ({ output: { ok: true } }) }));
    const chat = task('interactive');
    const batch = task('batch');
    await send('interactive', chat);
    await send('batch', batch);
    await waitFor(() => results.some((r) => r.data.taskId === batch.taskId), 5000, 'the batch task answered');
    expect(results.map((r) => r.data.taskId)).toEqual([batch.taskId]);
    expect(await bus.committedOffsets(agentGroup('tool', 'interactive'), TASK_TOPICS.tool.interactive.name)).toEqual(new Map());
    // The interactive replica takes the chat task from where it waits.
    subs.push(await startAgentWorker(bus, { agent: 'tool', gate, logger, lanes: ['interactive'], execute: async () => ({ output: { ok: true } }) }));
    await waitFor(() => results.some((r) => r.data.taskId === chat.taskId), 5000, 'the chat task answered by the interactive replica');
  });

  it('still reports a failed step as StepErrored on either lane', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 1 });
    subs.push(await startAgentWorker(bus, {
      agent: 'tool', gate, logger,
      execute: async () => {
        throw new FlotillaError(ErrorCode.DependencyUnavailable, 'orders service down');
      },
    }));
    const a = task('interactive');
    const b = task('batch');
    await send('interactive', a);
    await send('batch', b);
    await waitFor(() => results.length === 2, 5000, 'two reports');
    for (const r of results) {
      expect(r.type).toBe('StepErrored');
      expect(r.data).toMatchObject({ error: { code: ErrorCode.DependencyUnavailable, retryable: true } });
    }
  }, 15_000);
});
