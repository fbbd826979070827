import { execFileSync } from 'node:child_process';
import { createHmac, generateKeyPairSync, KeyObject, randomBytes, randomInt, sign } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { loadConfig } from '@flotilla/config';
import { AuditRecord, createAuditLog, createDeadLetterStore } from '@flotilla/memory';
import { SystemUnderTest } from '../support/system';

/*
 * Security end to end, in whichever mode the jest project selects (embedded: one process; or
 * distributed: six processes on Kafka and FerretDB), with AUTH_REQUIRED on, through the public
 * interfaces: 401 vs 403 on REST and WebSocket, HS256 and RS256 (a JWKS served here on 127.0.0.1),
 * API keys created, used and revoked through the admin API, the tenant taken from the credential,
 * cross-tenant reads refused, per-user and per-tenant 429s with Retry-After, the WebSocket frame
 * limit, and the audit chain. Tokens are signed here with node:crypto, as any identity provider would.
 */
jest.setTimeout(240_000);

const ISSUER = 'https://idp.flotilla.test';
const AUDIENCE = 'flotilla';
const HS_SECRET = randomBytes(32).toString('hex');
const USER_LIMIT = 3;
const TENANT_LIMIT = 8;
const FRAMES_PER_SECOND = 5;

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const BOOTSTRAP_KEY = `flk_${Array.from({ length: 12 }, () => ID_ALPHABET[randomInt(ID_ALPHABET.length)]).join('')}_${randomBytes(32).toString('base64url')}`;
const BOOTSTRAP_KEY_ID = BOOTSTRAP_KEY.slice(4, 16);

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
let jwks: Server;
let jwksUrl = '';
let sut: SystemUnderTest;
/** Every credential this suite sent, to check none of them reached a log. */
const sentSecrets: string[] = [BOOTSTRAP_KEY];

// ---- identity provider (tokens and JWKS) ----------------------------------------------------

const b64u = (v: string | Buffer): string => Buffer.from(v).toString('base64url');

interface Claims { sub?: string; tenant_id?: string; roles?: string[]; exp?: number; iss?: string; aud?: string; [k: string]: unknown }

function jwt(alg: 'HS256' | 'RS256', claims: Claims, key: string | KeyObject = alg === 'HS256' ? HS_SECRET : rsa.privateKey): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg, typ: 'JWT', ...(alg === 'RS256' ? { kid: 'test-key-1' } : {}) };
  const payload = { iat: now, exp: now + 300, iss: ISSUER, aud: AUDIENCE, ...claims };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const signature = alg === 'HS256' ? createHmac('sha256', key as string).update(input).digest() : sign('sha256', Buffer.from(input), key as KeyObject);
  const token = `${input}.${b64u(signature)}`;
  sentSecrets.push(token);
  return token;
}

const hs = (sub: string, tenant: string, roles: string[], extra: Claims = {}): string => jwt('HS256', { sub, tenant_id: tenant, roles, ...extra });
const ALL = ['chat', 'workflows:read', 'workflows:write'];

// ---- clients ------------------------------------------------------------------------------------

interface Reply { status: number; headers: Headers; body: Record<string, unknown> }

