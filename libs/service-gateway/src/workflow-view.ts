import { StoredEvent } from '@flotilla/memory';
import { DomainEvent, evolve, initialState, WorkflowState } from '@flotilla/workflow';
import type { ProjectionFreshness } from './projection-lag';

/** What `GET /v1/workflows/:id` returns: the folded state and the full event history. */
export interface WorkflowView {
  workflowId: string;
  requestId: string;
  tenantId: string;
  status: 'accepted' | 'running' | 'completed' | 'failed' | 'cancelled';
  question: string;
  intent?: Record<string, unknown>;
  answer?: string;
  sources: { id: string; title: string; uri?: string }[];
  validated?: boolean;
  model?: { provider: string; model: string; label: string };
  failure?: { code: string; reason: string };
  cancellation?: { reason?: string; requestedBy?: string };
  /** A side-effecting step waiting for the user: answer with POST /v1/workflows/{id}/confirm before `expiresAt`. */
  awaitingConfirmation?: { stepId: string; tool: string; args: Record<string, unknown>; summary: string; requestedAt: string; expiresAt: string };
  /** Past this the workflow fails with DEADLINE_EXCEEDED. */
  deadline?: string;
  pins: Record<string, string>;
  /** Tokens and cost of every model call of this workflow. */
  usage: { promptTokens: number; completionTokens: number; costUsd: number };
  startedAt?: string;
  endedAt?: string;
  steps: { id: string; kind: string; status: string; attempt: number; dependsOn: string[]; output?: unknown; error?: unknown }[];
  events: { sequence: number; type: string; version: number; id: string; occurredAt: string; data: unknown }[];
  /**
   * How current this view is: the read model is projected from the log asynchronously, and under
   * load can trail it. Unless `state` is `current`, a status that is not final (accepted, running)
   * may already have moved on; a final one (completed, failed, cancelled) never changes.
   */
  projection: ProjectionFreshness;
}

function awaitingOf(state: WorkflowState): WorkflowView['awaitingConfirmation'] {
  const step = state.status === 'running' ? Object.values(state.steps).find((s) => s.status === 'awaiting-confirmation') : undefined;
  return step?.awaiting ? { stepId: step.id, ...step.awaiting } : undefined;
}

/** The state a workflow's stored events fold to. */
export function foldStored(events: readonly StoredEvent[]): WorkflowState {
  return events.reduce((s, e) => evolve(s, { type: e.type, data: e.data } as DomainEvent), initialState());
}

export function toWorkflowView(
  workflowId: string,
  tenantId: string,
  loaded: { accepted?: { requestId: string; question: string; acceptedAt: string }; events: StoredEvent[] },
  projection: ProjectionFreshness = { state: 'unknown' },
): WorkflowView {
  const state = foldStored(loaded.events);
  return {
    workflowId,
    requestId: state.requestId || loaded.accepted?.requestId || '',
    tenantId,
    status: state.status === 'none' ? 'accepted' : state.status,
    question: state.question || loaded.accepted?.question || '',
    intent: state.intent,
    answer: state.answer,
    sources: state.sources,
    validated: state.validated,
    model: state.model,
    failure: state.failure,
    cancellation: state.cancellation,
    awaitingConfirmation: awaitingOf(state),
    deadline: state.deadline,
    pins: state.pins,
    usage: state.usage,
    startedAt: state.startedAt || loaded.accepted?.acceptedAt,
    endedAt: state.endedAt,
    steps: state.stepOrder.map((id) => {
      const s = state.steps[id]!;
      return { id, kind: s.kind, status: s.status, attempt: s.attempt, dependsOn: s.dependsOn, output: s.output, error: s.error };
    }),
    events: loaded.events.map((e) => ({ sequence: e.sequence, type: e.type, version: e.version, id: e.id, occurredAt: e.occurredAt, data: e.data })),
    projection,
  };
}
