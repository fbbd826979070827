import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsNotEmpty, IsOptional, IsString, IsUrl, Matches, MaxLength } from 'class-validator';
import { MAX_QUESTION_LENGTH } from '@flotilla/contracts';

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