async function call(path: string, init: { method?: string; token?: string; apiKey?: string; tenant?: string; body?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  if (init.apiKey) headers['x-api-key'] = init.apiKey;
  if (init.tenant) headers['x-tenant-id'] = init.tenant;
  const r = await fetch(`${sut.gatewayUrl}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const submit = (question: string, init: { token?: string; apiKey?: string; tenant?: string; userId?: string } = {}): Promise<Reply> =>
  call('/v1/workflows', { method: 'POST', ...init, body: { question, ...(init.userId ? { userId: init.userId } : {}) } });

type Frame = { type: string; [k: string]: unknown };

interface Socket {
  ws: WebSocket;
  frames: Frame[];
  next(match: (f: Frame) => boolean, timeoutMs?: number, from?: number): Promise<Frame>;
  send(frame: unknown): void;
}

/** Opens /v1/chat; resolves with the socket after `welcome`, or with the HTTP status that refused the upgrade. */
function connect(opts: { headers?: Record<string, string>; protocols?: string[]; query?: string } = {}): Promise<{ socket?: Socket; status?: number; wwwAuthenticate?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${sut.wsUrl}${opts.query ?? ''}`, opts.protocols ?? [], { headers: opts.headers });
    const frames: Frame[] = [];
    const waiters: { match: (f: Frame) => boolean; done: (f: Frame) => void }[] = [];
    const socket: Socket = {
      ws, frames,
      send: (f) => ws.send(JSON.stringify(f)),
      next: (match, timeoutMs = 30_000, from = 0) => {
        const seen = frames.slice(from).find(match);
        if (seen) return Promise.resolve(seen);
        return new Promise((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`no matching frame in ${timeoutMs} ms; last: ${JSON.stringify(frames.slice(-4))}`)), timeoutMs);
          waiters.push({ match, done: (f) => { clearTimeout(timer); res(f); } });
        });
      },
    };
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      frames.push(f);
      for (const w of [...waiters]) if (w.match(f)) { waiters.splice(waiters.indexOf(w), 1); w.done(f); }
      if (f.type === 'welcome') resolve({ socket });
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode, wwwAuthenticate: res.headers['www-authenticate'] });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED && ws.readyState !== WebSocket.CLOSING) reject(err);
    });
  });
}

/** The deployment's stores, opened the way the services open them (for seeding a dead letter and reading the audit chain). */
function storeConfig(): ReturnType<typeof loadConfig> {
  return sut.mode === 'embedded'
    ? loadConfig({ FLOTILLA_MODE: 'embedded', FLOTILLA_DATA_DIR: sut.dataDir })
    : loadConfig({ FLOTILLA_MODE: 'distributed', MONGO_URL: sut.mongoUrl, KAFKA_BROKERS: sut.kafkaBrokers });
}

const gatewayLogs = (): string => sut.logs(sut.mode === 'embedded' ? 'flotilla' : 'gateway');

// ---- the system ---------------------------------------------------------------------------------

