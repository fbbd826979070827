import {
  AnswerRevisionRequestedV1, Channel, ConfirmationDeclinedV1, ConfirmationExpiredV1, ConfirmationGivenV1, StepAwaitingConfirmationV1, StepConfirmationV1, ModelInfoV1, PlanAcceptedV1, SourceV1, StepCompletedV1, StepErrorV1, StepFailedV1, StepKind, StepScheduledV1,
  WorkflowCancelledV1, WorkflowCompletedV1, WorkflowFailedV1, WorkflowStartedV1,
} from '@flotilla/contracts';

/** A workflow event as the decider produces it: the wire name and the data, without envelope. */
export type DomainEvent =
  | { type: 'WorkflowStarted'; data: WorkflowStartedV1 }
  | { type: 'PlanAccepted'; data: PlanAcceptedV1 }
  | { type: 'StepScheduled'; data: StepScheduledV1 }
  | { type: 'StepCompleted'; data: StepCompletedV1 }
  | { type: 'StepFailed'; data: StepFailedV1 }
  | { type: 'AnswerRevisionRequested'; data: AnswerRevisionRequestedV1 }
  | { type: 'StepAwaitingConfirmation'; data: StepAwaitingConfirmationV1 }
  | { type: 'ConfirmationGiven'; data: ConfirmationGivenV1 }
  | { type: 'ConfirmationDeclined'; data: ConfirmationDeclinedV1 }
  | { type: 'ConfirmationExpired'; data: ConfirmationExpiredV1 }
  | { type: 'WorkflowCompleted'; data: WorkflowCompletedV1 }
  | { type: 'WorkflowFailed'; data: WorkflowFailedV1 }
  | { type: 'WorkflowCancelled'; data: WorkflowCancelledV1 };

/** `awaiting-confirmation`: a side-effecting step that is ready but waits for the user's answer. */
export type StepStatus = 'pending' | 'awaiting-confirmation' | 'scheduled' | 'completed' | 'failed';

export interface StepState {
  id: string;
  kind: StepKind;
  input: Record<string, unknown>;
  /** The input as planned, references unresolved: a revision resolves it again against new outputs. */
  planInput?: Record<string, unknown>;
  dependsOn: string[];
  status: StepStatus;
  taskId?: string;
  attempt: number;
  output?: Record<string, unknown>;
  error?: StepErrorV1;
  model?: ModelInfoV1;
  /** The current attempt's dispatch time (after any backoff) and time allowed to answer. */
  notBefore?: string;
  timeoutMs?: number;
  /** While awaiting confirmation: what was put to the user, and until when. */
  awaiting?: { tool: string; args: Record<string, unknown>; summary: string; requestedAt: string; expiresAt: string };
  /** The user's approval, carried by every attempt of a side-effecting step. */
  confirmation?: StepConfirmationV1;
}

export type WorkflowStatus = 'none' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface WorkflowState {
  status: WorkflowStatus;
  workflowId: string;
  requestId: string;
  tenantId: string;
  question: string;
  sessionId?: string;
  userId?: string;
  channel: Channel;
  callbackUrl?: string;
  pins: Record<string, string>;
  startedAt: string;
  /** Past this the workflow fails with DEADLINE_EXCEEDED. */
  deadline?: string;
  intent?: Record<string, unknown>;
  planVersion?: string;
  steps: Record<string, StepState>;
  /** Steps in the order they were added, for display and deterministic scheduling. */
  stepOrder: string[];
  answer?: string;
  sources: SourceV1[];
  validated?: boolean;
  model?: ModelInfoV1;
  failure?: { code: string; reason: string };
  cancellation?: { reason?: string; requestedBy?: string };
  endedAt?: string;
  /** Answer revisions asked for after validator rejections, with the latest reasons. */
  revisions: number;
  rejectedReasons: string[];
  /** Tokens and cost of every model call so far. */
  usage: { promptTokens: number; completionTokens: number; costUsd: number };
  /** How many events the state was folded from (the next event's sequence number). */
  version: number;
}

export const initialState = (): WorkflowState => ({
  status: 'none',
  workflowId: '',
  requestId: '',
  tenantId: '',
  question: '',
  channel: 'api',
  pins: {},
  startedAt: '',
  steps: {},
  stepOrder: [],
  sources: [],
  revisions: 0,
  rejectedReasons: [],
  usage: { promptTokens: 0, completionTokens: 0, costUsd: 0 },
  version: 0,
});
