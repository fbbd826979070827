/**
 * Workflow event logs for benches: workflows driven through the real decider and appended the way
 * the coordinator appends them (same key, headers and envelopes, in transactions of up to 500).
 */
import { Headers, SubmitRequestV1, Topics } from '@flotilla/contracts';
import { MessageBus, OutgoingMessage } from '@flotilla/messaging';
import { decide, DomainEvent, fold, taskIdFor, toEnvelope, WorkflowCommand, workflowIdFor, WorkflowState } from '@flotilla/workflow';

const NOW = new Date().toISOString();

const PLAN = [
  { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId: '1001' } }, dependsOn: [] },
  { id: 'track-shipment', kind: 'tool', input: { tool: 'shipment.track', args: { orderId: '1001' } }, dependsOn: [] },
  { id: 'compose', kind: 'compose', input: {}, dependsOn: ['lookup-order', 'track-shipment'] },
  { id: 'validate', kind: 'validate', input: { answer: '${steps.compose.output.answer}' }, dependsOn: ['compose'] },
];

/**
 * The wire messages of one workflow driven through the decider: finished ones get a plan, two tool
 * results and a compose failure that ends them (~11 events); in-flight ones stop with both tool
 * steps scheduled (~5 events), waiting on agents that never answer.
 */
export function workflowMessages(n: number, finished: boolean): OutgoingMessage[] {
  const tenantId = 'bench';
  const wf = workflowIdFor(tenantId, `req-${n}`);
  const ok = (stepId: string, output: Record<string, unknown>): WorkflowCommand => ({
    type: 'RecordStepSucceeded', data: { result: { workflowId: wf, stepId, taskId: taskIdFor(wf, stepId, 1), attempt: 1, output }, now: NOW },
  });
  const request: SubmitRequestV1 = { requestId: `req-${n}`, tenantId, question: `Where is my order ${1000 + (n % 9000)} and can I get delivery by tomorrow?`, channel: 'api' };
  const commands: WorkflowCommand[] = [
    { type: 'StartWorkflow', data: { workflowId: wf, request, pins: { planVersion: 'plan-v1', promptVersion: 'v1', model: 'local' }, now: NOW } },
    ok('plan', { intent: { intent: 'order_status', orderId: '1001', deadline: 'tomorrow' }, planVersion: 'plan-v1', steps: PLAN }),
  ];
  if (finished) {
    commands.push(
      ok('lookup-order', { found: true, order: { id: '1001', status: 'shipped', total: 129.9, items: [{ sku: 'A-1', qty: 1 }] } }),
      ok('track-shipment', { found: true, shipment: { carrier: 'UPS', tracking: '1Z999AA10123456784', lastScan: 'Indianapolis, IN' } }),
      { type: 'RecordStepErrored', data: { result: { workflowId: wf, stepId: 'compose', taskId: taskIdFor(wf, 'compose', 1), attempt: 1, error: { code: 'MODEL_FAILED', message: 'bench: compose fails for good', retryable: false } }, now: NOW } },
    );
  }
  const out: OutgoingMessage[] = [];
  let events: DomainEvent[] = [];
  for (const command of commands) {
    const before: WorkflowState = fold(events);
    const decided = decide(command, before);
    decided.forEach((event, i) => {
      const envelope = toEnvelope(event, wf, before.version + i, { tenantId, causationId: `bench-${n}` });
      out.push({
        topic: Topics.workflowEvents.name, key: wf, value: JSON.stringify(envelope),
        headers: { [Headers.messageType]: `${envelope.type}@v${envelope.version}`, [Headers.workflowId]: wf, [Headers.tenantId]: tenantId },
      });
    });
    events = [...events, ...decided];
  }
  return out;
}

/** Appends the log in transactions of up to 500 messages, as the coordinator's group commit does. */
export async function writeLog(bus: MessageBus, from: number, to: number, finished: number): Promise<number> {
  let batch: OutgoingMessage[] = [];
  let total = 0;
  const flush = async (): Promise<void> => {
    if (batch.length) await bus.publishAndCommit(batch, []);
    total += batch.length;
    batch = [];
  };
  for (let n = from; n < to; n++) {
    batch.push(...workflowMessages(n, n < finished));
    if (batch.length >= 500) await flush();
  }
  await flush();
  return total;
}
