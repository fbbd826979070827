import { Body, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import {
  ApiAcceptedResponse, ApiBadRequestResponse, ApiBearerAuth, ApiForbiddenResponse, ApiHeader, ApiTooManyRequestsResponse, ApiNotFoundResponse, ApiOkResponse,
  ApiPayloadTooLargeResponse, ApiServiceUnavailableResponse, ApiTags, ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Principal } from '@flotilla/auth';
import { WorkflowViewStore } from '@flotilla/memory';
import { Admission, TenantOverBudget } from './admission';
import { ForbiddenError } from './auth-errors';
import { CurrentPrincipal, RequireRoles } from './auth.guard';
import { RateLimited, RateLimiter } from './rate-limiter';
import { BatchBackpressureGuard } from './backpressure';
import { SubmitWorkflowAccepted, SubmitWorkflowBody } from './dto';
import { validationFailed } from './http';
import { ProjectionLag } from './projection-lag';
import { Submissions } from './submissions';
import { VIEW_STORE } from './tokens';
import { toWorkflowView, WorkflowView } from './workflow-view';

const TENANT = /^[A-Za-z0-9_.:-]{1,128}$/;
export const DEFAULT_TENANT = 'public';

/**
 * The tenant an `X-Tenant-Id` header names (default `public`). Controllers take the tenant from the
 * request's principal instead (the AuthGuard overwrites this header with the credential's tenant);
 * kept for code that still reads the header.
 */
export function tenantFrom(header: string | undefined): string {
  if (header === undefined || header === '') return DEFAULT_TENANT;
  if (!TENANT.test(header)) throw validationFailed([{ field: 'x-tenant-id', reasons: ['must be 1-128 characters of letters, digits, _ . : -'] }]);
  return header;
}

/**
 * The user a request acts for. A signed-in user (JWT) acts only as themself: naming another user is
 * refused (403). A service account (API key) acts for the end user it names — it is the tenant's
 * own backend — and an anonymous development request for whoever it names.
 */
export function actingUser(principal: Principal, named: string | undefined): string | undefined {
  if (principal.via !== 'jwt') return named;
  if (named !== undefined && named !== principal.userId) throw new ForbiddenError('a signed-in user can only act as themself', 'user');
  return principal.userId;
}

@ApiTags('usage')
@ApiBearerAuth()
@RequireRoles('workflows:read')
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly admission: Admission) {}

  @Get()
  @ApiOkResponse({ description: 'The tenant\'s model tokens used today (UTC) and its daily budget (0 = unlimited).' })
  async usage(@CurrentPrincipal() principal: Principal): Promise<{ tenantId: string; tokensToday: number; dailyLimit: number }> {
    return this.admission.usage(principal.tenantId);
  }
}

@ApiTags('workflows')
@ApiBearerAuth()
@ApiHeader({ name: 'X-Tenant-Id', required: false, description: 'Only without a credential, with AUTH_REQUIRED off (development): the tenant (default "public"). With a credential the tenant is the credential\'s; a different X-Tenant-Id is refused with 403.' })
@ApiUnauthorizedResponse({ description: 'No or invalid credential (see WWW-Authenticate).' })
@ApiForbiddenResponse({ description: 'The credential lacks the role, or names another tenant or user.' })
@Controller('v1/workflows')
export class WorkflowsController {
  constructor(
    private readonly submissions: Submissions,
    private readonly admission: Admission,
    private readonly limits: RateLimiter,
    @Inject(VIEW_STORE) private readonly views: WorkflowViewStore,
    private readonly lag: ProjectionLag,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiAcceptedResponse({ type: SubmitWorkflowAccepted, description: 'Accepted; poll GET /v1/workflows/{id} or read the results topic.' })
  @ApiBadRequestResponse({ description: 'Validation failed; `fields` lists each field and why.' })
  @ApiPayloadTooLargeResponse({ description: 'Body larger than MAX_REQUEST_BYTES.' })
  @ApiTooManyRequestsResponse({ description: 'Over the per-user or per-tenant rate limit (`code: RATE_LIMITED`) or the tenant\'s daily token budget (`TENANT_TOKEN_BUDGET`); Retry-After says when to try again.' })
  @RequireRoles('workflows:write')
  @UseGuards(BatchBackpressureGuard)
  @ApiServiceUnavailableResponse({ description: 'The batch lane is backed up past BACKPRESSURE_BATCH_LAG (`code: BATCH_LANE_SATURATED`); Retry-After says when to try again. Chat is not affected.' })
  async submit(@Body() body: SubmitWorkflowBody, @Res({ passthrough: true }) res: Response, @CurrentPrincipal() principal: Principal): Promise<SubmitWorkflowAccepted> {
    const tenantId = principal.tenantId;
    const userId = actingUser(principal, body.userId);
    try {
      await this.limits.admit(principal, userId);
      await this.admission.admit(tenantId);
    } catch (err) {
      if (err instanceof TenantOverBudget) res.setHeader('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
      if (err instanceof RateLimited) res.setHeader('Retry-After', String(err.retryAfterSeconds));
      throw err;
    }
    const { workflowId, requestId } = await this.submissions.submit({
      tenantId, question: body.question, requestId: body.requestId, sessionId: body.sessionId, userId, callbackUrl: body.callbackUrl, timeoutMs: body.timeoutMs, channel: 'api', actor: principal.subject,
    });
    return { workflowId, requestId, status: 'accepted', location: `/v1/workflows/${workflowId}` };
  }

  @Get(':id')
  @ApiOkResponse({ description: 'The workflow state (a fold of its events), its full event history, and how current the view is (`projection`: the read model trails the log under load; a status that is not final may have moved on unless `projection.state` is `current`).' })
  @ApiNotFoundResponse({ description: 'No such workflow for this tenant.' })
  @RequireRoles('workflows:read')
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<WorkflowView> {
    const tenantId = principal.tenantId;
    if (!TENANT.test(id)) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no workflow ${id}` });
    // The lag first, the view after it: what was applied by `measuredAt` is in the view read later,
    // so `current` means "every event logged by measuredAt is shown" — never a stale view called current.
    const projection = await this.lag.of(id);
    const loaded = await this.views.load(id, tenantId);
    if (!loaded) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no workflow ${id}` });
    return toWorkflowView(id, tenantId, loaded, projection);
  }
}
