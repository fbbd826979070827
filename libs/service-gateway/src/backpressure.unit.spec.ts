import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from '@nestjs/common';
import { loadConfig } from '@flotilla/config';
import { Messages, SubmitRequestV1, TASK_TOPICS, Topics } from '@flotilla/contracts';
import { connectBus, EmbeddedMessageBus, outgoing } from '@flotilla/messaging';
import {
  Backpressure, BatchBackpressureGuard, BatchLaneSaturated, COORDINATOR_BATCH_GROUP, LANE_SUBJECTS, measureLag, retryAfter, RETRY_AFTER_DEFAULT_SECONDS,
} from './backpressure';

describe('lane lag and batch backpressure', () => {
  let dir: string;
  let bus: EmbeddedMessageBus;
  let n = 0;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'backpressure-'));
    bus = new EmbeddedMessageBus(join(dir, 'flotilla.db'));
    await connectBus(bus);
  });

  afterEach(async () => {
    await bus.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  const submit = (topic: typeof Topics.intake | typeof Topics.interactiveIntake, count: number) => bus.publish(Array.from({ length: count }, () => {
    const data: SubmitRequestV1 = { requestId: `r${++n}`, tenantId: 'public', question: 'Where is my order 1001?', channel: topic === Topics.intake ? 'api' : 'chat' };
    return outgoing(topic, Messages.SubmitRequest, data.requestId, data, { tenantId: 'public' });
  }));

  /** Moves `groupId` forward on `topic` until only `leave` messages are unconsumed (as a consumer would commit). */
  async function consumeUntil(groupId: string, topic: string, leave: number): Promise<void> {
    const ends = await bus.endOffsets(topic);
    const commits = [...ends].map(([partition, end]) => ({ groupId, topic, partition, end }));
    let left = commits.reduce((s, c) => s + Number(c.end), 0) - leave;
    await bus.publishAndCommit([], commits.map((c) => {
      const take = Math.min(Number(c.end), Math.max(0, left));
      left -= take;
      return { groupId, topic, partition: c.partition, offset: String(take) };
    }));
  }

  const backpressure = (env: Record<string, string>) => new Backpressure(bus, loadConfig({ FLOTILLA_DATA_DIR: dir, ...env }));

  it('measures a topic\'s lag per group as end − committed offset, counting a never-committed partition from 0', async () => {
    await submit(Topics.intake, 25);
    expect(await measureLag(bus, [{ topic: Topics.intake.name, groupId: COORDINATOR_BATCH_GROUP }])).toMatchObject({ lag: 25, consumed: 0 });
    await consumeUntil(COORDINATOR_BATCH_GROUP, Topics.intake.name, 7);
    expect(await measureLag(bus, [{ topic: Topics.intake.name, groupId: COORDINATOR_BATCH_GROUP }])).toMatchObject({ lag: 7, consumed: 18 });
    // Another group's position is its own business.
    expect((await measureLag(bus, [{ topic: Topics.intake.name, groupId: 'someone-else' }])).lag).toBe(25);
  });

  it('sums the batch lane over the batch intake and every agent\'s batch task topic, and keeps the interactive lane apart', async () => {
    await submit(Topics.intake, 3);
    await submit(Topics.interactiveIntake, 5);
    const task = { workflowId: 'wf_1', tenantId: 'public', stepId: 'plan', taskId: 't1', attempt: 1, kind: 'plan' as const, input: {}, context: { question: 'q', dependencies: {}, pins: {}, startedAt: new Date().toISOString() } };
    await bus.publish([
      outgoing(TASK_TOPICS.planner.batch, Messages.ExecuteStep, 'wf_1', task, {}),
      outgoing(TASK_TOPICS.tool.batch, Messages.ExecuteStep, 'wf_1', task, {}),
      outgoing(TASK_TOPICS.validator.interactive, Messages.ExecuteStep, 'wf_1', task, {}),
    ]);
    const batch = await measureLag(bus, LANE_SUBJECTS.batch);
    const interactive = await measureLag(bus, LANE_SUBJECTS.interactive);
    expect(batch.lag).toBe(5);
    expect(interactive.lag).toBe(6);
    expect(batch.topics).toEqual(expect.arrayContaining([
      { topic: Topics.intake.name, groupId: 'flotilla-coordinator-batch', lag: 3 },
      { topic: TASK_TOPICS.planner.batch.name, groupId: 'flotilla-planner-batch', lag: 1 },
      { topic: TASK_TOPICS.tool.batch.name, groupId: 'flotilla-tool-batch', lag: 1 },
    ]));
    expect(interactive.topics).toEqual(expect.arrayContaining([{ topic: TASK_TOPICS.validator.interactive.name, groupId: 'flotilla-validator', lag: 1 }]));
  });

  it('sheds new batch work past the threshold with a 503 saying why, and accepts it again below 80 % of it', async () => {
    const bp = backpressure({ BACKPRESSURE_BATCH_LAG: '10' });
    await submit(Topics.intake, 9);
    await bp.refresh();
    expect(bp.status()).toMatchObject({ shedding: false, threshold: 10, resumeBelow: 8, batch: { lag: 9 } });
    expect(() => bp.admitBatch()).not.toThrow();

    await submit(Topics.intake, 1);
    await bp.refresh();
    expect(bp.status().shedding).toBe(true);
    let refused: unknown;
    try {
      bp.admitBatch();
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(BatchLaneSaturated);
    const http = refused as BatchLaneSaturated;
    expect(http.getStatus()).toBe(503);
    expect(http.getResponse()).toMatchObject({ code: 'BATCH_LANE_SATURATED', lane: 'batch', lag: 10, threshold: 10, retryAfterSeconds: expect.any(Number) });

    // Draining to 8 is not enough (hysteresis); 7 is.
    await consumeUntil(COORDINATOR_BATCH_GROUP, Topics.intake.name, 8);
    await bp.refresh();
    expect(bp.status()).toMatchObject({ shedding: true, batch: { lag: 8 } });
    await consumeUntil(COORDINATOR_BATCH_GROUP, Topics.intake.name, 7);
    await bp.refresh();
    expect(bp.status()).toMatchObject({ shedding: false, batch: { lag: 7 } });
    expect(() => bp.admitBatch()).not.toThrow();
  });

  it('never sheds for interactive lag, nor with the threshold at 0 (off)', async () => {
    const bp = backpressure({ BACKPRESSURE_BATCH_LAG: '5' });
    await submit(Topics.interactiveIntake, 50);
    await bp.refresh();
    expect(bp.status()).toMatchObject({ shedding: false, interactive: { lag: 50 }, batch: { lag: 0 } });

    const off = backpressure({ BACKPRESSURE_BATCH_LAG: '0' });
    await submit(Topics.intake, 50);
    await off.refresh();
    expect(off.status()).toMatchObject({ shedding: false, threshold: 0, batch: { lag: 50 } });
  });

  it('estimates Retry-After from the drain rate between measurements', async () => {
    const bp = backpressure({ BACKPRESSURE_BATCH_LAG: '10' });
    await submit(Topics.intake, 100);
    await bp.refresh();
    expect(bp.status().retryAfterSeconds).toBe(RETRY_AFTER_DEFAULT_SECONDS); // no rate yet
    await new Promise((r) => setTimeout(r, 200));
    await consumeUntil(COORDINATOR_BATCH_GROUP, Topics.intake.name, 80);
    await bp.refresh();
    const s = bp.status();
    expect(s.batchDrainPerSecond).toBeGreaterThan(0);
    // 80 left, resume below 8: 72 to go at roughly 100/s → about 1 s (the rate depends on timing).
    expect(s.retryAfterSeconds).toBe(retryAfter(80 - 8, s.batchDrainPerSecond));
    expect(s.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('bounds Retry-After to [1, 60] seconds', () => {
    expect(retryAfter(1_000_000, 1)).toBe(60);
    expect(retryAfter(0, 50)).toBe(1);
    expect(retryAfter(100, 10)).toBe(10);
    expect(retryAfter(100, null)).toBe(RETRY_AFTER_DEFAULT_SECONDS);
  });

  it('the route guard sets Retry-After on the 503 and lets the request through otherwise', async () => {
    const bp = backpressure({ BACKPRESSURE_BATCH_LAG: '3' });
    const guard = new BatchBackpressureGuard(bp);
    const headers: Record<string, string> = {};
    const ctx = { switchToHttp: () => ({ getResponse: () => ({ setHeader: (k: string, v: string) => void (headers[k] = v) }) }) } as unknown as ExecutionContext;
    expect(guard.canActivate(ctx)).toBe(true);
    await submit(Topics.intake, 3);
    await bp.refresh();
    expect(() => guard.canActivate(ctx)).toThrow(BatchLaneSaturated);
    expect(headers['Retry-After']).toMatch(/^\d+$/);
  });

  it('keeps its last decision when the lag cannot be measured, and says why', async () => {
    const bp = backpressure({ BACKPRESSURE_BATCH_LAG: '3' });
    await submit(Topics.intake, 3);
    await bp.refresh();
    jest.spyOn(bus, 'endOffsets').mockRejectedValueOnce(new Error('broker unavailable'));
    await bp.refresh();
    expect(bp.status()).toMatchObject({ shedding: true, error: expect.stringContaining('broker unavailable') });
  });
});
