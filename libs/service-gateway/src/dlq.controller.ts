import { Body, ConflictException, Controller, Get, Headers, HttpCode, Inject, NotFoundException, Param, Post, Query, ServiceUnavailableException } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiConflictResponse, ApiHeader, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { hasRole, Principal } from '@flotilla/auth';
import { createHash } from 'node:crypto';
import { createLogger } from '@flotilla/common';
import { ALL_TOPICS, decode, DeadLetterRecordedV1, MessageDef, TopicDef } from '@flotilla/contracts';
import { AuditRecord, DEAD_LETTER_STATUSES, DeadLetterEntry, DeadLetterResolution, DeadLetterStatus, DeadLetterStore } from '@flotilla/memory';
import { MessageBus, OutgoingMessage } from '@flotilla/messaging';
import { BUS } from '@flotilla/platform';
import { actorFrom, AuditTrail } from './audit-trail';
import { CurrentPrincipal, RequireRoles } from './auth.guard';
import { DiscardDeadLetterBody, RetryDeadLetterBody } from './dlq.dto';
import { validationFailed } from './http';
import { DEAD_LETTERS } from './review.tokens';
import { DEFAULT_TENANT } from './workflows.controller';

const log = createLogger({ service: 'gateway', component: 'dlq' });
const ID = /^[A-Za-z0-9_.:-]{1,300}$/;
const MAX_LIMIT = 200;
/** Marks a republished message with the dead-letter record it came from, for tracing a replay back. */
export const REPLAY_OF_HEADER = 'flotilla-dlq-replay-of';

/**
 * Which records a principal may see: its tenant's. Records whose poison message carried no tenant
 * header (tenant '') belong to no tenant: an `operator` sees them, and so does an anonymous
 * development request for the `public` tenant (AUTH_REQUIRED off), as before authentication.
 */
export function visibleTenants(principal: Principal): string[] {
  const tenantless = hasRole(principal, 'operator') || (principal.via === 'anonymous' && principal.tenantId === DEFAULT_TENANT);
  return tenantless ? [principal.tenantId, ''] : [principal.tenantId];
}

/** Who acts, for the audit log: the credential's subject; only anonymous development requests may name themselves with `X-Actor`. */
function actorOf(principal: Principal, header: string | undefined): string {
  return principal.via === 'anonymous' ? actorFrom(header) : principal.subject;
}

/** A dead-letter record as the API shows it: the decision, and everything needed to judge the message. */
export interface DeadLetterView extends DeadLetterRecordedV1 {
  id: string;
  tenantId: string;
  status: DeadLetterStatus;
  resolution?: DeadLetterResolution;
}

const toView = (e: DeadLetterEntry): DeadLetterView => ({ id: e.id, tenantId: e.tenantId, status: e.status, ...(e.resolution ? { resolution: e.resolution } : {}), ...e.data });

function parseQuery(status: string | undefined, limit: string | undefined): { status?: DeadLetterStatus; limit: number } {
  const fields: { field: string; reasons: string[] }[] = [];
  if (status !== undefined && !(DEAD_LETTER_STATUSES as readonly string[]).includes(status)) fields.push({ field: 'status', reasons: [`must be one of ${DEAD_LETTER_STATUSES.join(', ')}`] });
  const n = limit === undefined ? 50 : Number(limit);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) fields.push({ field: 'limit', reasons: [`must be an integer from 1 to ${MAX_LIMIT}`] });
  if (fields.length) throw validationFailed(fields);
  return { ...(status ? { status: status as DeadLetterStatus } : {}), limit: n };
}

