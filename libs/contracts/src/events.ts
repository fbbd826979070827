import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsIn, IsInt, IsISO8601, IsObject, IsOptional, IsString, Matches, Min, ValidateNested } from 'class-validator';
import { CHANNELS, Channel, ModelInfoV1, PlanStepV1, SourceV1, STEP_KINDS, StepConfirmationV1, StepErrorV1, StepKind, TokenUsageV1 } from './dto';

/*
 * Workflow events: past tense, appended only by the coordinator to the workflow-events topic keyed by
 * workflow id. A workflow's state is a pure fold of these (libs/workflow `evolve`).
 */
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const STEP_ID = /^[a-z0-9-]{1,64}$/;

export class WorkflowStartedV1 {
  @Matches(ID) workflowId!: string;
  @Matches(ID) requestId!: string;
  @Matches(ID) tenantId!: string;
  @IsString() question!: string;
  @IsOptional() @Matches(ID) sessionId?: string;
  @IsOptional() @Matches(ID) userId?: string;
  @IsIn(CHANNELS) channel!: Channel;
  @IsOptional() @IsString() callbackUrl?: string;
  /** Plan, prompt and model versions fixed for the workflow's whole life. */
  @IsObject() pins!: Record<string, string>;
  @IsISO8601() startedAt!: string;
  /** When the workflow fails with DEADLINE_EXCEEDED if it has not ended. */
  @IsOptional() @IsISO8601() deadline?: string;
}

export class StepScheduledV1 {
  @Matches(STEP_ID) stepId!: string;
  @Matches(ID) taskId!: string;
  @IsInt() @Min(1) attempt!: number;
  @IsIn(STEP_KINDS) kind!: StepKind;
  @IsObject() input!: Record<string, unknown>;
  @IsArray() @IsString({ each: true }) dependsOn!: string[];
  /** A retry waits out its backoff: the task is dispatched (through a delay topic) at this time. */
  @IsOptional() @IsISO8601() notBefore?: string;
  /** How long the agent has to report, from dispatch, before the attempt counts as timed out. */
  @IsOptional() @IsInt() @Min(1) timeoutMs?: number;
  /** A side-effecting step runs only with the confirmation the user gave (every attempt carries it). */
  @IsOptional() @ValidateNested() @Type(() => StepConfirmationV1) confirmation?: StepConfirmationV1;
}

export class PlanAcceptedV1 {
  @IsObject() intent!: Record<string, unknown>;
  @IsString() planVersion!: string;
  @IsArray() @ValidateNested({ each: true }) @Type(() => PlanStepV1) steps!: PlanStepV1[];
  /** Why the planner's plan was replaced by the safe plan, when it was. */
  @IsOptional() @IsString() replacedBecause?: string;
}

export class StepCompletedV1 {
  @Matches(STEP_ID) stepId!: string;
  @Matches(ID) taskId!: string;
  @IsInt() @Min(1) attempt!: number;
  @IsObject() output!: Record<string, unknown>;
  @IsOptional() @ValidateNested() @Type(() => ModelInfoV1) model?: ModelInfoV1;
  @IsOptional() @ValidateNested() @Type(() => TokenUsageV1) usage?: TokenUsageV1;
}

export class StepFailedV1 {
  @Matches(STEP_ID) stepId!: string;
  @Matches(ID) taskId!: string;
  @IsInt() @Min(1) attempt!: number;
  @ValidateNested() @Type(() => StepErrorV1) error!: StepErrorV1;
  @IsBoolean() willRetry!: boolean;
}

export class WorkflowCompletedV1 {
  @IsString() answer!: string;
  @IsArray() @ValidateNested({ each: true }) @Type(() => SourceV1) sources!: SourceV1[];
  /** Whether the validator approved the answer, or a safe answer replaced a rejected one. */
  @IsBoolean() validated!: boolean;
  @IsOptional() @ValidateNested() @Type(() => ModelInfoV1) model?: ModelInfoV1;
  @IsISO8601() completedAt!: string;
}

export class WorkflowFailedV1 {
  @IsString() code!: string;
  @IsString() reason!: string;
  @IsISO8601() failedAt!: string;
}

/** The validator rejected the composed answer; the planner is asked to revise it. */
export class AnswerRevisionRequestedV1 {
  @IsInt() @Min(1) revision!: number;
  @IsArray() @IsString({ each: true }) reasons!: string[];
}

/** The workflow was cancelled through the API; in-flight results are ignored from here on. */
export class WorkflowCancelledV1 {
  @IsOptional() @IsString() reason?: string;
  @IsOptional() @IsString() requestedBy?: string;
  @IsISO8601() cancelledAt!: string;
}

/**
 * A side-effecting step is ready but waits for the user: exactly what would be done, shown to them
 * before anything happens. Nothing is dispatched until `ConfirmationGiven`; `ConfirmationDeclined`
 * or `ConfirmationExpired` ends the workflow with nothing done.
 */
export class StepAwaitingConfirmationV1 {
  @Matches(STEP_ID) stepId!: string;
  /** The tool that would run, and its arguments as they would be sent (references resolved). */
  @IsString() tool!: string;
  @IsObject() args!: Record<string, unknown>;
  /** The action in one sentence, for the question put to the user ("Refund $5.00 on order 1001"). */
  @IsString() summary!: string;
  @IsISO8601() requestedAt!: string;
  /** Past this without an answer the workflow ends as expired, nothing done. */
  @IsISO8601() expiresAt!: string;
}

/** The user approved the awaited step; it is scheduled with this confirmation. */
export class ConfirmationGivenV1 {
  @Matches(STEP_ID) stepId!: string;
  @IsOptional() @IsString() confirmedBy?: string;
  @IsISO8601() confirmedAt!: string;
}

/** The user declined the awaited step: it never runs, and the workflow ends saying nothing was done. */
export class ConfirmationDeclinedV1 {
  @Matches(STEP_ID) stepId!: string;
  @IsOptional() @IsString() declinedBy?: string;
  @IsISO8601() declinedAt!: string;
}

/** No answer came before `expiresAt`: the step never runs, and the workflow ends as expired. */
export class ConfirmationExpiredV1 {
  @Matches(STEP_ID) stepId!: string;
  @IsISO8601() expiredAt!: string;
}
