import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';

/** Edit-and-retry: the corrected message to publish in place of the dead-lettered one. */
export class RetryDeadLetterBody {
  @ApiProperty({ description: 'The corrected message, as the text to publish on the source topic (e.g. a SubmitRequest envelope as JSON).' })
  @IsString() @IsNotEmpty() @MaxLength(1_000_000)
  payload!: string;
}

export class DiscardDeadLetterBody {
  @ApiProperty({ description: 'Why the message is discarded; kept in the audit log.' })
  @IsString() @IsNotEmpty() @MaxLength(2000)
  reason!: string;
}