beforeAll(async () => {
  const jwk = { ...(rsa.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  jwks = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/.well-known/jwks.json`;
  sut = await SystemUnderTest.start(undefined, {
    LOG_LEVEL: 'info',
    AUTH_REQUIRED: 'true', AUTH_JWT_SECRET: HS_SECRET, AUTH_JWKS_URL: jwksUrl, AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE,
    AUTH_BOOTSTRAP_API_KEY: BOOTSTRAP_KEY, AUTH_BOOTSTRAP_TENANT: 'ops', AUTH_CLOCK_TOLERANCE_SECONDS: '2',
    RATE_LIMIT_USER_PER_MINUTE: String(USER_LIMIT), RATE_LIMIT_TENANT_PER_MINUTE: String(TENANT_LIMIT),
    WS_MESSAGES_PER_SECOND: String(FRAMES_PER_SECOND), WS_MESSAGE_BURST: String(FRAMES_PER_SECOND),
  });
});

afterAll(async () => {
  await sut?.stop();
  await new Promise<void>((r) => (jwks ? jwks.close(() => r()) : r()));
});

// ---- REST ---------------------------------------------------------------------------------------

describe('REST authentication', () => {
  it('keeps probes and the chat page public', async () => {
    expect((await fetch(`${sut.gatewayUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${sut.gatewayUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${sut.gatewayUrl}/`)).status).toBe(200);
    const docs = await fetch(`${sut.gatewayUrl}/docs-json`);
    expect(docs.status).toBe(200);
    const openapi = (await docs.json()) as { components?: { securitySchemes?: Record<string, unknown> }; paths: Record<string, unknown> };
    expect(Object.keys(openapi.components?.securitySchemes ?? {}).sort()).toEqual(['api-key', 'bearer']);
    expect(Object.keys(openapi.paths)).toContain('/v1/admin/api-keys');
  });

  it('401 with a WWW-Authenticate challenge for no, malformed, forged, expired or foreign-issuer credentials; X-Tenant-Id alone is no credential', async () => {
    const cases: [string, Parameters<typeof call>[1]][] = [
      ['none', {}],
      ['X-Tenant-Id only', { tenant: 'acme' }],
      ['garbage', { token: 'not-a-token' }],
      ['HS256 with another secret', { token: jwt('HS256', { sub: 'eve', tenant_id: 'acme', roles: ALL }, 'x'.repeat(40)) }],
      ['expired', { token: hs('alice', 'acme', ALL, { exp: Math.floor(Date.now() / 1000) - 600 }) }],
      ['wrong issuer', { token: hs('alice', 'acme', ALL, { iss: 'https://evil.test' }) }],
      ['wrong audience', { token: hs('alice', 'acme', ALL, { aud: 'another-app' }) }],
      ['unknown API key', { apiKey: `flk_${'a'.repeat(12)}_${randomBytes(32).toString('base64url')}` }],
    ];
    for (const [what, init] of cases) {
      const r = await call('/v1/usage', init);
      expect({ what, status: r.status, code: r.body['code'] }).toEqual({ what, status: 401, code: 'UNAUTHENTICATED' });
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="flotilla"/);
    }
    const expired = await call('/v1/usage', { token: hs('alice', 'acme', ALL, { exp: Math.floor(Date.now() / 1000) - 600 }) });
    expect(expired.body['reason']).toBe('expired');
  });

  it('403 for a valid credential that lacks the role or names no tenant', async () => {
    const chatOnly = hs('carol', 'acme', ['chat']);
    const refused = await submit('hello', { token: chatOnly });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'FORBIDDEN', reason: 'role' });
    expect((await call('/v1/dlq', { token: chatOnly })).status).toBe(403);
    expect((await call('/v1/admin/api-keys', { token: hs('dave', 'acme', ALL) })).status).toBe(403);
    const noTenant = await call('/v1/usage', { token: jwt('HS256', { sub: 'frank', roles: ALL }) });
    expect(noTenant).toMatchObject({ status: 403, body: { code: 'FORBIDDEN', reason: 'tenant' } });
  });

  it('accepts HS256 and RS256 (key from the JWKS URL); the tenant comes from the token, X-Tenant-Id cannot change it', async () => {
    const acme = hs('alice', 'acme', ALL);
    const accepted = await submit('What is your return policy?', { token: acme });
    expect(accepted.status).toBe(202);
    const workflowId = accepted.body['workflowId'] as string;
    const own = await call(`/v1/workflows/${workflowId}`, { token: acme });
    expect(own.status).toBe(200);
    expect(own.body['tenantId']).toBe('acme');

    const globex = jwt('RS256', { sub: 'grace', tenant_id: 'globex', roles: ALL });
    const usage = await call('/v1/usage', { token: globex });
    expect(usage).toMatchObject({ status: 200, body: { tenantId: 'globex' } });

    // Naming another tenant next to a credential is refused, never followed.
    const overridden = await call(`/v1/workflows/${workflowId}`, { token: globex, tenant: 'acme' });
    expect(overridden).toMatchObject({ status: 403, body: { code: 'FORBIDDEN', reason: 'tenant' } });
    expect((await submit('hello', { token: acme, tenant: 'globex' })).status).toBe(403);
    // The same tenant named explicitly is fine.
    expect((await call('/v1/usage', { token: acme, tenant: 'acme' })).status).toBe(200);
  });

  it('a signed-in user cannot act as another user', async () => {
    const r = await submit('hello', { token: hs('heidi', 'acme', ALL), userId: 'ivan' });
    expect(r).toMatchObject({ status: 403, body: { reason: 'user' } });
  });
});

describe('tenant isolation of every read', () => {
  const acme = (): string => hs('alice2', 'acme', [...ALL, 'dlq:admin']);
  const globex = (): string => jwt('RS256', { sub: 'grace2', tenant_id: 'globex', roles: [...ALL, 'dlq:admin'] });

  it('workflows: another tenant\'s workflow is 404', async () => {
    const { body } = await submit('Where is my order 1001?', { token: acme() });
    const id = body['workflowId'] as string;
    expect((await call(`/v1/workflows/${id}`, { token: acme() })).status).toBe(200);
    expect((await call(`/v1/workflows/${id}`, { token: globex() })).status).toBe(404);
  });

  it('preferences: a user\'s preferences are per tenant, and only their own', async () => {
    const alice = hs('pref-alice', 'acme', ALL);
    expect((await call('/v1/users/pref-alice/preferences', { method: 'PUT', token: alice, body: { language: 'de' } })).body).toEqual({ language: 'de' });
    expect((await call('/v1/users/pref-alice/preferences', { token: alice })).body).toEqual({ language: 'de' });
    // The same user id in another tenant is another person.
    expect((await call('/v1/users/pref-alice/preferences', { token: jwt('RS256', { sub: 'pref-alice', tenant_id: 'globex', roles: ALL }) })).body).toEqual({});
    // Another user of the same tenant cannot read or write them.
    const bob = hs('pref-bob', 'acme', ALL);
    expect((await call('/v1/users/pref-alice/preferences', { token: bob })).status).toBe(403);
    expect((await call('/v1/users/pref-alice/preferences', { method: 'PUT', token: bob, body: { language: 'fr' } })).status).toBe(403);
    // Another tenant cannot reach them by naming the tenant either.
    expect((await call('/v1/users/pref-alice/preferences', { token: globex(), tenant: 'acme' })).status).toBe(403);
  });

  it('usage: each tenant sees its own', async () => {
    expect((await call('/v1/usage', { token: acme() })).body['tenantId']).toBe('acme');
    expect((await call('/v1/usage', { token: globex() })).body['tenantId']).toBe('globex');
  });

  it('dead letters: another tenant can neither list, read nor act on a record', async () => {
    const store = createDeadLetterStore(storeConfig());
    await store.init();
    const id = `dlq_sec_${randomBytes(4).toString('hex')}`;
    try {
      await store.record({
        id, tenantId: 'acme', data: {
          sourceTopic: 'flotilla.intake.v1', partition: 0, offset: '1', key: id, headers: { 'flotilla-tenant': 'acme' }, payload: '{"bad":true}', payloadEncoding: 'utf8',
          reason: 'requestId: must match', errorCode: 'INVALID_MESSAGE', attempts: 1, consumerGroup: 'flotilla-coordinator', recordedAt: new Date().toISOString(),
        },
      });
    } finally {
      await store.close();
    }
    const listed = (await call('/v1/dlq?limit=200', { token: acme() })).body['items'] as { id: string }[];
    expect(listed.some((i) => i.id === id)).toBe(true);
    expect((await call(`/v1/dlq/${id}`, { token: acme() })).status).toBe(200);
    const theirs = (await call('/v1/dlq?limit=200', { token: globex() })).body['items'] as { id: string; tenantId: string }[];
    expect(theirs.some((i) => i.id === id)).toBe(false);
    expect(theirs.every((i) => i.tenantId === 'globex')).toBe(true);
    expect((await call(`/v1/dlq/${id}`, { token: globex() })).status).toBe(404);
    expect((await call(`/v1/dlq/${id}/discard`, { method: 'POST', token: globex(), body: { reason: 'not mine' } })).status).toBe(404);
    expect((await call(`/v1/dlq/${id}`, { token: globex(), tenant: 'acme' })).status).toBe(403);
  });
});

// ---- API keys -------------------------------------------------------------------------------------

describe('API keys', () => {
  it('are created (shown once), used for their tenant only, revoked (then 401), every change audited', async () => {
    // The bootstrap credential (an operator) creates a service-account key for tenant initech.
    const created = await call('/v1/admin/api-keys', { method: 'POST', apiKey: BOOTSTRAP_KEY, body: { name: 'initech backend', tenantId: 'initech', roles: ['workflows:write', 'workflows:read'] } });
    expect(created.status).toBe(201);
    const key = created.body['key'] as string;
    const keyId = created.body['keyId'] as string;
    sentSecrets.push(key);
    expect(key).toMatch(/^flk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({ keyId, tenantId: 'initech', roles: ['workflows:write', 'workflows:read'], status: 'active', createdBy: `apikey:${BOOTSTRAP_KEY_ID}` });

    // Listed without the key or its hash.
    const listed = await call('/v1/admin/api-keys?tenantId=initech', { apiKey: BOOTSTRAP_KEY });
    const entry = (listed.body['items'] as Record<string, unknown>[]).find((k) => k['keyId'] === keyId)!;
    expect(entry).toMatchObject({ name: 'initech backend', status: 'active' });
    expect(JSON.stringify(listed.body)).not.toContain(key.slice(17));
    expect(entry['hash']).toBeUndefined();

    // Used: the tenant is the key's, whatever the request says.
    const accepted = await submit('hello', { apiKey: key });
    expect(accepted.status).toBe(202);
    expect((await call(`/v1/workflows/${accepted.body['workflowId'] as string}`, { apiKey: key })).body['tenantId']).toBe('initech');
    expect((await submit('hello', { apiKey: key, tenant: 'acme' })).status).toBe(403);
    // A service-account key without admin cannot manage keys (403, not 401).
    expect((await call('/v1/admin/api-keys', { method: 'POST', apiKey: key, body: { name: 'x', roles: ['chat'] } })).status).toBe(403);

    // A tenant admin manages its own tenant's keys only, and cannot grant operator.
    const admin = await call('/v1/admin/api-keys', { method: 'POST', apiKey: BOOTSTRAP_KEY, body: { name: 'initech admin', tenantId: 'initech', roles: ['admin'] } });
    const adminKey = admin.body['key'] as string;
    sentSecrets.push(adminKey);
    expect((await call('/v1/admin/api-keys', { method: 'POST', apiKey: adminKey, body: { name: 'for acme', tenantId: 'acme', roles: ['chat'] } })).status).toBe(403);
    expect((await call('/v1/admin/api-keys', { method: 'POST', apiKey: adminKey, body: { name: 'escalate', roles: ['operator'] } })).status).toBe(403);
    expect((await call('/v1/admin/api-keys', { method: 'POST', apiKey: adminKey, body: { name: 'bad role', roles: ['root'] } })).status).toBe(400);
    expect((await call('/v1/admin/api-keys?tenantId=acme', { apiKey: adminKey })).status).toBe(403);
    expect((await call(`/v1/admin/api-keys/${BOOTSTRAP_KEY_ID}`, { method: 'DELETE', apiKey: adminKey })).status).toBe(404);

    // Revoked: 401 at once, and a second revoke is a conflict.
    const revoked = await call(`/v1/admin/api-keys/${keyId}`, { method: 'DELETE', apiKey: adminKey });
    expect(revoked).toMatchObject({ status: 200, body: { keyId, status: 'revoked' } });
    const after = await submit('hello', { apiKey: key });
    expect(after).toMatchObject({ status: 401, body: { reason: 'revoked' } });
    expect(after.headers.get('www-authenticate')).toContain('invalid_token');
    expect((await call(`/v1/admin/api-keys/${keyId}`, { method: 'DELETE', apiKey: adminKey })).status).toBe(409);

    // The audit chain has both changes (who, which key, never the key) and the gateway's boot configuration, and it verifies.
    const audit = createAuditLog(storeConfig());
    await audit.init();
    let records: AuditRecord[];
    try {
      records = await audit.list({ limit: 10_000 });
    } finally {
      await audit.close();
    }
    const ofKey = records.filter((r) => r.subject === `apikey:${keyId}`);
    expect(ofKey.map((r) => r.action).sort()).toEqual(['apikey.created', 'apikey.revoked']);
    expect(ofKey.find((r) => r.action === 'apikey.created')).toMatchObject({ tenantId: 'initech', actor: `apikey:${BOOTSTRAP_KEY_ID}`, details: { keyId, roles: ['workflows:write', 'workflows:read'] } });
    expect(ofKey.find((r) => r.action === 'apikey.revoked')).toMatchObject({ tenantId: 'initech', actor: `apikey:${adminKey.slice(4, 16)}` });
    const boot = records.find((r) => r.action === 'config.effective' && r.subject === 'config:gateway');
    expect(boot?.details['sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect((boot?.details['config'] as Record<string, unknown>)['AUTH_REQUIRED']).toBe(true);
    expect((boot?.details['config'] as Record<string, unknown>)['AUTH_JWT_SECRET']).toBe('[redacted]');
    const everything = JSON.stringify(records);
    for (const secret of [key, adminKey, BOOTSTRAP_KEY, HS_SECRET]) expect(everything).not.toContain(secret);

    const env = sut.mode === 'embedded' ? { FLOTILLA_DATA_DIR: sut.dataDir, FLOTILLA_MODE: 'embedded' } : { FLOTILLA_MODE: 'distributed', MONGO_URL: sut.mongoUrl };
    const out = execFileSync(process.execPath, [join(__dirname, '../../scripts/audit-verify.mjs')], { env: { ...process.env, ...env }, timeout: 30_000 }).toString();
    expect(JSON.parse(out)).toMatchObject({ ok: true });
    expect((JSON.parse(out) as { records: number }).records).toBeGreaterThanOrEqual(3);
  });
});

// ---- rate limits --------------------------------------------------------------------------------

describe('rate limits', () => {
  it('per user: the 4th submission in a minute is 429 with Retry-After; another user of the tenant goes on', async () => {
    const user = hs('rl-user', 'rl-a', ALL);
    for (let i = 0; i < USER_LIMIT; i++) expect((await submit('hello', { token: user })).status).toBe(202);
    const refused = await submit('hello', { token: user });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'RATE_LIMITED', scope: 'user' });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect((await submit('hello', { token: hs('rl-other', 'rl-a', ALL) })).status).toBe(202);
  });

  it('per tenant: past the tenant\'s limit every user of it is refused, other tenants are not', async () => {
    const statuses: number[] = [];
    for (const u of ['t1', 't2', 't3']) for (let i = 0; i < USER_LIMIT; i++) statuses.push((await submit('hello', { token: hs(`rl-${u}`, 'rl-b', ALL) })).status);
    expect(statuses.slice(0, TENANT_LIMIT)).toEqual(Array(TENANT_LIMIT).fill(202));
    expect(statuses[TENANT_LIMIT]).toBe(429);
    const refused = await submit('hello', { token: hs('rl-t4', 'rl-b', ALL) });
    expect(refused).toMatchObject({ status: 429, body: { code: 'RATE_LIMITED', scope: 'tenant' } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await submit('hello', { token: hs('rl-t5', 'rl-c', ALL) })).status).toBe(202);
  });
});

// ---- WebSocket ------------------------------------------------------------------------------------

describe('WebSocket authentication', () => {
  it('refuses the upgrade with 401 without or with a bad credential, 403 without the chat role or for another tenant', async () => {
    const none = await connect();
    expect(none.status).toBe(401);
    expect(none.wwwAuthenticate).toMatch(/^Bearer/);
    expect((await connect({ query: '?tenant=acme' })).status).toBe(401);
    expect((await connect({ headers: { authorization: 'Bearer nope.nope.nope' } })).status).toBe(401);
    expect((await connect({ headers: { authorization: `Bearer ${hs('w', 'acme', ['chat'], { exp: Math.floor(Date.now() / 1000) - 600 })}` } })).status).toBe(401);
    expect((await connect({ headers: { authorization: `Bearer ${hs('w', 'acme', ['workflows:read'])}` } })).status).toBe(403);
    expect((await connect({ headers: { authorization: `Bearer ${hs('w', 'acme', ['chat'])}` }, query: '?tenant=globex' })).status).toBe(403);
  });

  it('accepts a credential in the Authorization header, the bearer. subprotocol or ?access_token=, with the credential\'s tenant', async () => {
    const viaHeader = await connect({ headers: { authorization: `Bearer ${jwt('RS256', { sub: 'ws-1', tenant_id: 'globex', roles: ['chat'] })}` } });
    expect(viaHeader.socket!.frames[0]).toMatchObject({ type: 'welcome', tenantId: 'globex' });
    viaHeader.socket!.ws.close();
    const viaProtocol = await connect({ protocols: ['flotilla.chat.v1', `bearer.${hs('ws-2', 'acme', ['chat'])}`] });
    expect(viaProtocol.socket!.frames[0]).toMatchObject({ type: 'welcome', tenantId: 'acme' });
    // The server picks the chat protocol, never echoes the credential.
    expect(viaProtocol.socket!.ws.protocol).toBe('flotilla.chat.v1');
    viaProtocol.socket!.ws.close();
    const viaQuery = await connect({ query: `?access_token=${hs('ws-3', 'acme', ['chat'])}` });
    expect(viaQuery.socket!.frames[0]).toMatchObject({ type: 'welcome', tenantId: 'acme' });
    viaQuery.socket!.ws.close();
  });

  it('closes a connection when its token expires (close code 4401)', async () => {
    const { socket } = await connect({ headers: { authorization: `Bearer ${hs('ws-short', 'acme', ['chat'], { exp: Math.floor(Date.now() / 1000) + 3 })}` } });
    const closed = await new Promise<{ code: number; ms: number }>((resolve) => {
      const started = Date.now();
      socket!.ws.once('close', (code) => resolve({ code, ms: Date.now() - started }));
    });
    expect(closed.code).toBe(4401);
    // exp (3 s) plus the clock tolerance (2 s), not earlier and not much later.
    expect(closed.ms).toBeGreaterThan(2_500);
    expect(closed.ms).toBeLessThan(8_000);
  });

  it('a connection opened with an API key ends when the key is revoked: its next ask gets UNAUTHENTICATED and the socket closes with 4401', async () => {
    const created = await call('/v1/admin/api-keys', { method: 'POST', apiKey: BOOTSTRAP_KEY, body: { name: 'kiosk', tenantId: 'acme', roles: ['chat'] } });
    expect(created.status).toBe(201);
    const key = (created.body as { key: string }).key;
    const keyId = (created.body as { keyId: string }).keyId;
    sentSecrets.push(key);
    const { socket } = await connect({ headers: { 'x-api-key': key } });
    const s = socket!;
    s.send({ type: 'ask', question: 'What is your return policy?' });
    await s.next((f) => f.type === 'accepted');
    expect((await call(`/v1/admin/api-keys/${keyId}`, { method: 'DELETE', apiKey: BOOTSTRAP_KEY })).status).toBe(200);
    const closed = new Promise<number>((resolve) => s.ws.once('close', (code) => resolve(code)));
    const from = s.frames.length;
    s.send({ type: 'ask', question: 'And my order 1001?' });
    expect(await s.next((f) => f.type === 'error', 30_000, from)).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await closed).toBe(4401);
    expect(s.frames.slice(from).some((f) => f.type === 'accepted')).toBe(false);
  });

  it('asks as the token\'s user only: naming another user is a FORBIDDEN frame; a proper ask is accepted for the token\'s tenant and user', async () => {
    const { socket } = await connect({ headers: { authorization: `Bearer ${hs('ws-asker', 'acme', ['chat', 'workflows:read'])}` } });
    const s = socket!;
    try {
      s.send({ type: 'ask', question: 'What is your return policy?', userId: 'someone-else' });
      expect(await s.next((f) => f.type === 'error')).toMatchObject({ code: 'FORBIDDEN' });
      const from = s.frames.length;
      s.send({ type: 'ask', question: 'What is your return policy?', userId: 'ws-asker' });
      const accepted = await s.next((f) => f.type === 'accepted' || f.type === 'error', 15_000, from);
      expect(accepted.type).toBe('accepted');
      // (Answering is the workflow suites' business; here: whose workflow it is.)
      const wf = await call(`/v1/workflows/${accepted['workflowId'] as string}`, { token: hs('ws-asker', 'acme', ['workflows:read']) });
      expect(wf.body['tenantId']).toBe('acme');
      expect((await call(`/v1/workflows/${accepted['workflowId'] as string}`, { token: jwt('RS256', { sub: 'x', tenant_id: 'globex', roles: ALL }) })).status).toBe(404);
      // The submission is audited as the token's user.
      const audit = createAuditLog(storeConfig());
      await audit.init();
      try {
        const [submitted] = await audit.list({ subject: accepted['workflowId'] as string, limit: 10 });
        expect(submitted).toMatchObject({ action: 'workflow.submitted', actor: 'user:ws-asker', tenantId: 'acme', details: { channel: 'chat' } });
      } finally {
        await audit.close();
      }
    } finally {
      s.ws.close();
    }
  });

  it('limits asks per user with a RATE_LIMITED frame carrying retryAfterSeconds; the socket stays open', async () => {
    const { socket } = await connect({ headers: { authorization: `Bearer ${hs('ws-rl', 'ws-rl-tenant', ['chat'])}` } });
    const s = socket!;
    try {
      const outcomes: Frame[] = [];
      for (let i = 0; i <= USER_LIMIT; i++) {
        const from = s.frames.length;
        s.send({ type: 'ask', question: 'hello', requestId: `ws-rl-${i}-${Date.now()}` });
        outcomes.push(await s.next((f) => f.type === 'accepted' || f.type === 'error', 15_000, from));
      }
      expect(outcomes.slice(0, USER_LIMIT).map((f) => f.type)).toEqual(Array(USER_LIMIT).fill('accepted'));
      expect(outcomes[USER_LIMIT]).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
      expect(outcomes[USER_LIMIT]!['retryAfterSeconds']).toBeGreaterThanOrEqual(1);
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      s.ws.close();
    }
  });

  it('limits frames per connection: a burst gets RATE_LIMITED error frames, the socket stays open and serves again after a pause', async () => {
    const { socket } = await connect({ headers: { authorization: `Bearer ${hs('ws-burst', 'acme', ['chat'])}` } });
    const s = socket!;
    try {
      const from = s.frames.length;
      for (let i = 0; i < 4 * FRAMES_PER_SECOND; i++) s.send({ type: 'ping' });
      await s.next((f) => f.type === 'error' && f['code'] === 'RATE_LIMITED', 10_000, from);
      await new Promise((r) => setTimeout(r, 300));
      const burst = s.frames.slice(from);
      const limited = burst.filter((f) => f.type === 'error' && f['code'] === 'RATE_LIMITED');
      expect(burst.filter((f) => f.type === 'pong').length).toBeGreaterThanOrEqual(FRAMES_PER_SECOND);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]!['retryAfterSeconds']).toBeGreaterThanOrEqual(1);
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
      await new Promise((r) => setTimeout(r, 1500));
      const later = s.frames.length;
      s.send({ type: 'ping' });
      expect((await s.next((f) => f.type === 'pong' || f.type === 'error', 5_000, later)).type).toBe('pong');
    } finally {
      s.ws.close();
    }
  });
});

// ---- logs ---------------------------------------------------------------------------------------

describe('logs', () => {
  it('record refused requests without any credential that was sent', () => {
    const logs = gatewayLogs();
    expect(logs).toContain('request refused: not authenticated');
    for (const secret of sentSecrets) expect({ leaked: logs.includes(secret) ? secret.slice(0, 24) : null }).toEqual({ leaked: null });
  });
});
