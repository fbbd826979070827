import { BeforeApplicationShutdown, Body, ConflictException, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Post, Query, ServiceUnavailableException } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayUnique, IsArray, IsIn, IsISO8601, IsOptional, IsString, Matches } from 'class-validator';
import { Authenticator, generateApiKey, hasRole, Principal, ROLES } from '@flotilla/auth';
import { createLogger } from '@flotilla/common';
import { ApiKeyStore, StoredApiKey } from '@flotilla/memory';
import { ForbiddenError } from './auth-errors';
import { CurrentPrincipal, RequireRoles } from './auth.guard';
import { API_KEYS, AUTHENTICATOR } from './auth.tokens';
import { AuditTrail } from './audit-trail';
import { validationFailed } from './http';

const log = createLogger({ service: 'gateway', component: 'api-keys' });
const KEY_ID = /^[a-z0-9]{12}$/;

export class CreateApiKeyBody {
  @ApiProperty({ example: 'orders-backend', description: 'What the key is for (shown in listings and the audit log).' })
  @IsString() @Matches(/^[A-Za-z0-9 _.:@/-]{1,100}$/, { message: 'name must be 1-100 characters of letters, digits, space and _ . : @ / -' })
  name!: string;

  @ApiProperty({ isArray: true, enum: ROLES, example: ['workflows:write', 'workflows:read'] })
  @IsArray() @ArrayMaxSize(ROLES.length) @ArrayUnique() @IsIn(ROLES, { each: true })
  roles!: string[];

  @ApiPropertyOptional({ description: 'The tenant the key acts for (default: your own; another tenant needs the operator role).' })
  @IsOptional() @Matches(/^[A-Za-z0-9_.:-]{1,128}$/, { message: 'tenantId must be 1-128 characters of letters, digits, _ . : -' })
  tenantId?: string;

  @ApiPropertyOptional({ description: 'When the key stops working (ISO 8601); no expiry by default.' })
  @IsOptional() @IsISO8601({ strict: true })
  expiresAt?: string;
}

/** A key as listed: everything but its hash. */
export interface ApiKeyView {
  keyId: string;
  name: string;
  tenantId: string;
  roles: string[];
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
  revokedBy?: string;
  status: 'active' | 'revoked' | 'expired';
}

const toView = (k: StoredApiKey, now = Date.now()): ApiKeyView => ({
  keyId: k.keyId, name: k.name, tenantId: k.tenantId, roles: k.roles, createdAt: k.createdAt, createdBy: k.createdBy,
  ...(k.expiresAt ? { expiresAt: k.expiresAt } : {}), ...(k.revokedAt ? { revokedAt: k.revokedAt, revokedBy: k.revokedBy } : {}),
  status: k.revokedAt ? 'revoked' : k.expiresAt && Date.parse(k.expiresAt) <= now ? 'expired' : 'active',
});

/**
 * API key management: `admin` for the keys of its own tenant, `operator` for any tenant's. The key
 * itself is in the creation response only; the store keeps its hash. Every change is written to the
 * audit log — a change that cannot be audited is undone and reported as failed.
 */
@ApiTags('api keys')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'No or invalid credential.' })
@ApiForbiddenResponse({ description: 'Needs the admin role (own tenant) or operator (any tenant).' })
@RequireRoles('admin', 'operator')
@Controller('v1/admin/api-keys')
export class ApiKeysController implements BeforeApplicationShutdown {
  constructor(
    @Inject(API_KEYS) private readonly keys: ApiKeyStore,
    @Inject(AUTHENTICATOR) private readonly auth: Authenticator,
    private readonly audit: AuditTrail,
  ) {}

  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ description: 'The new key. `key` is shown this once: store it now.' })
  async create(@Body() body: CreateApiKeyBody, @CurrentPrincipal() principal: Principal): Promise<ApiKeyView & { key: string }> {
    const tenantId = body.tenantId ?? principal.tenantId;
    if (tenantId !== principal.tenantId && !hasRole(principal, 'operator')) throw new ForbiddenError('creating keys of another tenant needs the operator role', 'tenant');
    if (body.roles.includes('operator') && !hasRole(principal, 'operator')) throw new ForbiddenError('only an operator can grant the operator role', 'role');
    if (body.expiresAt && Date.parse(body.expiresAt) <= Date.now()) throw validationFailed([{ field: 'expiresAt', reasons: ['must be in the future'] }]);
    const { key, keyId, hash } = generateApiKey();
    const stored: StoredApiKey = {
      keyId, hash, tenantId, name: body.name, roles: [...body.roles], createdAt: new Date().toISOString(), createdBy: principal.subject,
      ...(body.expiresAt ? { expiresAt: new Date(body.expiresAt).toISOString() } : {}),
    };
    await this.keys.create(stored);
    try {
      await this.audit.record({
        tenantId, actor: principal.subject, action: 'apikey.created', subject: `apikey:${keyId}`,
        details: { keyId, name: stored.name, roles: stored.roles, expiresAt: stored.expiresAt ?? null, actorTenantId: principal.tenantId },
      });
    } catch (err) {
      // Unaudited keys must not work: revoke it again before failing.
      log.error('audit of a new API key failed; revoking it', { keyId, err });
      await this.keys.revoke(keyId, undefined, 'system:audit-failure', new Date().toISOString());
      throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: 'the key could not be audited and was not created; try again' });
    }
    return { ...toView(stored), key };
  }

  @Get()
  @ApiOkResponse({ description: 'Keys of your tenant (an operator may name any `tenantId`), newest first, without secrets.' })
  async list(@CurrentPrincipal() principal: Principal, @Query('tenantId') tenantId?: string, @Query('limit') limit?: string): Promise<{ items: ApiKeyView[] }> {
    const n = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 500) throw validationFailed([{ field: 'limit', reasons: ['must be an integer from 1 to 500'] }]);
    const tenant = tenantId ?? principal.tenantId;
    if (tenant !== principal.tenantId && !hasRole(principal, 'operator')) throw new ForbiddenError('listing keys of another tenant needs the operator role', 'tenant');
    const items = await this.keys.list({ tenantId: tenant, limit: n });
    return { items: items.map((k) => toView(k)) };
  }

  @Delete(':keyId')
  @ApiOkResponse({ description: 'Revoked: the key stops working at once on this replica, within AUTH_API_KEY_CACHE_MS on the others.' })
  @ApiNotFoundResponse({ description: 'No such key in your tenant.' })
  @ApiConflictResponse({ description: 'Already revoked.' })
  async revoke(@Param('keyId') keyId: string, @CurrentPrincipal() principal: Principal): Promise<ApiKeyView> {
    if (!KEY_ID.test(keyId)) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no API key ${keyId}` });
    const tenants = hasRole(principal, 'operator') ? undefined : [principal.tenantId];
    const outcome = await this.keys.revoke(keyId, tenants, principal.subject, new Date().toISOString());
    switch (outcome.outcome) {
      case 'not-found': throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no API key ${keyId}` });
      case 'already-revoked': throw new ConflictException({ statusCode: 409, error: 'Conflict', message: `API key ${keyId} is already revoked`, key: toView(outcome.key) });
      case 'revoked': break;
    }
    this.auth.forget(keyId);
    await this.audit.record({
      tenantId: outcome.key.tenantId, actor: principal.subject, action: 'apikey.revoked', subject: `apikey:${keyId}`,
      details: { keyId, name: outcome.key.name, actorTenantId: principal.tenantId },
    });
    return toView(outcome.key);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.keys.close();
  }
}
