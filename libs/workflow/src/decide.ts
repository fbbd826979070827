import { deriveId } from '@flotilla/common';
import { PlanStepV1, SourceV1, StepErroredV1, StepSucceededV1, SubmitRequestV1 } from '@flotilla/contracts';
import { evolve } from './evolve';
import { checkPlan, resolveInput, safePlan } from './plan';
import { DomainEvent, StepState, WorkflowState } from './state';

/** Commands the coordinator decides on. */
export type WorkflowCommand =
  | { type: 'StartWorkflow'; data: { workflowId: string; request: SubmitRequestV1; pins: Record<string, string>; now: string } }
  | { type: 'RecordStepSucceeded'; data: { result: StepSucceededV1; now: string } }
  | { type: 'RecordStepErrored'; data: { result: StepErroredV1; now: string } };

/** Attempts per step before it is given up on. */
export const MAX_STEP_ATTEMPTS = 3;

/** Revisions of a rejected answer before the safe answer replaces it. */
export const MAX_REVISIONS = 2;

/** The task id of a step attempt: deterministic, so redelivery maps to the same task and idempotency key. */
export const taskIdFor = (workflowId: string, stepId: string, attempt: number): string => deriveId('task', workflowId, stepId, String(attempt));

/** The workflow id of a request: resubmitting the same request id never starts a second workflow. */
export const workflowIdFor = (tenantId: string, requestId: string): string => deriveId('wf', tenantId, requestId);

export const SAFE_ANSWER =
  "I'm sorry — I couldn't verify an answer to that from our records, so I won't guess. Please rephrase or contact support.";

/**
 * The workflow decider: given a command and the current state, the events that happen. Pure — no
 * I/O, no clock (time arrives in the command) — so it is tested given/when/then and any coordinator
 * replica reaches the same decision from the same log. Duplicate or stale results decide nothing.
 */
export function decide(command: WorkflowCommand, state: WorkflowState): DomainEvent[] {
  switch (command.type) {
    case 'StartWorkflow': {
      if (state.status !== 'none') return [];
      const { workflowId, request, pins, now } = command.data;
      const started: DomainEvent = {
        type: 'WorkflowStarted',
        data: {
          workflowId, requestId: request.requestId, tenantId: request.tenantId, question: request.question, sessionId: request.sessionId,
          userId: request.userId, channel: request.channel ?? 'intake', callbackUrl: request.callbackUrl, pins, startedAt: now,
        },
      };
      const plan: DomainEvent = {
        type: 'StepScheduled',
        data: { stepId: 'plan', taskId: taskIdFor(workflowId, 'plan', 1), attempt: 1, kind: 'plan', input: { question: request.question }, dependsOn: [] },
      };
      return [started, plan];
    }
    case 'RecordStepSucceeded': {
      const { result, now } = command.data;
      const step = currentStep(state, result.stepId, result.taskId);
      if (!step) return [];
      const events: DomainEvent[] = [{
        type: 'StepCompleted',
        data: { stepId: result.stepId, taskId: result.taskId, attempt: result.attempt, output: result.output, model: result.model, usage: result.usage },
      }];
      if (step.kind === 'plan') events.push(acceptPlan(result.output));
      return continueWith(state, events, now);
    }
    case 'RecordStepErrored': {
      const { result, now } = command.data;
      const step = currentStep(state, result.stepId, result.taskId);
      if (!step) return [];
      const retry = result.error.retryable && step.attempt < MAX_STEP_ATTEMPTS;
      const events: DomainEvent[] = [{ type: 'StepFailed', data: { stepId: step.id, taskId: result.taskId, attempt: step.attempt, error: result.error, willRetry: retry } }];
      if (retry) {
        // Failed attempts count toward the limit; revisions of a rejected answer do not.
        const attempt = step.attempt + 1;
        events.push({ type: 'StepScheduled', data: { stepId: step.id, taskId: taskIdFor(state.workflowId, step.id, attempt), attempt, kind: step.kind, input: step.input, dependsOn: step.dependsOn } });
        return events;
      }
      // Evidence-gathering steps degrade: the answer is composed from what is known, saying what is not.
      if (step.kind === 'tool' || step.kind === 'retrieve') return continueWith(state, events, now);
      events.push({ type: 'WorkflowFailed', data: { code: result.error.code, reason: `${step.kind} step "${step.id}" failed: ${result.error.message}`, failedAt: now } });
      return events;
    }
  }
}

