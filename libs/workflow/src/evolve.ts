import { DomainEvent, initialState, StepState, WorkflowState } from './state';

/** Folds one event into the state. Pure: the same events always rebuild the same state. */
export function evolve(state: WorkflowState, event: DomainEvent): WorkflowState {
  const next: WorkflowState = { ...state, version: state.version + 1 };
  switch (event.type) {
    case 'WorkflowStarted': {
      const d = event.data;
      return {
        ...next, status: 'running', workflowId: d.workflowId, requestId: d.requestId, tenantId: d.tenantId, question: d.question,
        sessionId: d.sessionId, userId: d.userId, channel: d.channel, callbackUrl: d.callbackUrl, pins: d.pins, startedAt: d.startedAt,
        deadline: d.deadline,
      };
    }
    case 'PlanAccepted': {
      const steps = { ...next.steps };
      const order = [...next.stepOrder];
      for (const s of event.data.steps) {
        if (steps[s.id]) continue;
        steps[s.id] = { id: s.id, kind: s.kind, input: s.input, planInput: s.input, dependsOn: s.dependsOn, status: 'pending', attempt: 0 };
        order.push(s.id);
      }
      return { ...next, intent: event.data.intent, planVersion: event.data.planVersion, steps, stepOrder: order };
    }
    case 'StepScheduled': {
      const d = event.data;
      const prev = next.steps[d.stepId];
      const step: StepState = {
        ...(prev ?? { id: d.stepId, kind: d.kind, dependsOn: d.dependsOn }),
        input: d.input, status: 'scheduled', taskId: d.taskId, attempt: d.attempt, error: undefined, notBefore: d.notBefore, timeoutMs: d.timeoutMs,
        confirmation: d.confirmation ?? prev?.confirmation,
      } as StepState;
      return { ...next, steps: { ...next.steps, [d.stepId]: step }, stepOrder: prev ? next.stepOrder : [...next.stepOrder, d.stepId] };
    }
    case 'StepCompleted': {
      const d = event.data;
      const prev = next.steps[d.stepId];
      if (!prev) return next;
      const usage = d.usage
        ? { promptTokens: next.usage.promptTokens + d.usage.promptTokens, completionTokens: next.usage.completionTokens + d.usage.completionTokens, costUsd: next.usage.costUsd + (d.usage.costUsd ?? 0) }
        : next.usage;
      return { ...next, usage, steps: { ...next.steps, [d.stepId]: { ...prev, status: 'completed', output: d.output, model: d.model } } };
    }
    case 'StepFailed': {
      const d = event.data;
      const prev = next.steps[d.stepId];
      if (!prev) return next;
      return { ...next, steps: { ...next.steps, [d.stepId]: { ...prev, status: d.willRetry ? prev.status : 'failed', error: d.error } } };
    }
    case 'AnswerRevisionRequested': {
      // Compose and validate run again; their attempt counters carry on, so task ids stay unique.
      const steps = { ...next.steps };
      for (const st of Object.values(steps)) if (st.kind === 'compose' || st.kind === 'validate') steps[st.id] = { ...st, status: 'pending', output: undefined };
      return { ...next, steps, revisions: event.data.revision, rejectedReasons: event.data.reasons };
    }
    case 'StepAwaitingConfirmation': {
      const d = event.data;
      const prev = next.steps[d.stepId];
      if (!prev) return next;
      const awaiting = { tool: d.tool, args: d.args, summary: d.summary, requestedAt: d.requestedAt, expiresAt: d.expiresAt };
      return { ...next, steps: { ...next.steps, [d.stepId]: { ...prev, status: 'awaiting-confirmation', awaiting } } };
    }
    case 'ConfirmationGiven': {
      const d = event.data;
      const prev = next.steps[d.stepId];
      if (!prev?.awaiting) return next;
      // What runs is exactly what the user saw: the arguments shown, already resolved.
      const shown = { ...(prev.planInput ?? prev.input), tool: prev.awaiting.tool, args: prev.awaiting.args };
      return {
        ...next,
        steps: { ...next.steps, [d.stepId]: { ...prev, status: 'pending', planInput: shown, confirmation: { confirmedBy: d.confirmedBy, confirmedAt: d.confirmedAt } } },
      };
    }
    case 'ConfirmationDeclined':
    case 'ConfirmationExpired': {
      const d = event.data;
      const prev = next.steps[d.stepId];
      if (!prev) return next;
      const error = event.type === 'ConfirmationDeclined'
        ? { code: 'CONFIRMATION_DECLINED', message: 'the user declined; the step did not run', retryable: false }
        : { code: 'CONFIRMATION_EXPIRED', message: 'no confirmation in time; the step did not run', retryable: false };
      return { ...next, steps: { ...next.steps, [d.stepId]: { ...prev, status: 'failed', error } } };
    }
    case 'WorkflowCompleted':
      return { ...next, status: 'completed', answer: event.data.answer, sources: event.data.sources, validated: event.data.validated, model: event.data.model, endedAt: event.data.completedAt };
    case 'WorkflowFailed':
      return { ...next, status: 'failed', failure: { code: event.data.code, reason: event.data.reason }, endedAt: event.data.failedAt };
    case 'WorkflowCancelled':
      return { ...next, status: 'cancelled', cancellation: { reason: event.data.reason, requestedBy: event.data.requestedBy }, endedAt: event.data.cancelledAt };
  }
}

export function fold(events: DomainEvent[], state: WorkflowState = initialState()): WorkflowState {
  return events.reduce(evolve, state);
}
