import { defineMessage, defineTopic, TopicMessage } from './registry';
import {
  AnswerTokenStreamedV1, CancelWorkflowV1, ConfirmStepV1, DeadLetterRecordedV1, WorkflowTimerElapsedV1, DocumentIngestionReportedV1, ExecuteStepV1, IngestDocumentV1, RequestAnsweredV1, StepErroredV1, StepSucceededV1, SubmitRequestV1,
} from './dto';
import {
  AnswerRevisionRequestedV1, ConfirmationDeclinedV1, ConfirmationExpiredV1, ConfirmationGivenV1, PlanAcceptedV1, StepAwaitingConfirmationV1, StepCompletedV1, StepFailedV1, StepScheduledV1, WorkflowCancelledV1, WorkflowCompletedV1, WorkflowFailedV1, WorkflowStartedV1,
} from './events';
import type { Agent, Lane } from './dto';

/** Every message contract, by explicit wire name. */
export const Messages = {
  SubmitRequest: defineMessage('SubmitRequest', 1, SubmitRequestV1),
  ExecuteStep: defineMessage('ExecuteStep', 1, ExecuteStepV1),
  StepSucceeded: defineMessage('StepSucceeded', 1, StepSucceededV1),
  StepErrored: defineMessage('StepErrored', 1, StepErroredV1),
  AnswerTokenStreamed: defineMessage('AnswerTokenStreamed', 1, AnswerTokenStreamedV1),
  RequestAnswered: defineMessage('RequestAnswered', 1, RequestAnsweredV1),
  DeadLetterRecorded: defineMessage('DeadLetterRecorded', 1, DeadLetterRecordedV1),
  WorkflowStarted: defineMessage('WorkflowStarted', 1, WorkflowStartedV1),
  PlanAccepted: defineMessage('PlanAccepted', 1, PlanAcceptedV1),
  StepScheduled: defineMessage('StepScheduled', 1, StepScheduledV1),
  StepCompleted: defineMessage('StepCompleted', 1, StepCompletedV1),
  StepFailed: defineMessage('StepFailed', 1, StepFailedV1),
  WorkflowCompleted: defineMessage('WorkflowCompleted', 1, WorkflowCompletedV1),
  WorkflowFailed: defineMessage('WorkflowFailed', 1, WorkflowFailedV1),
  AnswerRevisionRequested: defineMessage('AnswerRevisionRequested', 1, AnswerRevisionRequestedV1),
  WorkflowCancelled: defineMessage('WorkflowCancelled', 1, WorkflowCancelledV1),
  CancelWorkflow: defineMessage('CancelWorkflow', 1, CancelWorkflowV1),
  ConfirmStep: defineMessage('ConfirmStep', 1, ConfirmStepV1),
  StepAwaitingConfirmation: defineMessage('StepAwaitingConfirmation', 1, StepAwaitingConfirmationV1),
  ConfirmationGiven: defineMessage('ConfirmationGiven', 1, ConfirmationGivenV1),
  ConfirmationDeclined: defineMessage('ConfirmationDeclined', 1, ConfirmationDeclinedV1),
  ConfirmationExpired: defineMessage('ConfirmationExpired', 1, ConfirmationExpiredV1),
  WorkflowTimerElapsed: defineMessage('WorkflowTimerElapsed', 1, WorkflowTimerElapsedV1),
  IngestDocument: defineMessage('IngestDocument', 1, IngestDocumentV1),
  DocumentIngestionReported: defineMessage('DocumentIngestionReported', 1, DocumentIngestionReportedV1),
} as const;

/**
 * Every topic, defined once. All workflow-keyed topics share one partition count so that a
 * workflow's commands, results and events land on the same partition index.
 */
export const WORKFLOW_PARTITIONS = 6;

