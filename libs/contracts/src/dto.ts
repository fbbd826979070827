import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsISO8601, IsNotEmpty, IsObject, IsOptional, IsString, IsUrl, Matches,
  Max, MaxLength, Min, ValidateNested,
} from 'class-validator';

/** Identifiers that travel as Kafka keys and in URLs. */
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const ID_MESSAGE = 'must be 1-128 characters of letters, digits, _ . : -';

export const MAX_QUESTION_LENGTH = 4000;

/** Where a request came from: a chat session, the REST API, or an intake-topic publisher. */
export const CHANNELS = ['chat', 'api', 'intake'] as const;
export type Channel = (typeof CHANNELS)[number];

/** `SubmitRequest` v1 — the public intake contract (documented in README "Intake topic"). */
export class SubmitRequestV1 {
  @Matches(ID, { message: `requestId ${ID_MESSAGE}` })
  requestId!: string;

  @Matches(ID, { message: `tenantId ${ID_MESSAGE}` })
  tenantId!: string;

  @IsString() @IsNotEmpty() @MaxLength(MAX_QUESTION_LENGTH)
  question!: string;

  @IsOptional() @Matches(ID, { message: `sessionId ${ID_MESSAGE}` })
  sessionId?: string;

  @IsOptional() @Matches(ID, { message: `userId ${ID_MESSAGE}` })
  userId?: string;

  @IsOptional() @IsIn(CHANNELS)
  channel?: Channel;

  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  callbackUrl?: string;

  /** The workflow's deadline, from acceptance: past it the workflow fails with DEADLINE_EXCEEDED. */
  @IsOptional() @IsInt() @Min(1_000) @Max(86_400_000)
  timeoutMs?: number;
}

/** Work lanes: chat is interactive; intake and ingestion are batch. */
export const LANES = ['interactive', 'batch'] as const;
export type Lane = (typeof LANES)[number];
export const laneOf = (channel: Channel): Lane => (channel === 'chat' ? 'interactive' : 'batch');

/** The kinds of step a plan can contain, and the agent that serves each. */
export const STEP_KINDS = ['plan', 'tool', 'retrieve', 'compose', 'validate'] as const;
export type StepKind = (typeof STEP_KINDS)[number];
export const AGENTS = ['planner', 'retriever', 'tool', 'validator'] as const;
export type Agent = (typeof AGENTS)[number];
export function agentFor(kind: StepKind): Agent {
  switch (kind) {
    case 'plan':
    case 'compose':
      return 'planner';
    case 'retrieve':
      return 'retriever';
    case 'tool':
      return 'tool';
    case 'validate':
      return 'validator';
  }
}

/** One node of a plan DAG. `input` values may reference earlier outputs as `${steps.<id>.<path>}`. */
export class PlanStepV1 {
  @Matches(/^[a-z0-9-]{1,64}$/, { message: 'id must be 1-64 characters of a-z, 0-9, -' })
  id!: string;

  @IsIn(STEP_KINDS)
  kind!: StepKind;

  @IsObject()
  input!: Record<string, unknown>;

  @IsArray() @ArrayMaxSize(32) @IsString({ each: true })
  dependsOn!: string[];
}

/** What the workflow knows when a step runs: the question, the intent and its dependencies' outputs. */
export class StepContextV1 {
  @IsString() @MaxLength(MAX_QUESTION_LENGTH)
  question!: string;

  @IsOptional() @IsObject()
  intent?: Record<string, unknown>;

  @IsObject()
  dependencies!: Record<string, unknown>;

  /** Pinned at workflow start so a deploy mid-flight does not change running workflows. */
  @IsObject()
  pins!: Record<string, string>;

  @IsISO8601()
  startedAt!: string;

  /** Interactive (chat) work is served before batch work when capacity is short. */
  @IsOptional() @IsIn(LANES)
  lane?: Lane;

  @IsOptional() @Matches(ID)
  sessionId?: string;

  @IsOptional() @Matches(ID)
  userId?: string;
}

/**
 * Who approved a side-effecting step, and when. The tool agent runs a side-effecting tool only for a
 * task that carries one, so no path — a planner bug, a hand-written task — changes state unasked.
 */
