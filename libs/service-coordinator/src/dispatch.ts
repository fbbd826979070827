import { agentFor, laneOf, Messages, TASK_TOPICS, Topics } from '@flotilla/contracts';
import { delayed, OutgoingMessage, outgoing, traceHeaders, withLane } from '@flotilla/messaging';
import { DomainEvent, stepOutputs, toEnvelope, WorkflowState } from '@flotilla/workflow';

/** The wire messages of newly decided events, numbered from the state's version before them. */
export function eventMessages(events: DomainEvent[], before: WorkflowState, workflowId: string, tenantId: string, causationId: string): OutgoingMessage[] {
  return events.map((event, i) => {
    const envelope = toEnvelope(event, workflowId, before.version + i, { tenantId, causationId });
    return {
      topic: Topics.workflowEvents.name,
      key: workflowId,
      value: JSON.stringify(envelope),
      // traceHeaders(): the events' consumers continue the trace of the input that caused them (docs/adr/0011).
      headers: { 'flotilla-type': `${envelope.type}@v${envelope.version}`, 'flotilla-workflow': workflowId, 'flotilla-tenant': tenantId, ...traceHeaders() },
    };
  });
}

/** The task for a scheduled step, carrying everything the (stateless) agent needs. */
export function taskMessage(state: WorkflowState, stepId: string, now = Date.now()): OutgoingMessage {
  const step = state.steps[stepId]!;
  const dispatchAt = step.notBefore ? Math.max(Date.parse(step.notBefore), now) : now;
  return outgoing(TASK_TOPICS[agentFor(step.kind)][laneOf(state.channel)], Messages.ExecuteStep, state.workflowId, {
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
    deadline: step.timeoutMs ? new Date(dispatchAt + step.timeoutMs).toISOString() : undefined,
    confirmation: step.confirmation,
  }, { tenantId: state.tenantId, workflowId: state.workflowId }, `cmd_${step.taskId!}`);
}

/** Where a workflow's timers go: a batch workflow's to the batch lane's commands topic. */
function timerTopic(state: WorkflowState): typeof Topics.workflowCommands | typeof Topics.batchWorkflowCommands {
  return laneOf(state.channel) === 'batch' ? Topics.batchWorkflowCommands : Topics.workflowCommands;
}

/** The timer that fires when a step attempt's time to report has run out. */
function stepTimer(state: WorkflowState, stepId: string, dueAt: number): OutgoingMessage {
  const step = state.steps[stepId]!;
  return outgoing(timerTopic(state), Messages.WorkflowTimerElapsed, state.workflowId, {
    workflowId: state.workflowId, timer: 'step-timeout', stepId, taskId: step.taskId!, dueAt: new Date(dueAt).toISOString(),
  }, { tenantId: state.tenantId, workflowId: state.workflowId }, `timer_${step.taskId!}`);
}

/**
 * The messages that follow from new events: tasks for scheduled steps (through a delay topic while a
 * retry's backoff lasts) with a timer for each attempt's timeout, the deadline timer of a new
 * workflow, and the result when it ends.
 */
export function followUps(events: DomainEvent[], after: WorkflowState, now = Date.now()): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  // A batch workflow's tasks and timers wait in the batch lane's delay tiers (marked before wrapping).
  const batch = laneOf(after.channel) === 'batch';
  const later = (message: OutgoingMessage, dueAt: number): OutgoingMessage => delayed(batch ? withLane(message, 'batch') : message, dueAt, now);
  for (const e of events) {
    switch (e.type) {
      case 'StepScheduled': {
        const dispatchAt = e.data.notBefore ? Date.parse(e.data.notBefore) : now;
        out.push(later(taskMessage(after, e.data.stepId, now), dispatchAt));
        if (e.data.timeoutMs) out.push(later(stepTimer(after, e.data.stepId, dispatchAt + e.data.timeoutMs), dispatchAt + e.data.timeoutMs));
        break;
      }
      case 'WorkflowStarted':
        if (e.data.deadline) {
          const dueAt = Date.parse(e.data.deadline);
          out.push(later(outgoing(timerTopic(after), Messages.WorkflowTimerElapsed, after.workflowId, {
            workflowId: after.workflowId, timer: 'deadline', dueAt: e.data.deadline,
          }, { tenantId: after.tenantId, workflowId: after.workflowId }, `deadline_${after.workflowId}`), dueAt));
        }
        break;
      case 'StepAwaitingConfirmation': {
        // No answer by then: the workflow ends as expired (a stale timer, after an answer, decides nothing).
        const dueAt = Date.parse(e.data.expiresAt);
        out.push(later(outgoing(timerTopic(after), Messages.WorkflowTimerElapsed, after.workflowId, {
          workflowId: after.workflowId, timer: 'confirmation', stepId: e.data.stepId, dueAt: e.data.expiresAt,
        }, { tenantId: after.tenantId, workflowId: after.workflowId }, `confirm_${after.workflowId}_${e.data.stepId}`), dueAt));
        break;
      }
      case 'WorkflowCompleted':
      case 'WorkflowFailed':
      case 'WorkflowCancelled':
        out.push(outgoing(Topics.results, Messages.RequestAnswered, after.requestId, {
          requestId: after.requestId,
          workflowId: after.workflowId,
          tenantId: after.tenantId,
          status: e.type === 'WorkflowCompleted' ? 'completed' : e.type === 'WorkflowFailed' ? 'failed' : 'cancelled',
          answer: e.type === 'WorkflowCompleted' ? e.data.answer : undefined,
          sources: e.type === 'WorkflowCompleted' ? e.data.sources : [],
          error: e.type === 'WorkflowFailed' ? e.data.reason : e.type === 'WorkflowCancelled' ? `cancelled${e.data.reason ? `: ${e.data.reason}` : ''}` : undefined,
          completedAt: e.type === 'WorkflowCompleted' ? e.data.completedAt : e.type === 'WorkflowFailed' ? e.data.failedAt : e.data.cancelledAt,
        }, { tenantId: after.tenantId, workflowId: after.workflowId }, `result_${after.workflowId}`));
        break;
      case 'PlanAccepted':
      case 'StepCompleted':
      case 'StepFailed':
      case 'AnswerRevisionRequested':
      case 'ConfirmationGiven':
      case 'ConfirmationDeclined':
      case 'ConfirmationExpired':
        break;
    }
  }
  return out;
}