/** The step a result refers to, if it is the attempt still awaited; otherwise the result is stale. */
function currentStep(state: WorkflowState, stepId: string, taskId: string): StepState | undefined {
  if (state.status !== 'running') return undefined;
  const step = state.steps[stepId];
  if (!step || step.status !== 'scheduled' || step.taskId !== taskId) return undefined;
  return step;
}

function acceptPlan(output: Record<string, unknown>): DomainEvent {
  const intent = (typeof output['intent'] === 'object' && output['intent'] !== null ? output['intent'] : {}) as Record<string, unknown>;
  const planVersion = typeof output['planVersion'] === 'string' ? output['planVersion'] : 'unknown';
  const checked = checkPlan(output['steps']);
  if (checked.ok) return { type: 'PlanAccepted', data: { intent, planVersion, steps: checked.steps } };
  return { type: 'PlanAccepted', data: { intent, planVersion: 'safe-v1', steps: safePlan(), replacedBecause: checked.reason } };
}

/** Applies `events`, then schedules every step whose dependencies are done, or ends the workflow. */
function continueWith(state: WorkflowState, events: DomainEvent[], now: string): DomainEvent[] {
  const after = events.reduce(evolve, state);
  const out = [...events];
  const done = (s: StepState | undefined): boolean => s?.status === 'completed' || s?.status === 'failed';
  const outputs = Object.fromEntries(Object.values(after.steps).map((s) => [s.id, s.output ?? (s.error ? { error: s.error } : undefined)]));

  const validate = Object.values(after.steps).find((s) => s.kind === 'validate' && s.status === 'completed');
  if (validate) {
    const approved = validate.output?.['verdict'] === 'approved';
    if (approved || after.revisions >= MAX_REVISIONS) {
      out.push(complete(after, validate, now));
      return out;
    }
    const reasons = Array.isArray(validate.output?.['reasons']) ? (validate.output['reasons'] as unknown[]).map(String) : [];
    const revision: DomainEvent = { type: 'AnswerRevisionRequested', data: { revision: after.revisions + 1, reasons } };
    return [...out, ...continueWith(after, [revision], now)];
  }
  for (const id of after.stepOrder) {
    const s = after.steps[id]!;
    if (s.status !== 'pending' || !s.dependsOn.every((d) => done(after.steps[d]))) continue;
    const attempt = s.attempt + 1;
    const input = resolveInput(s.input, outputs);
    if (s.kind === 'compose' && after.revisions > 0) Object.assign(input, { revision: after.revisions, rejectedReasons: after.rejectedReasons });
    out.push({ type: 'StepScheduled', data: { stepId: s.id, taskId: taskIdFor(after.workflowId, s.id, attempt), attempt, kind: s.kind, input, dependsOn: s.dependsOn } });
  }
  return out;
}

function complete(state: WorkflowState, validate: StepState, now: string): DomainEvent {
  const compose = Object.values(state.steps).find((s) => s.kind === 'compose');
  const answer = typeof compose?.output?.['answer'] === 'string' ? compose.output['answer'] : undefined;
  const sources = Array.isArray(compose?.output?.['sources']) ? (compose.output['sources'] as SourceV1[]) : [];
  const approved = validate.output?.['verdict'] === 'approved';
  return {
    type: 'WorkflowCompleted',
    data: { answer: approved && answer ? answer : SAFE_ANSWER, sources: approved ? sources : [], validated: approved, model: compose?.model, completedAt: now },
  };
}

/** The outputs of every finished step, as agents receive them in `context.dependencies`. */
export function stepOutputs(state: WorkflowState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const id of state.stepOrder) {
    const s = state.steps[id]!;
    if (s.status === 'completed') out[id] = s.output;
    else if (s.status === 'failed') out[id] = { error: s.error };
  }
  return out;
}

export type { PlanStepV1 };