const notFound = (id: string): NotFoundException => new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no dead-letter record ${id}` });
const notOpen = (e: DeadLetterEntry): ConflictException => new ConflictException({ statusCode: 409, error: 'Conflict', message: `dead-letter record ${e.id} is ${e.status}, not open`, status: e.status, resolution: e.resolution });

/**
 * The dead-letter review inbox: list and inspect messages that could not be processed, then replay
 * them as they were, retry them corrected, or discard them. Each record is acted on once; every
 * action is written to the audit log.
 */
@ApiTags('dead letters')
@ApiBearerAuth()
@ApiHeader({ name: 'X-Actor', required: false, description: 'Only without a credential (AUTH_REQUIRED off, development): who acts, recorded in the audit log (default "anonymous"). With a credential the actor is its subject.' })
@RequireRoles('dlq:admin')
@Controller('v1/dlq')
export class DeadLetterController {
  constructor(
    @Inject(DEAD_LETTERS) private readonly store: DeadLetterStore,
    @Inject(BUS) private readonly bus: MessageBus,
    private readonly audit: AuditTrail,
  ) {}

  @Get()
  @ApiOkResponse({ description: 'Dead-letter records of the tenant, newest first; `status` filters, `limit` is 1-200 (default 50).' })
  @ApiBadRequestResponse({ description: 'Bad status or limit.' })
  async list(@CurrentPrincipal() principal: Principal, @Query('status') status?: string, @Query('limit') limit?: string): Promise<{ items: DeadLetterView[] }> {
    const q = parseQuery(status, limit);
    const items = await this.store.list({ tenantIds: visibleTenants(principal), ...q });
    return { items: items.map(toView) };
  }

  @Get(':id')
  @ApiOkResponse({ description: 'The record (payload, headers, reason, errorCode, attempts, consumerGroup, source topic/partition/offset) and its audit history.' })
  @ApiNotFoundResponse({ description: 'No such record for this tenant.' })
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<DeadLetterView & { history: AuditRecord[] }> {
    const entry = await this.find(id, principal);
    return { ...toView(entry), history: await this.audit.history(id) };
  }

  @Post(':id/replay')
  @HttpCode(200)
  @ApiOkResponse({ description: 'The original payload and headers were republished on the source topic (same key); the record is `replayed`.' })
  @ApiNotFoundResponse({ description: 'No such record for this tenant.' })
  @ApiConflictResponse({ description: 'The record is not open (already replayed, retried or discarded).' })
  async replay(@Param('id') id: string, @CurrentPrincipal() principal: Principal, @Headers('x-actor') actorHeader?: string): Promise<DeadLetterView> {
    return this.act(id, principal, actorHeader, 'replayed', (e) => ({
      message: this.republish(e, e.data.payloadEncoding === 'base64' ? Buffer.from(e.data.payload, 'base64') : e.data.payload),
      details: { sourceTopic: e.data.sourceTopic, key: e.data.key ?? null },
    }));
  }

  @Post(':id/retry')
  @HttpCode(200)
  @ApiOkResponse({ description: 'The corrected payload was validated against the source topic\'s contract and published there (same key and headers); the record is `retried`.' })
  @ApiBadRequestResponse({ description: 'No payload, or a payload the source topic would reject; `fields` says why.' })
  @ApiNotFoundResponse({ description: 'No such record for this tenant.' })
  @ApiConflictResponse({ description: 'The record is not open.' })
  async retry(@Param('id') id: string, @Body() body: RetryDeadLetterBody, @CurrentPrincipal() principal: Principal, @Headers('x-actor') actorHeader?: string): Promise<DeadLetterView> {
    return this.act(id, principal, actorHeader, 'retried', (e) => {
      // Validate at the edge: a correction that would be dead-lettered again is refused now, with why.
      const topic = this.sourceTopic(e);
      const decoded = decode(topic, body.payload);
      if (!decoded.ok) throw validationFailed([{ field: 'payload', reasons: [decoded.error.message] }]);
      return {
        message: this.republish(e, body.payload),
        details: { sourceTopic: e.data.sourceTopic, key: e.data.key ?? null, payloadSha256: createHash('sha256').update(body.payload).digest('hex'), payloadBytes: Buffer.byteLength(body.payload) },
      };
    });
  }

  @Post(':id/discard')
  @HttpCode(200)
  @ApiOkResponse({ description: 'The record is `discarded`; nothing is published.' })
  @ApiBadRequestResponse({ description: 'No reason given.' })
  @ApiNotFoundResponse({ description: 'No such record for this tenant.' })
  @ApiConflictResponse({ description: 'The record is not open.' })
  async discard(@Param('id') id: string, @Body() body: DiscardDeadLetterBody, @CurrentPrincipal() principal: Principal, @Headers('x-actor') actorHeader?: string): Promise<DeadLetterView> {
    return this.act(id, principal, actorHeader, 'discarded', () => ({ message: null, details: { reason: body.reason } }), body.reason);
  }

  private async find(id: string, principal: Principal): Promise<DeadLetterEntry> {
    const entry = ID.test(id) ? await this.store.get(id, visibleTenants(principal)) : null;
    if (!entry) throw notFound(id);
    return entry;
  }

  private sourceTopic(e: DeadLetterEntry): TopicDef<readonly MessageDef<string, object>[]> {
    const topic = (ALL_TOPICS as readonly TopicDef<readonly MessageDef<string, object>[]>[]).find((t) => t.name === e.data.sourceTopic);
    if (!topic) throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `source topic ${e.data.sourceTopic} is not a Flotilla topic; it can only be discarded` });
    return topic;
  }

  private republish(e: DeadLetterEntry, value: string | Buffer): OutgoingMessage {
    this.sourceTopic(e);
    return { topic: e.data.sourceTopic, key: e.data.key ?? e.id, value, headers: { ...e.data.headers, [REPLAY_OF_HEADER]: e.id } };
  }

  /**
   * Claims the open record first (exactly one of concurrent callers wins), then publishes, then
   * audits. A publish that fails reopens the record, so the action can be tried again.
   */
  private async act(
    id: string, principal: Principal, actorHeader: string | undefined, status: DeadLetterResolution['status'],
    prepare: (e: DeadLetterEntry) => { message: OutgoingMessage | null; details: Record<string, unknown> }, reason?: string,
  ): Promise<DeadLetterView> {
    const tenantId = principal.tenantId;
    const actor = actorOf(principal, actorHeader);
    const entry = await this.find(id, principal);
    if (entry.status !== 'open') throw notOpen(entry);
    const { message, details } = prepare(entry);
    const resolution: DeadLetterResolution = { status, actor, at: new Date().toISOString(), ...(reason !== undefined ? { reason } : {}) };
    const outcome = await this.store.resolve(id, visibleTenants(principal), resolution);
    switch (outcome.outcome) {
      case 'not-found': throw notFound(id);
      case 'not-open': throw notOpen(outcome.entry);
      case 'resolved': break;
    }
    if (message) {
      try {
        await this.bus.publish([message]);
      } catch (err) {
        log.error('republish failed; dead-letter record reopened', { id, status, err });
        await this.store.reopen(id, resolution);
        throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: 'the message could not be published; the record is still open, try again' });
      }
    }
    await this.audit.record({ tenantId, actor, action: `dlq.${status}`, subject: id, details: { ...details, recordTenantId: entry.tenantId } });
    return toView(outcome.entry);
  }
}
