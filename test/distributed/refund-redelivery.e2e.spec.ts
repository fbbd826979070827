import { randomBytes } from 'node:crypto';
import { deriveId } from '@flotilla/common';
import { ExecuteStepV1, Topics } from '@flotilla/contracts';
import { kcatConsumeAll, kcatProduce, requireKcat, until } from '../support/kcat';
import { SystemUnderTest } from '../support/system';

/*
 * Distributed mode only: the six services as separate processes on the real Apache Kafka and
 * FerretDB from scripts/infra.sh, the tool agent calling the real sample business service.
 *
 * Kafka delivers at least once, so the tool agent can receive the same task twice (a rebalance or a
 * crash before the offset commit), and the coordinator re-dispatches a step as a new attempt after a
 * retryable failure. Neither may refund twice: the agent derives the refund's idempotency key from
 * the workflow and the step, and the business service creates at most one refund per key. Here an
 * outside Kafka client (kcat) plays the redelivery: the same ExecuteStep bytes twice, then attempt 2.
 */
jest.setTimeout(240_000);

let sut: SystemUnderTest;

beforeAll(async () => {
  requireKcat();
  sut = await SystemUnderTest.start('distributed');
});

afterAll(async () => {
  await sut?.stop();
});





interface BusinessStats {
  refundsCreated: number;
  requests: Record<string, number>;
}

async function businessStats(): Promise<BusinessStats> {
  return (await (await fetch(`${sut.businessUrl}/_stats`)).json()) as BusinessStats;
}

interface StepResult {
  type: 'StepSucceeded' | 'StepErrored';
  data: { workflowId: string; stepId: string; taskId: string; attempt: number; output?: Record<string, unknown>; error?: { code: string; message: string } };
  offset: number;
  partition: number;
}

/** The step results the agents reported for one workflow, in log order. */
function resultsFor(workflowId: string): StepResult[] {
  return kcatConsumeAll(sut, Topics.stepResults.name)
    .map((m) => ({ ...(JSON.parse(m.payload ?? '{}') as Omit<StepResult, 'offset' | 'partition'>), offset: m.offset, partition: m.partition }))
    .filter((r) => r.data?.workflowId === workflowId)
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** An `ExecuteStep` v1 for a `refund.request` tool step, as the coordinator would dispatch it. */
function refundTask(workflowId: string, stepId: string, attempt: number): { task: ExecuteStepV1; wire: string } {
  const task: ExecuteStepV1 = {
    workflowId,
    tenantId: 'public',
    stepId,
    taskId: deriveId('task', workflowId, stepId, String(attempt)),
    attempt,
    kind: 'tool',
    input: { tool: 'refund.request', args: { orderId: '1002', amount: 25.5, reason: 'The rain jacket arrived torn.' } },
    context: {
      question: 'My rain jacket from order 1002 arrived torn. Please refund $25.50.',
      dependencies: {},
      pins: { planVersion: 'plan-v1', promptVersion: 'v1' },
      startedAt: new Date().toISOString(),
    },
    // As the coordinator dispatches it after the user confirmed (the tool agent refuses it otherwise).
    confirmation: { confirmedBy: 'user-1', confirmedAt: new Date().toISOString() },
  };
  const envelope = { type: 'ExecuteStep', version: 1, id: `cmd_${task.taskId}`, data: task, metadata: { occurredAt: new Date().toISOString(), tenantId: task.tenantId, workflowId } };
  return { task, wire: JSON.stringify(envelope) };
}

describe('refund.request under redelivery', () => {
  it('refunds once for a task delivered twice and retried: the repeats replay the first refund', async () => {
    const workflowId = `wf_refund_${randomBytes(6).toString('hex')}`;
    const stepId = 'request-refund';
    const before = await businessStats();

    const first = refundTask(workflowId, stepId, 1);
    kcatProduce(sut, Topics.toolTasks.name, workflowId, first.wire);
    kcatProduce(sut, Topics.toolTasks.name, workflowId, first.wire); // the very same message again: a redelivery
    kcatProduce(sut, Topics.toolTasks.name, workflowId, refundTask(workflowId, stepId, 2).wire); // the coordinator's retry of the step

    const results = await until('the tool agent to report all three deliveries', () => {
      const r = resultsFor(workflowId);
      return r.length >= 3 ? r : undefined;
    });
    expect(results.map((r) => [r.type, r.data.stepId, r.data.attempt])).toEqual([
      ['StepSucceeded', stepId, 1], ['StepSucceeded', stepId, 1], ['StepSucceeded', stepId, 2],
    ]);

    // All three reached the business service; it created one refund and replayed it twice.
    const after = await businessStats();
    expect(after.refundsCreated - before.refundsCreated).toBe(1);
    expect((after.requests['POST /refunds'] ?? 0) - (before.requests['POST /refunds'] ?? 0)).toBe(3);

    const outputs = results.map((r) => r.data.output!);
    const refundId = deriveId('rf', deriveId('idem', workflowId, stepId)); // the service names a refund after its key
    expect(outputs[0]).toEqual({ tool: 'refund.request', refunded: true, refundId, orderId: '1002', amount: 25.5, status: 'approved', replayed: false });
    expect(outputs[1]).toEqual({ ...outputs[0], replayed: true });
    expect(outputs[2]).toEqual({ ...outputs[0], replayed: true });
  });

  it('still refunds a different workflow that asks for the same refund: the key is per workflow and step', async () => {
    const before = await businessStats();
    const workflowId = `wf_refund_${randomBytes(6).toString('hex')}`;
    kcatProduce(sut, Topics.toolTasks.name, workflowId, refundTask(workflowId, 'request-refund', 1).wire);
    const [result] = await until('the tool agent to report the refund', () => {
      const r = resultsFor(workflowId);
      return r.length >= 1 ? r : undefined;
    });
    expect(result!.type).toBe('StepSucceeded');
    expect(result!.data.output).toMatchObject({ replayed: false, refundId: deriveId('rf', deriveId('idem', workflowId, 'request-refund')) });
    expect((await businessStats()).refundsCreated - before.refundsCreated).toBe(1);
  });
});