export class StepConfirmationV1 {
  @IsOptional() @IsString() @MaxLength(200) confirmedBy?: string;
  @IsISO8601() confirmedAt!: string;
}

/** `ExecuteStep` v1 — the coordinator tells an agent to run one step. */
export class ExecuteStepV1 {
  @Matches(ID) workflowId!: string;
  @Matches(ID) tenantId!: string;
  @Matches(/^[a-z0-9-]{1,64}$/) stepId!: string;
  @Matches(ID) taskId!: string;
  @IsInt() @Min(1) attempt!: number;
  @IsIn(STEP_KINDS) kind!: StepKind;
  @IsObject() input!: Record<string, unknown>;
  @ValidateNested() @Type(() => StepContextV1) context!: StepContextV1;
  /**
   * When this attempt times out. Past it the agent stops waiting for the execution and reports
   * STEP_TIMEOUT (retryable), so a hung call never holds its partition longer than the step may take.
   */
  @IsOptional() @IsISO8601() deadline?: string;
  /** The user's approval of a side-effecting step (see StepConfirmationV1). */
  @IsOptional() @ValidateNested() @Type(() => StepConfirmationV1) confirmation?: StepConfirmationV1;
}

export class TokenUsageV1 {
  @IsInt() @Min(0) promptTokens!: number;
  @IsInt() @Min(0) completionTokens!: number;
  /** Cost in USD at the configured prices (0 for the local model and cache hits). */
  @IsOptional() @Min(0) costUsd?: number;
  /** Model calls behind this step, and how many were answered from the response cache. */
  @IsOptional() @IsInt() @Min(0) calls?: number;
  @IsOptional() @IsInt() @Min(0) cachedCalls?: number;
}

/** Which model produced an output; `local` is the built-in deterministic model, not an LLM. */
export class ModelInfoV1 {
  @IsIn(['openai', 'local']) provider!: 'openai' | 'local';
  @IsString() model!: string;
  @IsString() label!: string;
}

/** `StepSucceeded` v1 — an agent reports a step's output. */
export class StepSucceededV1 {
  @Matches(ID) workflowId!: string;
  @Matches(/^[a-z0-9-]{1,64}$/) stepId!: string;
  @Matches(ID) taskId!: string;
  @IsInt() @Min(1) attempt!: number;
  @IsObject() output!: Record<string, unknown>;
  @IsOptional() @ValidateNested() @Type(() => ModelInfoV1) model?: ModelInfoV1;
  @IsOptional() @ValidateNested() @Type(() => TokenUsageV1) usage?: TokenUsageV1;
}

export class StepErrorV1 {
  @IsString() code!: string;
  @IsString() @MaxLength(2000) message!: string;
  @IsBoolean() retryable!: boolean;
}

/** `StepErrored` v1 — an agent reports that a step failed, and whether a retry can help. */
export class StepErroredV1 {
  @Matches(ID) workflowId!: string;
  @Matches(/^[a-z0-9-]{1,64}$/) stepId!: string;
  @Matches(ID) taskId!: string;
  @IsInt() @Min(1) attempt!: number;
  @ValidateNested() @Type(() => StepErrorV1) error!: StepErrorV1;
}

/** `AnswerTokenStreamed` v1 — a piece of an answer being composed, in order by `seq`. */
export class AnswerTokenStreamedV1 {
  @Matches(ID) workflowId!: string;
  @Matches(ID) taskId!: string;
  @IsInt() @Min(0) seq!: number;
  @IsString() text!: string;
}

export class SourceV1 {
  @IsString() id!: string;
  @IsString() title!: string;
  @IsOptional() @IsString() uri?: string;
}

/** `RequestAnswered` v1 — published on the results topic when a workflow ends either way. */
export class RequestAnsweredV1 {
  @Matches(ID) requestId!: string;
  @Matches(ID) workflowId!: string;
  @Matches(ID) tenantId!: string;
  @IsIn(['completed', 'failed', 'cancelled']) status!: 'completed' | 'failed' | 'cancelled';
  @IsOptional() @IsString() answer?: string;
  @IsArray() @ValidateNested({ each: true }) @Type(() => SourceV1) sources!: SourceV1[];
  @IsOptional() @IsString() error?: string;
  @IsISO8601() completedAt!: string;
}

