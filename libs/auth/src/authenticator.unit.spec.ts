import { ApiKeyLookup, ApiKeyRecord, generateApiKey } from './api-key';
import { loadConfig } from '@flotilla/config';
import { Authenticator, authenticatorFrom, credentialFrom, requireAuthenticationMethod } from './authenticator';
import { Forbidden, Unauthenticated } from './errors';
import { JwtVerifier } from './jwt';
import { HS_SECRET, signHs256 } from './testing/tokens';

class MemoryKeys implements ApiKeyLookup {
  readonly records = new Map<string, ApiKeyRecord>();
  lookups = 0;
  async findByKeyId(keyId: string): Promise<ApiKeyRecord | null> {
    this.lookups++;
    return this.records.get(keyId) ?? null;
  }
  add(tenantId: string, roles: string[], extra: Partial<ApiKeyRecord> = {}): string {
    const { key, keyId, hash } = generateApiKey();
    this.records.set(keyId, { keyId, hash, tenantId, roles, name: 'test', createdAt: new Date().toISOString(), createdBy: 'test', ...extra });
    return key;
  }
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Unauthenticated) return `401 ${err.reason}`;
    if (err instanceof Forbidden) return `403 ${err.reason}`;
    throw err;
  }
  return 'accepted';
}

describe('Authenticator', () => {
  let keys: MemoryKeys;
  let now: number;
  const make = (required: boolean, extra: Partial<ConstructorParameters<typeof Authenticator>[0]> = {}): Authenticator =>
    new Authenticator({ required, jwt: new JwtVerifier({ secret: HS_SECRET }), apiKeys: keys, now: () => now, apiKeyCacheMs: 5000, ...extra });

  beforeEach(() => {
    keys = new MemoryKeys();
    now = Date.now();
  });

  it('finds the credential in Authorization (Bearer, ApiKey) or X-Api-Key, and refuses two different ones', () => {
    expect(credentialFrom({ authorization: 'Bearer abc.def.ghi' })).toEqual({ token: 'abc.def.ghi', source: 'authorization' });
    expect(credentialFrom({ authorization: 'apikey flk_x' })).toEqual({ token: 'flk_x', source: 'authorization' });
    expect(credentialFrom({ 'x-api-key': 'flk_y' })).toEqual({ token: 'flk_y', source: 'x-api-key' });
    expect(credentialFrom({})).toBeUndefined();
    expect(() => credentialFrom({ authorization: 'Basic dXNlcjpwdw==' })).toThrow(Unauthenticated);
    expect(() => credentialFrom({ authorization: 'Bearer a', 'x-api-key': 'b' })).toThrow(Unauthenticated);
  });

  it('with AUTH_REQUIRED, refuses a request without a credential (401 missing)', async () => {
    expect(await failure(make(true).authenticate({}, undefined, 'acme'))).toBe('401 missing');
  });

  it('without AUTH_REQUIRED, a request without a credential is anonymous for the tenant it names (default public)', async () => {
    await expect(make(false).authenticate({}, undefined, 'acme')).resolves.toMatchObject({ tenantId: 'acme', via: 'anonymous', subject: 'anonymous' });
    await expect(make(false).authenticate({})).resolves.toMatchObject({ tenantId: 'public', via: 'anonymous' });
    expect(await failure(make(false).authenticate({}, undefined, '../etc'))).toBe('403 tenant');
  });

  it('a credential given without AUTH_REQUIRED is still verified, and its tenant wins over the named one', async () => {
    const token = await signHs256({ sub: 'alice', tenant_id: 'acme', roles: ['chat'] });
    await expect(make(false).authenticate({ authorization: `Bearer ${token}` }, undefined, 'globex')).resolves.toMatchObject({ tenantId: 'acme', userId: 'alice', via: 'jwt', subject: 'user:alice' });
    expect(await failure(make(false).authenticate({ authorization: 'Bearer not-a-token' }, undefined, 'globex'))).toBe('401 malformed');
  });

  it('turns a JWT into a principal; one without a tenant is 403, not 401', async () => {
    const auth = make(true);
    await expect(auth.authenticate({ authorization: `Bearer ${await signHs256({ sub: 'alice', tenant_id: 'acme', roles: ['chat', 'workflows:read'] })}` }))
      .resolves.toEqual({ tenantId: 'acme', userId: 'alice', roles: ['chat', 'workflows:read'], via: 'jwt', subject: 'user:alice', expiresAt: expect.any(Number) });
    expect(await failure(auth.authenticate({ authorization: `Bearer ${await signHs256({ sub: 'alice' })}` }))).toBe('403 tenant');
    expect(await failure(auth.authenticate({ authorization: `Bearer ${await signHs256({ sub: 'alice', tenant_id: 'has spaces' })}` }))).toBe('403 tenant');
  });

  it('refuses JWTs when no JWT key is configured', async () => {
    const auth = make(true, { jwt: new JwtVerifier({}) });
    expect(await failure(auth.authenticate({ authorization: `Bearer ${await signHs256({ sub: 'a', tenant_id: 't' })}` }))).toBe('401 unsupported');
  });

  it('turns an API key into its tenant\'s service-account principal, from either header', async () => {
    const key = keys.add('acme', ['workflows:write']);
    const keyId = key.slice(4, 16);
    const expected = { tenantId: 'acme', keyId, roles: ['workflows:write'], via: 'api-key', subject: `apikey:${keyId}` };
    await expect(make(true).authenticate({ 'x-api-key': key })).resolves.toEqual(expected);
    await expect(make(true).authenticate({ authorization: `ApiKey ${key}` })).resolves.toEqual(expected);
    await expect(make(true).authenticate({ authorization: `Bearer ${key}` })).resolves.toEqual(expected);
  });

  it('refuses an unknown key, a wrong secret for a known id, a revoked and an expired key', async () => {
    const auth = make(true);
    const key = keys.add('acme', ['chat']);
    expect(await failure(auth.authenticate({ 'x-api-key': generateApiKey().key }))).toBe('401 invalid');
    const tampered = key.slice(0, -2) + (key.endsWith('AA') ? 'BB' : 'AA');
    expect(await failure(auth.authenticate({ 'x-api-key': tampered }))).toBe('401 invalid');
    expect(await failure(auth.authenticate({ 'x-api-key': keys.add('acme', ['chat'], { revokedAt: new Date().toISOString() }) }))).toBe('401 revoked');
    expect(await failure(auth.authenticate({ 'x-api-key': keys.add('acme', ['chat'], { expiresAt: new Date(now - 1000).toISOString() }) }))).toBe('401 expired');
    expect(await failure(auth.authenticate({ 'x-api-key': 'flk_short' }))).toBe('401 malformed');
    const expiring = keys.add('acme', ['chat'], { expiresAt: new Date(now + 60_000).toISOString() });
    await expect(auth.authenticate({ 'x-api-key': expiring })).resolves.toMatchObject({ expiresAt: now + 60_000 });
  });

  it('caches a found key for apiKeyCacheMs; forget() drops it at once (revocation on this replica)', async () => {
    const auth = make(true);
    const key = keys.add('acme', ['chat']);
    const keyId = key.slice(4, 16);
    await auth.authenticate({ 'x-api-key': key });
    await auth.authenticate({ 'x-api-key': key });
    expect(keys.lookups).toBe(1);
    keys.records.get(keyId)!.revokedAt = new Date().toISOString();
    now += 6000;
    expect(await failure(auth.authenticate({ 'x-api-key': key }))).toBe('401 revoked');
    keys.records.get(keyId)!.revokedAt = undefined;
    await auth.authenticate({ 'x-api-key': key });
    keys.records.get(keyId)!.revokedAt = new Date().toISOString();
    auth.forget(keyId);
    expect(await failure(auth.authenticate({ 'x-api-key': key }))).toBe('401 revoked');
  });

  it('accepts the bootstrap key as admin + operator of its tenant without any stored record', async () => {
    const { key } = generateApiKey();
    const auth = make(true, { bootstrap: { key, tenantId: 'system' } });
    await expect(auth.authenticate({ 'x-api-key': key })).resolves.toMatchObject({ tenantId: 'system', roles: ['admin', 'operator'], via: 'api-key' });
    expect(keys.lookups).toBe(0);
  });

  it('takes a WebSocket credential (subprotocol or query) and refuses one that differs from the headers\'', async () => {
    const key = keys.add('acme', ['chat']);
    await expect(make(true).authenticate({}, { token: key, source: 'subprotocol' })).resolves.toMatchObject({ tenantId: 'acme' });
    expect(await failure(make(true).authenticate({ 'x-api-key': keys.add('globex', ['chat']) }, { token: key, source: 'query' }))).toBe('401 malformed');
  });

  it('from configuration: the edge refuses AUTH_REQUIRED with no way to authenticate anyone; an API-key-only checker does not care', () => {
    expect(() => requireAuthenticationMethod(loadConfig({ AUTH_REQUIRED: 'true' }))).toThrow(/AUTH_REQUIRED needs/);
    expect(() => requireAuthenticationMethod(loadConfig({ AUTH_REQUIRED: 'true', AUTH_JWT_SECRET: HS_SECRET }))).not.toThrow();
    expect(() => requireAuthenticationMethod(loadConfig({}))).not.toThrow();
    expect(authenticatorFrom(loadConfig({ AUTH_REQUIRED: 'true' }), keys).required).toBe(true);
    expect(authenticatorFrom(loadConfig({}), keys).required).toBe(false);
  });
});
