import { Body, ConflictException, Controller, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiConflictResponse, ApiNotFoundResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsBoolean } from 'class-validator';
import { Principal } from '@flotilla/auth';
import { CurrentPrincipal, RequireRoles } from './auth.guard';
import { ConfirmationRefused, Confirmations } from './confirmations';

export class ConfirmStepBody {
  @ApiProperty({ description: 'true: do it; false: do not (the workflow ends saying nothing was done).' })
  @IsBoolean()
  approve!: boolean;
}

export class ConfirmStepAccepted {
  @ApiProperty() workflowId!: string;
  @ApiProperty({ description: 'The step that was waiting.' }) stepId!: string;
  @ApiProperty() approve!: boolean;
  @ApiProperty({ enum: ['confirming', 'declining'] }) status!: 'confirming' | 'declining';
  @ApiProperty({ example: 'Refund $5.00 on order 1001 (reason: requested by the customer)' }) summary!: string;
}

/**
 * `POST /v1/workflows/{id}/confirm` — the user's answer to a side-effecting step waiting for their
 * confirmation (a refund): `{ "approve": true }` lets it run, `false` ends the workflow with nothing
 * done. Mirrors cancellation: a `ConfirmStep` command on the workflow's partition of the commands
 * topic, decided by the coordinator. The chat's `confirm` frame takes the same path (Confirmations).
 */
@ApiTags('workflows')
@ApiBearerAuth()
@Controller('v1/workflows')
export class ConfirmController {
  constructor(private readonly confirmations: Confirmations) {}

  @Post(':id/confirm')
  @HttpCode(202)
  @RequireRoles('workflows:write')
  @ApiAcceptedResponse({ type: ConfirmStepAccepted, description: 'The answer is on its way; the stream (or GET the workflow) shows what follows.' })
  @ApiNotFoundResponse({ description: 'No such workflow for this tenant (or, for a signed-in user, not theirs).' })
  @ApiConflictResponse({ description: 'The workflow is not waiting for a confirmation (`NOT_AWAITING_CONFIRMATION`), or it was answered already (`ALREADY_ANSWERED`).' })
  async confirm(@Param('id') id: string, @Body() body: ConfirmStepBody, @CurrentPrincipal() principal: Principal): Promise<ConfirmStepAccepted> {
    try {
      return await this.confirmations.answer(principal, principal.tenantId, id, body.approve);
    } catch (err) {
      if (!(err instanceof ConfirmationRefused)) throw err;
      switch (err.code) {
        case 'NOT_FOUND':
          throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: err.message });
        case 'NOT_AWAITING_CONFIRMATION':
        case 'ALREADY_ANSWERED':
          throw new ConflictException({ statusCode: 409, error: 'Conflict', code: err.code, message: err.message, status: err.status });
      }
    }
  }
}
