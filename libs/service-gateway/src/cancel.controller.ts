import { Body, ConflictException, Controller, HttpCode, Inject, NotFoundException, Param, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiConflictResponse, ApiNotFoundResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { Principal } from '@flotilla/auth';
import { Messages, Topics } from '@flotilla/contracts';
import { WorkflowViewStore } from '@flotilla/memory';
import { MessageBus, outgoing } from '@flotilla/messaging';
import { BUS } from '@flotilla/platform';
import { AuditTrail } from './audit-trail';
import { CurrentPrincipal, RequireRoles } from './auth.guard';
import { VIEW_STORE } from './tokens';
import { foldStored } from './workflow-view';

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export class CancelWorkflowBody {
  @ApiPropertyOptional({ description: 'Why, for the event log and the audit trail.', maxLength: 500 })
  @IsOptional() @IsString() @MaxLength(500)
  reason?: string;
}

export class CancelWorkflowAccepted {
  @ApiProperty() workflowId!: string;
  @ApiProperty({ enum: ['cancelling'] }) status!: 'cancelling';
}

/**
 * Cancellation: `POST /v1/workflows/{id}/cancel` puts a `CancelWorkflow` command on the workflow's
 * partition of the commands topic; the coordinator appends `WorkflowCancelled` (if it is still
 * running when the command arrives), publishes the `cancelled` result, and ignores the results of
 * steps still in flight. Idempotent: cancelling twice, or racing completion, changes nothing more.
 */
@ApiTags('workflows')
@ApiBearerAuth()
@Controller('v1/workflows')
export class CancelController {
  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(VIEW_STORE) private readonly views: WorkflowViewStore,
    private readonly audit: AuditTrail,
  ) {}

  @Post(':id/cancel')
  @HttpCode(202)
  @RequireRoles('workflows:write')
  @ApiAcceptedResponse({ type: CancelWorkflowAccepted, description: 'The cancellation is on its way; GET the workflow to see `cancelled`.' })
  @ApiNotFoundResponse({ description: 'No such workflow for this tenant.' })
  @ApiConflictResponse({ description: 'The workflow already ended (completed, failed or cancelled).' })
  async cancel(@Param('id') id: string, @Body() body: CancelWorkflowBody, @CurrentPrincipal() principal: Principal): Promise<CancelWorkflowAccepted> {
    const tenantId = principal.tenantId;
    const loaded = ID.test(id) ? await this.views.load(id, tenantId) : null;
    if (!loaded) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no workflow ${id}` });
    const status = foldStored(loaded.events).status;
    if (status === 'completed' || status === 'failed' || status === 'cancelled') {
      throw new ConflictException({ statusCode: 409, error: 'Conflict', code: 'WORKFLOW_ENDED', message: `workflow ${id} already ended: ${status}`, status });
    }
    const requestedBy = principal.subject;
    await this.bus.publish([outgoing(Topics.workflowCommands, Messages.CancelWorkflow, id, {
      workflowId: id, tenantId, reason: body.reason, requestedBy, requestedAt: new Date().toISOString(),
    }, { tenantId, workflowId: id })]);
    await this.audit.record({ tenantId, actor: requestedBy, action: 'workflow.cancel-requested', subject: id, details: { reason: body.reason ?? null } });
    return { workflowId: id, status: 'cancelling' };
  }
}
