import { deriveId } from '@flotilla/common';
import { CancelWorkflowV1, ConfirmStepV1, PlanStepV1, SourceV1, StepErroredV1, StepErrorV1, StepKind, StepSucceededV1, SubmitRequestV1, WorkflowTimerElapsedV1 } from '@flotilla/contracts';
import { evolve } from './evolve';
import { checkPlan, resolveInput, safePlan } from './plan';
import { DomainEvent, StepState, WorkflowState } from './state';

/** Commands the coordinator decides on. */
export type WorkflowCommand =
  | { type: 'StartWorkflow'; data: { workflowId: string; request: SubmitRequestV1; pins: Record<string, string>; now: string } }
  | { type: 'RecordStepSucceeded'; data: { result: StepSucceededV1; now: string } }
  | { type: 'RecordStepErrored'; data: { result: StepErroredV1; now: string } }
  | { type: 'CancelWorkflow'; data: { cancel: CancelWorkflowV1; now: string } }
  | { type: 'ConfirmStep'; data: { confirm: ConfirmStepV1; now: string } }
  | { type: 'TimerElapsed'; data: { timer: WorkflowTimerElapsedV1; now: string } };

/**
 * How long each kind of step may take to report before its attempt counts as timed out, and the
 * retry backoff. Pinned at workflow start (pins `stepTimeoutsMs`, `retryBackoffMs`, `deadlineMs`),
 * so a configuration change never alters a running workflow; these are the defaults.
 */
export interface StepPolicy {
  timeoutsMs: Record<StepKind, number>;
  /** Backoff before attempt n ≥ 2: min(maxMs, baseMs · 2^(n−2)), with jitter in [½, 1] of it. */
  backoff: { baseMs: number; maxMs: number };
  /** A workflow's deadline from its start, unless the request sets `timeoutMs`. */
  deadlineMs: number;
  /** How long a side-effecting step waits for the user's confirmation before the workflow ends as expired. */
  confirmationTimeoutMs: number;
}

export const DEFAULT_STEP_POLICY: StepPolicy = {
  timeoutsMs: { plan: 60_000, compose: 60_000, retrieve: 20_000, tool: 30_000, validate: 30_000 },
  backoff: { baseMs: 1_000, maxMs: 30_000 },
  deadlineMs: 300_000,
  confirmationTimeoutMs: 120_000,
};

/** The pins that carry a step policy (see `policyOf`). */
export function policyPins(policy: StepPolicy): Record<string, string> {
  return {
    stepTimeoutsMs: JSON.stringify(policy.timeoutsMs),
    retryBackoffMs: `${policy.backoff.baseMs},${policy.backoff.maxMs}`,
    deadlineMs: String(policy.deadlineMs),
    confirmationTimeoutMs: String(policy.confirmationTimeoutMs),
  };
}

/** The pin naming the tools that change state: a step calling one waits for the user's confirmation. */
export function confirmToolsPin(tools: readonly string[]): Record<string, string> {
  return { confirmTools: JSON.stringify([...tools].sort()) };
}

