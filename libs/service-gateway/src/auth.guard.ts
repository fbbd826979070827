import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, InternalServerErrorException, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { Authenticator, hasAnyRole, ID_PATTERN, Principal, Unauthenticated } from '@flotilla/auth';
import { createLogger } from '@flotilla/common';
import { challenge, ForbiddenError, toHttpError, UnauthorizedError } from './auth-errors';
import { AUTHENTICATOR } from './auth.tokens';
import { validationFailed } from './http';

const log = createLogger({ service: 'gateway', component: 'auth' });

const PUBLIC = 'flotilla:public';
const ROLES = 'flotilla:roles';
/** Probes must answer without credentials (kubelet, load balancers); they live in libs/platform, so they are named here. */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz']);

/** Marks a route (or controller) as reachable without a credential. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC, true);

/** The route needs at least one of these roles (`admin` implies the tenant-level ones). Without it, any authenticated principal may call it. */
export const RequireRoles = (...roles: string[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES, roles);

type AuthenticatedRequest = Request & { principal?: Principal };

/** The principal the guard authenticated for this request. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  // Only reachable on a route marked @Public that asks for a principal: a programming error.
  if (!principal) throw new InternalServerErrorException('no principal on a public route');
  return principal;
});

/**
 * The global guard (APP_GUARD): every HTTP route of the application needs a principal — including
 * routes added later by other modules — unless it is marked @Public or is a probe. The tenant is the
 * credential's: a differing `X-Tenant-Id` is refused (403), and the header is overwritten with the
 * credential's tenant so nothing downstream can read another one. 401 (no or bad credential, with
 * `WWW-Authenticate`) and 403 (known caller, not allowed) are kept apart; an anonymous caller (only
 * possible with AUTH_REQUIRED off) lacking a role gets 401, since a credential could grant it.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector, @Inject(AUTHENTICATOR) private readonly auth: Authenticator) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    const res = ctx.switchToHttp().getResponse<Response>();
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC, [ctx.getHandler(), ctx.getClass()]);
    if (isPublic || PUBLIC_PATHS.has(req.path)) return true;

    const header = req.headers['x-tenant-id'];
    const tenantHeader = Array.isArray(header) ? header[0] : header;
    if (tenantHeader !== undefined && tenantHeader !== '' && !ID_PATTERN.test(tenantHeader)) {
      throw validationFailed([{ field: 'x-tenant-id', reasons: ['must be 1-128 characters of letters, digits, _ . : -'] }]);
    }
    let principal: Principal;
    try {
      principal = await this.auth.authenticate(req.headers, undefined, tenantHeader);
    } catch (err) {
      const http = toHttpError(err);
      if (http instanceof UnauthorizedError) {
        res.setHeader('WWW-Authenticate', challenge(http.credential));
        log.info('request refused: not authenticated', { method: req.method, path: req.path, reason: http.credential.reason, detail: http.credential.detail });
      }
      throw http;
    }
    if (principal.via !== 'anonymous' && tenantHeader && tenantHeader !== principal.tenantId) {
      throw new ForbiddenError(`X-Tenant-Id ${tenantHeader} is not the credential's tenant`, 'tenant');
    }
    req.principal = principal;
    req.headers['x-tenant-id'] = principal.tenantId;

    const roles = this.reflector.getAllAndOverride<string[] | undefined>(ROLES, [ctx.getHandler(), ctx.getClass()]);
    if (roles && !hasAnyRole(principal, roles)) {
      if (principal.via === 'anonymous') {
        res.setHeader('WWW-Authenticate', challenge());
        throw new UnauthorizedError(new Unauthenticated('missing'));
      }
      throw new ForbiddenError(`needs role ${roles.join(' or ')}`, 'role');
    }
    return true;
  }
}