/** `DeadLetterRecorded` v1 — a message that could not be processed, with why, for human review. */
export class DeadLetterRecordedV1 {
  @IsString() sourceTopic!: string;
  @IsInt() partition!: number;
  @IsString() offset!: string;
  @IsOptional() @IsString() key?: string | null;
  @IsObject() headers!: Record<string, string>;
  /** The original payload as UTF-8 text when it is text, else base64. */
  @IsString() payload!: string;
  @IsIn(['utf8', 'base64']) payloadEncoding!: 'utf8' | 'base64';
  @IsString() reason!: string;
  @IsString() errorCode!: string;
  @IsInt() @Min(1) attempts!: number;
  @IsString() consumerGroup!: string;
  @IsOptional() @IsString() workflowId?: string;
  @IsISO8601() recordedAt!: string;
}

/** `IngestDocument` v1 — add or replace a knowledge-base document (batch lane). */
export class IngestDocumentV1 {
  @Matches(ID) tenantId!: string;
  @Matches(ID) docId!: string;
  @IsInt() @Min(1) version!: number;
  @IsString() @IsNotEmpty() @MaxLength(500) title!: string;
  @IsString() @IsNotEmpty() @MaxLength(200_000) text!: string;
  @IsOptional() @IsString() @MaxLength(2000) uri?: string;
}

/** `DocumentIngestionReported` v1 — what became of an `IngestDocument`. */
export class DocumentIngestionReportedV1 {
  @Matches(ID) tenantId!: string;
  @Matches(ID) docId!: string;
  @IsInt() @Min(1) version!: number;
  @IsIn(['ingested', 'skipped', 'failed']) status!: 'ingested' | 'skipped' | 'failed';
  @IsInt() @Min(0) chunks!: number;
  @IsOptional() @IsString() reason?: string;
  @IsISO8601() reportedAt!: string;
}

/** `CancelWorkflow` v1 — stop a running workflow (the gateway's cancel API publishes it). */
export class CancelWorkflowV1 {
  @Matches(ID) workflowId!: string;
  @Matches(ID) tenantId!: string;
  @IsOptional() @IsString() @MaxLength(500) reason?: string;
  /** Who asked: a user or service account id, for the event log and the audit trail. */
  @IsOptional() @IsString() @MaxLength(200) requestedBy?: string;
  @IsISO8601() requestedAt!: string;
}

/**
 * `ConfirmStep` v1 — the user's answer to a step awaiting confirmation (the gateway's confirm API and
 * the chat `confirm` frame publish it). Only the first answer counts; later ones decide nothing.
 */
export class ConfirmStepV1 {
  @Matches(ID) workflowId!: string;
  @Matches(ID) tenantId!: string;
  @Matches(/^[a-z0-9-]{1,64}$/) stepId!: string;
  @IsBoolean() approve!: boolean;
  /** Who answered: a user or service account id, for the event log and the audit trail. */
  @IsOptional() @IsString() @MaxLength(200) requestedBy?: string;
  @IsISO8601() requestedAt!: string;
}

export const TIMERS = ['step-timeout', 'deadline', 'confirmation'] as const;
export type TimerKind = (typeof TIMERS)[number];

/**
 * `WorkflowTimerElapsed` v1 — a timer the coordinator set (through a delay topic) is due: a step's
 * time to answer ran out, the workflow's deadline passed, or a confirmation was not answered in
 * time (`confirmation`, with the awaiting `stepId`). Stale timers decide nothing.
 */
export class WorkflowTimerElapsedV1 {
  @Matches(ID) workflowId!: string;
  @IsIn(TIMERS) timer!: TimerKind;
  @IsOptional() @Matches(/^[a-z0-9-]{1,64}$/) stepId?: string;
  @IsOptional() @Matches(ID) taskId?: string;
  @IsISO8601() dueAt!: string;
}
