import { Body, Controller, Get, Headers, HttpCode, Inject, NotFoundException, Param, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiAcceptedResponse, ApiBadRequestResponse, ApiHeader, ApiTooManyRequestsResponse, ApiNotFoundResponse, ApiOkResponse, ApiPayloadTooLargeResponse, ApiTags } from '@nestjs/swagger';
import { WorkflowViewStore } from '@flotilla/memory';
import { Admission, TenantOverBudget } from './admission';
import { SubmitWorkflowAccepted, SubmitWorkflowBody } from './dto';
import { validationFailed } from './http';
import { Submissions } from './submissions';
import { VIEW_STORE } from './tokens';
import { toWorkflowView, WorkflowView } from './workflow-view';

const TENANT = /^[A-Za-z0-9_.:-]{1,128}$/;
export const DEFAULT_TENANT = 'public';

/** Until authentication lands, the tenant comes from `X-Tenant-Id` (default `public`). */
export function tenantFrom(header: string | undefined): string {
  if (header === undefined || header === '') return DEFAULT_TENANT;
  if (!TENANT.test(header)) throw validationFailed([{ field: 'x-tenant-id', reasons: ['must be 1-128 characters of letters, digits, _ . : -'] }]);
  return header;
}

@ApiTags('usage')
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly admission: Admission) {}

  @Get()
  @ApiOkResponse({ description: 'The tenant\'s model tokens used today (UTC) and its daily budget (0 = unlimited).' })
  async usage(@Headers('x-tenant-id') tenantHeader?: string): Promise<{ tenantId: string; tokensToday: number; dailyLimit: number }> {
    return this.admission.usage(tenantFrom(tenantHeader));
  }
}

@ApiTags('workflows')
@ApiHeader({ name: 'X-Tenant-Id', required: false, description: 'Tenant (default "public"); replaced by the credential\'s tenant when authentication lands.' })
@Controller('v1/workflows')
export class WorkflowsController {
  constructor(
    private readonly submissions: Submissions,
    private readonly admission: Admission,
    @Inject(VIEW_STORE) private readonly views: WorkflowViewStore,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiAcceptedResponse({ type: SubmitWorkflowAccepted, description: 'Accepted; poll GET /v1/workflows/{id} or read the results topic.' })
  @ApiBadRequestResponse({ description: 'Validation failed; `fields` lists each field and why.' })
  @ApiPayloadTooLargeResponse({ description: 'Body larger than MAX_REQUEST_BYTES.' })
  @ApiTooManyRequestsResponse({ description: 'The tenant is over its daily token budget; Retry-After says when it resets.' })
  async submit(@Body() body: SubmitWorkflowBody, @Res({ passthrough: true }) res: Response, @Headers('x-tenant-id') tenantHeader?: string): Promise<SubmitWorkflowAccepted> {
    const tenantId = tenantFrom(tenantHeader);
    try {
      await this.admission.admit(tenantId);
    } catch (err) {
      if (err instanceof TenantOverBudget) res.setHeader('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
      throw err;
    }
    const { workflowId, requestId } = await this.submissions.submit({ tenantId, question: body.question, requestId: body.requestId, sessionId: body.sessionId, userId: body.userId, callbackUrl: body.callbackUrl, channel: 'api' });
    return { workflowId, requestId, status: 'accepted', location: `/v1/workflows/${workflowId}` };
  }

  @Get(':id')
  @ApiOkResponse({ description: 'The workflow state (a fold of its events) and its full event history.' })
  @ApiNotFoundResponse({ description: 'No such workflow for this tenant.' })
  async get(@Param('id') id: string, @Headers('x-tenant-id') tenantHeader?: string): Promise<WorkflowView> {
    const tenantId = tenantFrom(tenantHeader);
    const loaded = TENANT.test(id) ? await this.views.load(id, tenantId) : null;
    if (!loaded) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no workflow ${id}` });
    return toWorkflowView(id, tenantId, loaded);
  }
}
