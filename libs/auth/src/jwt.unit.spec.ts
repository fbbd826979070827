import { createPublicKey } from 'node:crypto';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { Unauthenticated } from './errors';
import { jose } from './jose';
import { JwtVerifier } from './jwt';
import { HS_SECRET, signHs256, startTestIdp, TestIdp } from './testing/tokens';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Unauthenticated) return err.reason;
    throw err;
  }
  return 'accepted';
}

describe('JwtVerifier', () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await startTestIdp();
  });
  afterAll(() => idp.close());

  const both = (): JwtVerifier => new JwtVerifier({ secret: HS_SECRET, jwksUrl: idp.url, issuer: 'https://idp.test', audience: 'flotilla' });

  it('accepts HS256 signed with the shared secret and reads sub, tenant and roles (roles + scope)', async () => {
    const token = await signHs256({ sub: 'alice', tenant_id: 'acme', roles: ['chat'], scope: 'workflows:read workflows:write', iss: 'https://idp.test', aud: 'flotilla' });
    const claims = await both().verify(token);
    expect(claims).toEqual({ sub: 'alice', tenantId: 'acme', roles: ['chat', 'workflows:read', 'workflows:write'], expiresAt: expect.any(Number) });
    expect(Math.abs(claims.expiresAt - (Date.now() + 300_000))).toBeLessThan(5_000);
  });

  it('accepts RS256 with a key from the JWKS URL', async () => {
    const token = await idp.sign({ sub: 'bob', tenant_id: 'globex', roles: 'chat', iss: 'https://idp.test', aud: 'flotilla' });
    await expect(both().verify(token)).resolves.toMatchObject({ sub: 'bob', tenantId: 'globex', roles: ['chat'] });
    expect(idp.requests).toBeGreaterThan(0);
  });

  it('reads the tenant from a configured claim', async () => {
    const token = await signHs256({ sub: 'alice', org: 'initech' });
    await expect(new JwtVerifier({ secret: HS_SECRET, tenantClaim: 'org' }).verify(token)).resolves.toMatchObject({ tenantId: 'initech' });
  });

  it('refuses a wrong secret, an expired token, a wrong issuer or audience, a missing exp or sub', async () => {
    const v = both();
    const ok = { sub: 'alice', tenant_id: 'acme', iss: 'https://idp.test', aud: 'flotilla' };
    expect(await reason(v.verify(await signHs256(ok, { secret: 'another-secret-another-secret-another-secret' })))).toBe('invalid');
    expect(await reason(v.verify(await signHs256(ok, { expiresIn: Math.floor(Date.now() / 1000) - 3600 })))).toBe('expired');
    expect(await reason(v.verify(await signHs256({ ...ok, iss: 'https://evil.test' })))).toBe('invalid');
    expect(await reason(v.verify(await signHs256({ ...ok, aud: 'other-app' })))).toBe('invalid');
    const noExp = await new jose.SignJWT(ok).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(HS_SECRET));
    expect(await reason(v.verify(noExp))).toBe('invalid');
    const { sub: _sub, ...noSub } = ok;
    expect(await reason(v.verify(await signHs256(noSub)))).toBe('invalid');
  });

  it('refuses alg none, and algorithms the deployment did not configure', async () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', tenant_id: 'acme', exp: Math.floor(Date.now() / 1000) + 60 })}.`;
    expect(await reason(both().verify(none))).toBe('unsupported');
    // Only a JWKS configured: HS256 is refused (and vice versa).
    expect(await reason(new JwtVerifier({ jwksUrl: idp.url }).verify(await signHs256({ sub: 'a', tenant_id: 't' })))).toBe('unsupported');
    expect(await reason(new JwtVerifier({ secret: HS_SECRET }).verify(await idp.sign({ sub: 'a', tenant_id: 't' })))).toBe('unsupported');
  });

  it('refuses the RS256-to-HS256 confusion attack (HS256 signed with the public key as the secret)', async () => {
    const jwks = (await (await fetch(idp.url)).json()) as { keys: Record<string, unknown>[] };
    const pem = createPublicKey({ key: jwks.keys[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const forged = await new jose.SignJWT({ sub: 'mallory', tenant_id: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(Buffer.from(pem));
    expect(await reason(new JwtVerifier({ jwksUrl: idp.url }).verify(forged))).toBe('unsupported');
    expect(await reason(both().verify(forged))).toBe('invalid');
  });

  it('refuses an RS256 token whose kid is not in the JWKS', async () => {
    expect(await reason(both().verify(await idp.sign({ sub: 'a', tenant_id: 't', iss: 'https://idp.test', aud: 'flotilla' }, { kid: 'unknown' })))).toBe('invalid');
  });

  it('refuses what is not a JWT', async () => {
    for (const t of ['', 'abc', 'a.b', 'a.b.c.d', '../../x.y.z']) expect(await reason(both().verify(t))).toBe('malformed');
  });

  it('reports an unreachable JWKS as a retryable dependency failure, not a bad token', async () => {
    const down = new JwtVerifier({ jwksUrl: 'http://127.0.0.1:1/jwks.json' });
    const err = await down.verify(await idp.sign({ sub: 'a', tenant_id: 't' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).code).toBe(ErrorCode.DependencyUnavailable);
    expect((err as FlotillaError).retryable).toBe(true);
  });
});
