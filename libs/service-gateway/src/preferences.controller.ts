import { Body, Controller, Get, Inject, Param, Put } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { hasRole, Principal } from '@flotilla/auth';
import { ConversationStore, PreferenceValue } from '@flotilla/memory';
import { ForbiddenError } from './auth-errors';
import { CurrentPrincipal, RequireRoles } from './auth.guard';
import { validationFailed } from './http';
import { CONVERSATIONS } from './tokens';

/** A signed-in user (JWT) reads and changes only their own preferences, unless they are the tenant's admin. */
function mayAccess(principal: Principal, userId: string): void {
  if (principal.via === 'jwt' && principal.userId !== userId && !hasRole(principal, 'admin')) {
    throw new ForbiddenError('a signed-in user can only access their own preferences', 'user');
  }
}

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const MAX_PREFERENCES = 20;

/**
 * A user's preferences (language, preferred carrier, contact channel, …), tenant-scoped and kept
 * in conversation memory; the planner gives them to the model that composes answers.
 */
@ApiTags('preferences')
@ApiBearerAuth()
@ApiForbiddenResponse({ description: 'Another user\'s preferences (signed-in users see only their own), or a missing role.' })
@Controller('v1/users/:userId/preferences')
export class PreferencesController {
  constructor(@Inject(CONVERSATIONS) private readonly memory: ConversationStore) {}

  @Get()
  @ApiOkResponse({ description: 'The user\'s preferences as a flat object.' })
  @RequireRoles('chat', 'workflows:read')
  async get(@Param('userId') userId: string, @CurrentPrincipal() principal: Principal): Promise<Record<string, PreferenceValue>> {
    if (!ID.test(userId)) throw validationFailed([{ field: 'userId', reasons: ['must be 1-128 characters of letters, digits, _ . : -'] }]);
    mayAccess(principal, userId);
    return this.memory.getPreferences(principal.tenantId, userId);
  }

  @Put()
  @ApiOkResponse({ description: 'Sets the given preferences (others are kept) and returns them all.' })
  @ApiBadRequestResponse({ description: 'Names must be identifiers; values strings (≤200 chars), numbers or booleans; at most 20.' })
  @RequireRoles('chat', 'workflows:write')
  async put(@Param('userId') userId: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<Record<string, PreferenceValue>> {
    const tenantId = principal.tenantId;
    const fields = [];
    if (!ID.test(userId)) fields.push({ field: 'userId', reasons: ['must be 1-128 characters of letters, digits, _ . : -'] });
    if (typeof body !== 'object' || body === null || Array.isArray(body)) fields.push({ field: 'body', reasons: ['must be a JSON object of preferences'] });
    const entries = fields.length ? [] : Object.entries(body as Record<string, unknown>);
    if (entries.length > MAX_PREFERENCES) fields.push({ field: 'body', reasons: [`at most ${MAX_PREFERENCES} preferences`] });
    for (const [name, value] of entries) {
      if (!NAME.test(name)) fields.push({ field: name, reasons: ['name must be an identifier of at most 64 characters'] });
      const ok = (typeof value === 'string' && value.length <= 200) || (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean';
      if (!ok) fields.push({ field: name, reasons: ['value must be a string of at most 200 characters, a number or a boolean'] });
    }
    if (fields.length) throw validationFailed(fields);
    mayAccess(principal, userId);
    for (const [name, value] of entries) await this.memory.setPreference(tenantId, userId, name, value as PreferenceValue);
    return this.memory.getPreferences(tenantId, userId);
  }
}