export const Topics = {
  /** Public intake (batch lane): outside systems publish `SubmitRequest`; key = requestId. */
  intake: defineTopic({ name: 'flotilla.intake.v1', partitions: WORKFLOW_PARTITIONS, key: 'requestId', messages: [Messages.SubmitRequest] }),
  /**
   * REST submissions from the gateway (batch lane), authenticated there; same contract. Internal:
   * with Kafka ACLs only the gateway writes it, while outside publishers write `intake` with an API key.
   */
  apiIntake: defineTopic({ name: 'flotilla.intake.api.v1', partitions: WORKFLOW_PARTITIONS, key: 'requestId', messages: [Messages.SubmitRequest] }),
  /** Chat requests from the gateway (interactive lane); same contract as the public intake. */
  interactiveIntake: defineTopic({ name: 'flotilla.intake.interactive.v1', partitions: WORKFLOW_PARTITIONS, key: 'requestId', messages: [Messages.SubmitRequest] }),
  /** Commands about running workflows: cancellation, confirmations and elapsed timers; key = workflowId. */
  workflowCommands: defineTopic({
    name: 'flotilla.workflow-commands.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.CancelWorkflow, Messages.ConfirmStep, Messages.WorkflowTimerElapsed],
  }),
  /**
   * The timers of batch workflows (deadline, step timeouts, confirmation expiry), read by the
   * coordinator's batch consumer group and committed in the batch lane: a backlog's timers never
   * queue in front of a chat's transitions. Cancellations and confirmations stay on workflowCommands.
   */
  batchWorkflowCommands: defineTopic({
    name: 'flotilla.workflow-commands.batch.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.WorkflowTimerElapsed],
  }),
  /** The append-only workflow event log; only the coordinator writes it. */
  workflowEvents: defineTopic({
    name: 'flotilla.workflow-events.v1',
    partitions: WORKFLOW_PARTITIONS,
    key: 'workflowId',
    messages: [
      Messages.WorkflowStarted, Messages.PlanAccepted, Messages.StepScheduled, Messages.StepCompleted, Messages.StepFailed, Messages.AnswerRevisionRequested,
      Messages.StepAwaitingConfirmation, Messages.ConfirmationGiven, Messages.ConfirmationDeclined, Messages.ConfirmationExpired,
      Messages.WorkflowCompleted, Messages.WorkflowFailed, Messages.WorkflowCancelled,
    ],
  }),
  /** Each agent's tasks, one topic per lane so a batch backlog never sits in front of chat work. */
  plannerTasks: defineTopic({ name: 'flotilla.tasks.planner.interactive.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.ExecuteStep] }),
  plannerBatchTasks: defineTopic({ name: 'flotilla.tasks.planner.batch.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.ExecuteStep] }),
  retrieverTasks: defineTopic({ name: 'flotilla.tasks.retriever.interactive.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.ExecuteStep] }),
  retrieverBatchTasks: defineTopic({ name: 'flotilla.tasks.retriever.batch.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.ExecuteStep] }),
  toolTasks: defineTopic({ name: 'flotilla.tasks.tool.interactive.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.ExecuteStep] }),
  toolBatchTasks: defineTopic({ name: 'flotilla.tasks.tool.batch.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.ExecuteStep] }),
  validatorTasks: defineTopic({ name: 'flotilla.tasks.validator.interactive.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.ExecuteStep] }),
  validatorBatchTasks: defineTopic({ name: 'flotilla.tasks.validator.batch.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.ExecuteStep] }),
  /**
   * Agents report step outcomes here, one topic per lane (interactive keeps the historical name) so
   * the coordinator reads chat results in a group of their own, never behind a batch backlog's; key = workflowId.
   */
  stepResults: defineTopic({ name: 'flotilla.step-results.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.StepSucceeded, Messages.StepErrored] }),
  batchStepResults: defineTopic({ name: 'flotilla.step-results.batch.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.StepSucceeded, Messages.StepErrored] }),
  /** Answer tokens as they are composed; key = workflowId. */
  answerStream: defineTopic({ name: 'flotilla.answer-stream.v1', partitions: WORKFLOW_PARTITIONS, key: 'workflowId', messages: [Messages.AnswerTokenStreamed] }),
  /** Final outcome of every request, for intake publishers; key = requestId. */
  results: defineTopic({ name: 'flotilla.results.v1', partitions: WORKFLOW_PARTITIONS, key: 'requestId', messages: [Messages.RequestAnswered] }),
  /** Knowledge-base documents to ingest (batch lane); key = tenantId:docId. */
  ingest: defineTopic({ name: 'flotilla.ingest.v1', partitions: WORKFLOW_PARTITIONS, key: 'tenantId:docId', messages: [Messages.IngestDocument] }),
  /** Ingestion progress, one report per document version; key = tenantId:docId. */
  ingestStatus: defineTopic({ name: 'flotilla.ingest-status.v1', partitions: WORKFLOW_PARTITIONS, key: 'tenantId:docId', messages: [Messages.DocumentIngestionReported] }),
  /** Messages that could not be processed, with the reason; for human review and replay. */
  deadLetters: defineTopic({ name: 'flotilla.dlq.v1', partitions: 1, key: 'source topic', messages: [Messages.DeadLetterRecorded] }),
} as const;

/**
 * Delay topics: a message that must not be delivered before a time (a retry's backoff, a timer)
 * waits in the tier with the longest delay not past its due time; the forwarder holds each tier's
 * head until min(due, written + tier delay), so within a tier messages come due in order, and a
 * message with time left over moves down to a shorter tier. They carry any message opaquely: the
 * target topic and due time travel in headers (DelayHeaders).
 */
export const DELAY_TIERS = [
  { name: 'flotilla.delay.1s.v1', delayMs: 1_000 },
  { name: 'flotilla.delay.5s.v1', delayMs: 5_000 },
  { name: 'flotilla.delay.30s.v1', delayMs: 30_000 },
  { name: 'flotilla.delay.5m.v1', delayMs: 300_000 },
] as const;
/**
 * The batch lane's delay tiers: a message marked `flotilla-lane: batch` (the retries and timers of
 * batch workflows) waits here, forwarded by a consumer group of its own that commits in the batch
 * lane — so a backlog's thousands of timers never queue in front of a chat's (ADR 0013).
 */
export const BATCH_DELAY_TIERS = [
  { name: 'flotilla.delay.batch.1s.v1', delayMs: 1_000 },
  { name: 'flotilla.delay.batch.5s.v1', delayMs: 5_000 },
  { name: 'flotilla.delay.batch.30s.v1', delayMs: 30_000 },
  { name: 'flotilla.delay.batch.5m.v1', delayMs: 300_000 },
] as const;
export type DelayTier = (typeof DELAY_TIERS)[number] | (typeof BATCH_DELAY_TIERS)[number];
export const DELAY_TIERS_OF = { interactive: DELAY_TIERS, batch: BATCH_DELAY_TIERS } as const satisfies Record<Lane, readonly DelayTier[]>;
export const ALL_DELAY_TIERS: readonly DelayTier[] = [...DELAY_TIERS, ...BATCH_DELAY_TIERS];
export const DELAY_PARTITIONS = WORKFLOW_PARTITIONS;

export type IntakeMessage = TopicMessage<typeof Topics.intake>;
export type WorkflowEvent = TopicMessage<typeof Topics.workflowEvents>;
export type StepResultMessage = TopicMessage<typeof Topics.stepResults>;
export type ExecuteStepMessage = TopicMessage<typeof Topics.plannerTasks>;
export type AnswerTokenMessage = TopicMessage<typeof Topics.answerStream>;
export type RequestAnsweredMessage = TopicMessage<typeof Topics.results>;
export type DeadLetterMessage = TopicMessage<typeof Topics.deadLetters>;
export type IngestMessage = TopicMessage<typeof Topics.ingest>;
export type IngestStatusMessage = TopicMessage<typeof Topics.ingestStatus>;

/** The task topics of each agent, per lane. */
export const TASK_TOPICS = {
  planner: { interactive: Topics.plannerTasks, batch: Topics.plannerBatchTasks },
  retriever: { interactive: Topics.retrieverTasks, batch: Topics.retrieverBatchTasks },
  tool: { interactive: Topics.toolTasks, batch: Topics.toolBatchTasks },
  validator: { interactive: Topics.validatorTasks, batch: Topics.validatorBatchTasks },
} as const satisfies Record<Agent, Record<Lane, unknown>>;

/** The step-results topic of each lane. */
export const STEP_RESULT_TOPICS = { interactive: Topics.stepResults, batch: Topics.batchStepResults } as const satisfies Record<Lane, unknown>;

export type WorkflowCommandMessage = TopicMessage<typeof Topics.workflowCommands>;
export type BatchWorkflowCommandMessage = TopicMessage<typeof Topics.batchWorkflowCommands>;

export const ALL_TOPICS = Object.values(Topics);

/**
 * The coordinator's consumer groups, named once: the coordinator consumes with them and the
 * gateway measures their lag (backpressure).
 */
export const ConsumerGroups = {
  /** Chat requests, the interactive lane's step results and workflow commands. */
  coordinator: 'flotilla-coordinator',
  /** The batch intake topics (public intake, REST), admitted at a bounded concurrency, and the batch lane's step results. */
  coordinatorBatch: 'flotilla-coordinator-batch',
} as const;
