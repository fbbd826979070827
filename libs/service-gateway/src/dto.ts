import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, IsUrl, Matches, Max, MaxLength, Min } from 'class-validator';
import { MAX_QUESTION_LENGTH } from '@flotilla/contracts';
import { CURSOR_PATTERN } from './stream-merger';

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** `POST /v1/workflows` body. */
export class SubmitWorkflowBody {
  @ApiProperty({ example: 'Where is my order 1001 and can I get delivery by tomorrow?', maxLength: MAX_QUESTION_LENGTH })
  @IsString() @IsNotEmpty() @MaxLength(MAX_QUESTION_LENGTH)
  question!: string;

  @ApiPropertyOptional({ description: 'Your id for this request; resubmitting it returns the same workflow.' })
  @IsOptional() @Matches(ID, { message: 'requestId must be 1-128 characters of letters, digits, _ . : -' })
  requestId?: string;

  @ApiPropertyOptional()
  @IsOptional() @Matches(ID, { message: 'sessionId must be 1-128 characters of letters, digits, _ . : -' })
  sessionId?: string;

  @ApiPropertyOptional({ description: 'The end user, for preferences and personal-data checks (until authentication provides it).' })
  @IsOptional() @Matches(ID, { message: 'userId must be 1-128 characters of letters, digits, _ . : -' })
  userId?: string;

  @ApiPropertyOptional({ description: 'Called with the result when the workflow ends (reserved).' })
  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  callbackUrl?: string;

  @ApiPropertyOptional({ description: 'Deadline in ms from acceptance (1000–86400000; default WORKFLOW_DEADLINE_MS): past it the workflow fails with DEADLINE_EXCEEDED.' })
  @IsOptional() @IsInt() @Min(1000) @Max(86_400_000)
  timeoutMs?: number;
}

export class SubmitWorkflowAccepted {
  @ApiProperty() workflowId!: string;
  @ApiProperty() requestId!: string;
  @ApiProperty({ enum: ['accepted'] }) status!: 'accepted';
  @ApiProperty({ example: '/v1/workflows/wf_...' }) location!: string;
}

/** A WebSocket `ask` frame. */
export class AskFrame {
  @IsIn(['ask']) type!: 'ask';

  @IsString() @IsNotEmpty() @MaxLength(MAX_QUESTION_LENGTH)
  question!: string;

  @IsOptional() @Matches(ID, { message: 'requestId must be 1-128 characters of letters, digits, _ . : -' })
  requestId?: string;

  @IsOptional() @Matches(ID, { message: 'sessionId must be 1-128 characters of letters, digits, _ . : -' })
  sessionId?: string;

  @IsOptional() @Matches(ID, { message: 'userId must be 1-128 characters of letters, digits, _ . : -' })
  userId?: string;
}

/** A WebSocket `confirm` frame: the user's answer to the `confirmation` question of a workflow. */
export class ConfirmFrame {
  @IsIn(['confirm']) type!: 'confirm';

  @Matches(ID, { message: 'workflowId must be 1-128 characters of letters, digits, _ . : -' })
  workflowId!: string;

  /** true: do it; false: do not (the workflow ends saying nothing was done). */
  @IsBoolean()
  approve!: boolean;
}

/**
 * A WebSocket `resume` frame: send me the rest of this workflow's answer stream after `after` (the
 * `cursor` of the last `token`, `revision` or `answer` frame received; omitted: from the start).
 */
export class ResumeFrame {
  @IsIn(['resume']) type!: 'resume';

  @Matches(ID, { message: 'workflowId must be 1-128 characters of letters, digits, _ . : -' })
  workflowId!: string;

  @IsOptional() @Matches(CURSOR_PATTERN, { message: 'after must be a cursor from a frame: "<n>" or "<n>:<m>"' })
  after?: string;
}
