import { ExecutionContext, HttpException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiKeyRecord, Authenticator, generateApiKey, JwtVerifier, Principal } from '@flotilla/auth';
import { AuthGuard, Public, RequireRoles } from './auth.guard';

/** Route handlers carrying the metadata the guard reads; their bodies never run. */
class Routes {
  @RequireRoles('workflows:write') write(): string {
    return 'write';
  }
  @RequireRoles('admin') admin(): string {
    return 'admin';
  }
  open(): string {
    return 'open';
  }
  @Public() page(): string {
    return 'page';
  }
}

interface FakeReq { path: string; method: string; headers: Record<string, string | undefined>; principal?: Principal }

function context(handler: keyof Routes, req: FakeReq, res: { headers: Record<string, string> }): ExecutionContext {
  return {
    getType: () => 'http',
    getHandler: () => Routes.prototype[handler],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({ setHeader: (k: string, v: string) => { res.headers[k] = v; } }) }),
  } as unknown as ExecutionContext;
}

describe('AuthGuard', () => {
  const records = new Map<string, ApiKeyRecord>();
  const add = (tenantId: string, roles: string[]): string => {
    const { key, keyId, hash } = generateApiKey();
    records.set(keyId, { keyId, hash, tenantId, roles, name: 't', createdAt: '2026-01-01T00:00:00.000Z', createdBy: 't' });
    return key;
  };
  const guard = (required: boolean): AuthGuard =>
    new AuthGuard(new Reflector(), new Authenticator({ required, jwt: new JwtVerifier({}), apiKeys: { findByKeyId: async (id) => records.get(id) ?? null } }));

  async function run(g: AuthGuard, handler: keyof Routes, headers: Record<string, string | undefined>, path = '/v1/x'): Promise<{ status: number; req: FakeReq; res: { headers: Record<string, string> }; body?: unknown }> {
    const req: FakeReq = { path, method: 'GET', headers };
    const res = { headers: {} as Record<string, string> };
    try {
      await g.canActivate(context(handler, req, res));
      return { status: 200, req, res };
    } catch (err) {
      if (err instanceof HttpException) return { status: err.getStatus(), req, res, body: err.getResponse() };
      throw err;
    }
  }

  it('lets probes and @Public routes through without a credential', async () => {
    expect((await run(guard(true), 'open', {}, '/healthz')).status).toBe(200);
    expect((await run(guard(true), 'open', {}, '/readyz')).status).toBe(200);
    expect((await run(guard(true), 'page', {})).status).toBe(200);
  });

  it('401 with WWW-Authenticate without a credential; a route without roles still needs one', async () => {
    const r = await run(guard(true), 'open', {});
    expect(r.status).toBe(401);
    expect(r.res.headers['WWW-Authenticate']).toBe('Bearer realm="flotilla", ApiKey realm="flotilla"');
    const bad = await run(guard(true), 'open', { 'x-api-key': generateApiKey().key });
    expect(bad.status).toBe(401);
    expect(bad.res.headers['WWW-Authenticate']).toContain('error="invalid_token"');
  });

  it('sets the principal and overwrites X-Tenant-Id with the credential\'s tenant; a different one is 403', async () => {
    const key = add('acme', ['workflows:write']);
    const ok = await run(guard(true), 'write', { 'x-api-key': key });
    expect(ok.status).toBe(200);
    expect(ok.req.principal).toMatchObject({ tenantId: 'acme', via: 'api-key' });
    expect(ok.req.headers['x-tenant-id']).toBe('acme');
    expect((await run(guard(true), 'write', { 'x-api-key': key, 'x-tenant-id': 'acme' })).status).toBe(200);
    const other = await run(guard(true), 'write', { 'x-api-key': key, 'x-tenant-id': 'globex' });
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ code: 'FORBIDDEN', reason: 'tenant' });
  });

  it('403 for an authenticated principal without the role; 401 for an anonymous one (a credential could grant it)', async () => {
    expect((await run(guard(true), 'admin', { 'x-api-key': add('acme', ['workflows:write']) })).status).toBe(403);
    const anonymous = await run(guard(false), 'admin', { 'x-tenant-id': 'acme' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.res.headers['WWW-Authenticate']).toBeDefined();
    expect((await run(guard(false), 'write', { 'x-tenant-id': 'acme' })).req.principal).toMatchObject({ tenantId: 'acme', via: 'anonymous' });
  });

  it('400 for a malformed X-Tenant-Id, as before authentication', async () => {
    expect((await run(guard(false), 'write', { 'x-tenant-id': 'has spaces' })).status).toBe(400);
  });
});