/** The tools pinned as needing confirmation (none when the pin is missing: such a task then has no confirmation, and the tool agent refuses it). */
export function confirmToolsOf(pins: Record<string, string>): string[] {
  try {
    const v = JSON.parse(pins['confirmTools'] ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

/** The step policy pinned in a workflow (defaults for anything missing or unreadable). */
export function policyOf(pins: Record<string, string>): StepPolicy {
  const policy: StepPolicy = { ...DEFAULT_STEP_POLICY, timeoutsMs: { ...DEFAULT_STEP_POLICY.timeoutsMs }, backoff: { ...DEFAULT_STEP_POLICY.backoff } };
  try {
    const t = JSON.parse(pins['stepTimeoutsMs'] ?? '{}') as Record<string, unknown>;
    for (const kind of Object.keys(policy.timeoutsMs) as StepKind[]) {
      const v = t[kind];
      if (typeof v === 'number' && Number.isFinite(v) && v > 0) policy.timeoutsMs[kind] = v;
    }
  } catch {
    // unreadable pin: defaults
  }
  const [base, max] = (pins['retryBackoffMs'] ?? '').split(',').map(Number);
  if (base !== undefined && Number.isFinite(base) && base >= 0 && max !== undefined && Number.isFinite(max) && max >= base) policy.backoff = { baseMs: base, maxMs: max };
  const deadline = Number(pins['deadlineMs']);
  if (Number.isFinite(deadline) && deadline > 0) policy.deadlineMs = deadline;
  const confirmation = Number(pins['confirmationTimeoutMs']);
  if (Number.isFinite(confirmation) && confirmation > 0) policy.confirmationTimeoutMs = confirmation;
  return policy;
}

/**
 * The backoff before `attempt` (≥ 2) of a step: exponential, capped, with jitter derived from the
 * task id — deterministic, so the decider stays pure and a re-made decision waits the same.
 */
export function retryDelayMs(policy: StepPolicy, attempt: number, taskId: string): number {
  const cap = Math.min(policy.backoff.maxMs, policy.backoff.baseMs * 2 ** Math.max(0, attempt - 2));
  let h = 2166136261;
  for (let i = 0; i < taskId.length; i++) h = Math.imul(h ^ taskId.charCodeAt(i), 16777619);
  const unit = (h >>> 0) / 0xffffffff;
  return Math.round(cap * (0.5 + 0.5 * unit));
}

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
      const policy = policyOf(pins);
      const started: DomainEvent = {
        type: 'WorkflowStarted',
        data: {
          workflowId, requestId: request.requestId, tenantId: request.tenantId, question: request.question, sessionId: request.sessionId,
          userId: request.userId, channel: request.channel ?? 'intake', callbackUrl: request.callbackUrl, pins, startedAt: now,
          deadline: new Date(Date.parse(now) + (request.timeoutMs ?? policy.deadlineMs)).toISOString(),
        },
      };
      const plan: DomainEvent = {
        type: 'StepScheduled',
        data: {
          stepId: 'plan', taskId: taskIdFor(workflowId, 'plan', 1), attempt: 1, kind: 'plan', input: { question: request.question }, dependsOn: [],
          timeoutMs: policy.timeoutsMs.plan,
        },
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
      return failAttempt(state, step, result.error, now);
    }
    case 'TimerElapsed': {
      const { timer, now } = command.data;
      if (state.status !== 'running' || timer.workflowId !== state.workflowId) return [];
      if (timer.timer === 'deadline') {
        return [{ type: 'WorkflowFailed', data: { code: 'DEADLINE_EXCEEDED', reason: `the workflow did not finish by its deadline (${state.deadline ?? timer.dueAt})`, failedAt: now } }];
      }
      if (timer.timer === 'confirmation') {
        const waiting = timer.stepId ? state.steps[timer.stepId] : undefined;
        if (!waiting?.awaiting || waiting.status !== 'awaiting-confirmation') return []; // answered in time
        return [
          { type: 'ConfirmationExpired', data: { stepId: waiting.id, expiredAt: now } },
          { type: 'WorkflowFailed', data: { code: 'CONFIRMATION_EXPIRED', reason: `no confirmation by ${waiting.awaiting.expiresAt}, so nothing was done: "${waiting.awaiting.summary}" did not happen`, failedAt: now } },
        ];
      }
      const step = timer.stepId && timer.taskId ? currentStep(state, timer.stepId, timer.taskId) : undefined;
      if (!step) return []; // the attempt answered in time, or was already given up on
      const error: StepErrorV1 = { code: 'STEP_TIMEOUT', message: `${step.kind} step "${step.id}" attempt ${step.attempt} did not report within ${step.timeoutMs ?? policyOf(state.pins).timeoutsMs[step.kind]} ms`, retryable: true };
      return failAttempt(state, step, error, now);
    }
    case 'CancelWorkflow': {
      const { cancel, now } = command.data;
      if (state.status !== 'running' || cancel.tenantId !== state.tenantId) return [];
      return [{ type: 'WorkflowCancelled', data: { reason: cancel.reason, requestedBy: cancel.requestedBy, cancelledAt: now } }];
    }
    case 'ConfirmStep': {
      const { confirm, now } = command.data;
      if (state.status !== 'running' || confirm.tenantId !== state.tenantId) return [];
      const waiting = state.steps[confirm.stepId];
      // Only the first answer to a question still open counts; a second one, or one for no question, decides nothing.
      if (!waiting?.awaiting || waiting.status !== 'awaiting-confirmation') return [];
      if (confirm.approve) return continueWith(state, [{ type: 'ConfirmationGiven', data: { stepId: waiting.id, confirmedBy: confirm.requestedBy, confirmedAt: now } }], now);
      return [
        { type: 'ConfirmationDeclined', data: { stepId: waiting.id, declinedBy: confirm.requestedBy, declinedAt: now } },
        {
          type: 'WorkflowCompleted',
          // The system's own words, not a model's: nothing for the validator to check, so not marked validated.
          data: { answer: `You declined, so nothing was done: "${waiting.awaiting.summary}" did not happen.`, sources: [], validated: false, completedAt: now },
        },
      ];
    }
  }
}

/**
 * The action a side-effecting tool call takes, in one sentence for the user: the verb from the tool's
 * name, an `amount` as dollars, an `orderId` as the order, anything else named — e.g.
 * "Refund $5.00 on order 1001 (reason: requested by the customer)". Built from the arguments that
 * will be sent, never from model text, so what the user approves is what runs.
 */
export function describeToolCall(tool: string, args: Record<string, unknown>): string {
  const verb = (tool.split('.')[0] ?? tool).replace(/^./, (c) => c.toUpperCase());
  const parts = [verb];
  const amount = args['amount'];
  if (typeof amount === 'number') parts.push(`$${amount.toFixed(2)}`);
  if (args['orderId'] !== undefined) parts.push(`on order ${String(args['orderId'])}`);
  const rest = Object.entries(args).filter(([k]) => k !== 'amount' && k !== 'orderId').map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${parts.join(' ')}${rest.length ? ` (${rest.join(', ')})` : ''}`;
}

/**
 * An attempt failed (an agent reported an error, or it timed out): retry it after a backoff while
 * attempts remain and retrying can help; otherwise evidence-gathering steps degrade (the answer is
 * composed from what is known) and the others fail the workflow.
 */
function failAttempt(state: WorkflowState, step: StepState, error: StepErrorV1, now: string): DomainEvent[] {
  const retry = error.retryable && step.attempt < MAX_STEP_ATTEMPTS;
  const events: DomainEvent[] = [{ type: 'StepFailed', data: { stepId: step.id, taskId: step.taskId!, attempt: step.attempt, error, willRetry: retry } }];
  if (retry) {
    // Failed attempts count toward the limit; revisions of a rejected answer do not.
    const policy = policyOf(state.pins);
    const attempt = step.attempt + 1;
    const taskId = taskIdFor(state.workflowId, step.id, attempt);
    const notBefore = new Date(Date.parse(now) + retryDelayMs(policy, attempt, taskId)).toISOString();
    events.push({
      type: 'StepScheduled',
      data: {
        stepId: step.id, taskId, attempt, kind: step.kind, input: step.input, dependsOn: step.dependsOn, notBefore, timeoutMs: policy.timeoutsMs[step.kind],
        ...(step.confirmation ? { confirmation: step.confirmation } : {}),
      },
    });
    return events;
  }
  if (step.kind === 'tool' || step.kind === 'retrieve') return continueWith(state, events, now);
  events.push({ type: 'WorkflowFailed', data: { code: error.code, reason: `${step.kind} step "${step.id}" failed: ${error.message}`, failedAt: now } });
  return events;
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
  const confirmTools = confirmToolsOf(after.pins);
  // One question at a time: while a step awaits the user, other side-effecting steps stay pending.
  let asking = Object.values(after.steps).some((s) => s.status === 'awaiting-confirmation');
  for (const id of after.stepOrder) {
    const s = after.steps[id]!;
    if (s.status !== 'pending' || !s.dependsOn.every((d) => done(after.steps[d]))) continue;
    const attempt = s.attempt + 1;
    const input = resolveInput(s.planInput ?? s.input, outputs);
    if (s.kind === 'compose' && after.revisions > 0) Object.assign(input, { revision: after.revisions, rejectedReasons: after.rejectedReasons });
    if (s.kind === 'tool' && !s.confirmation && confirmTools.includes(String(input['tool']))) {
      if (asking) continue;
      asking = true;
      const args = typeof input['args'] === 'object' && input['args'] !== null && !Array.isArray(input['args']) ? (input['args'] as Record<string, unknown>) : {};
      const tool = String(input['tool']);
      out.push({
        type: 'StepAwaitingConfirmation',
        data: { stepId: s.id, tool, args, summary: describeToolCall(tool, args), requestedAt: now, expiresAt: new Date(Date.parse(now) + policyOf(after.pins).confirmationTimeoutMs).toISOString() },
      });
      continue;
    }
    out.push({
      type: 'StepScheduled',
      data: {
        stepId: s.id, taskId: taskIdFor(after.workflowId, s.id, attempt), attempt, kind: s.kind, input, dependsOn: s.dependsOn, timeoutMs: policyOf(after.pins).timeoutsMs[s.kind],
        ...(s.confirmation ? { confirmation: s.confirmation } : {}),
      },
    });
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
