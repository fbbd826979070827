import { agentFor, laneOf, Messages, TASK_TOPICS, Topics } from '@flotilla/contracts';
import { OutgoingMessage, outgoing } from '@flotilla/messaging';
import { DomainEvent, stepOutputs, toEnvelope, WorkflowState } from '@flotilla/workflow';

/** The wire messages of newly decided events, numbered from the state's version before them. */
export function eventMessages(events: DomainEvent[], before: WorkflowState, workflowId: string, tenantId: string, causationId: string): OutgoingMessage[] {
  return events.map((event, i) => {
    const envelope = toEnvelope(event, workflowId, before.version + i, { tenantId, causationId });
    return {
      topic: Topics.workflowEvents.name,
      key: workflowId,
      value: JSON.stringify(envelope),
      headers: { 'flotilla-type': `${envelope.type}@v${envelope.version}`, 'flotilla-workflow': workflowId, 'flotilla-tenant': tenantId },
    };
  });
}

/** The task for a scheduled step, carrying everything the (stateless) agent needs. */
export function taskMessage(state: WorkflowState, stepId: string): OutgoingMessage {
  const step = state.steps[stepId]!;
  return outgoing(TASK_TOPICS[agentFor(step.kind)], Messages.ExecuteStep, state.workflowId, {
    workflowId: state.workflowId,
    tenantId: state.tenantId,
    stepId,
    taskId: step.taskId!,
    attempt: step.attempt,
    kind: step.kind,
    input: step.input,
    context: {
      question: state.question, intent: state.intent, dependencies: stepOutputs(state), pins: state.pins, startedAt: state.startedAt,
      lane: laneOf(state.channel), sessionId: state.sessionId, userId: state.userId,
    },
  }, { tenantId: state.tenantId, workflowId: state.workflowId }, `cmd_${step.taskId!}`);
}

/** The messages that follow from new events: tasks for scheduled steps, the result when it ends. */
export function followUps(events: DomainEvent[], after: WorkflowState): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  for (const e of events) {
    switch (e.type) {
      case 'StepScheduled':
        out.push(taskMessage(after, e.data.stepId));
        break;
      case 'WorkflowCompleted':
      case 'WorkflowFailed':
        out.push(outgoing(Topics.results, Messages.RequestAnswered, after.requestId, {
          requestId: after.requestId,
          workflowId: after.workflowId,
          tenantId: after.tenantId,
          status: e.type === 'WorkflowCompleted' ? 'completed' : 'failed',
          answer: e.type === 'WorkflowCompleted' ? e.data.answer : undefined,
          sources: e.type === 'WorkflowCompleted' ? e.data.sources : [],
          error: e.type === 'WorkflowFailed' ? e.data.reason : undefined,
          completedAt: e.type === 'WorkflowCompleted' ? e.data.completedAt : e.data.failedAt,
        }, { tenantId: after.tenantId, workflowId: after.workflowId }, `result_${after.workflowId}`));
        break;
      case 'WorkflowStarted':
      case 'PlanAccepted':
      case 'StepCompleted':
      case 'StepFailed':
      case 'AnswerRevisionRequested':
        break;
    }
  }
  return out;
}
