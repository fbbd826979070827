import { ErrorCode, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { ApiKeyLookup, ApiKeyRecord, apiKeyMatches, hashApiKey, parseApiKey } from './api-key';
import { Forbidden, Unauthenticated } from './errors';
import { JwtVerifier, jwtOptionsFrom, looksLikeJwt } from './jwt';
import { ANONYMOUS_ROLES, ID_PATTERN, Principal } from './principal';

/** Request headers as Node gives them (lower-case names). */
export type HeaderBag = Record<string, string | string[] | undefined>;

/** Where a credential was found, for error messages and logs. */
export interface Credential {
  token: string;
  source: 'authorization' | 'x-api-key' | 'query' | 'subprotocol';
}

export interface AuthenticatorOptions {
  /** AUTH_REQUIRED: refuse requests without a credential. */
  required: boolean;
  jwt: JwtVerifier;
  apiKeys: ApiKeyLookup;
  /** AUTH_BOOTSTRAP_API_KEY and its tenant: an operator credential that needs no stored record. */
  bootstrap?: { key: string; tenantId: string };
  /** How long a looked-up API key record is trusted (ms). */
  apiKeyCacheMs?: number;
  now?: () => number;
}

/**
 * For the edge that authenticates people (the gateway): with AUTH_REQUIRED and no way to
 * authenticate anyone — no JWT key, no JWKS, no bootstrap key to create the first API key — it
 * could only ever answer 401, so it refuses to start. Services that only check API keys (the
 * coordinator's intake) do not need this.
 */
export function requireAuthenticationMethod(config: FlotillaConfig): void {
  if (config.AUTH_REQUIRED && !config.AUTH_JWT_SECRET && !config.AUTH_JWKS_URL && !config.AUTH_BOOTSTRAP_API_KEY) {
    throw new FlotillaError(ErrorCode.ConfigInvalid, 'invalid configuration: AUTH_REQUIRED needs at least one of AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_BOOTSTRAP_API_KEY', {
      retryable: false, fields: [{ field: 'AUTH_REQUIRED', reasons: ['needs at least one of AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_BOOTSTRAP_API_KEY'] }],
    });
  }
}

/** Builds the authenticator a service uses from its configuration and its API key store. */
export function authenticatorFrom(config: FlotillaConfig, apiKeys: ApiKeyLookup): Authenticator {
  return new Authenticator({
    required: config.AUTH_REQUIRED,
    jwt: new JwtVerifier(jwtOptionsFrom(config)),
    apiKeys,
    bootstrap: config.AUTH_BOOTSTRAP_API_KEY ? { key: config.AUTH_BOOTSTRAP_API_KEY, tenantId: config.AUTH_BOOTSTRAP_TENANT } : undefined,
    apiKeyCacheMs: config.AUTH_API_KEY_CACHE_MS,
  });
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/**
 * The credential a request carries: `Authorization: Bearer <jwt or API key>`,
 * `Authorization: ApiKey <key>` or `X-Api-Key: <key>`. Two different credentials are refused
 * rather than guessed between.
 */
export function credentialFrom(headers: HeaderBag): Credential | undefined {
  const found: Credential[] = [];
  const auth = first(headers['authorization'])?.trim();
  if (auth) {
    const m = /^(Bearer|ApiKey)\s+(\S+)$/i.exec(auth);
    if (!m) throw new Unauthenticated('malformed', 'Authorization must be "Bearer <token>" or "ApiKey <key>"');
    found.push({ token: m[2]!, source: 'authorization' });
  }
  const apiKey = first(headers['x-api-key'])?.trim();
  if (apiKey) found.push({ token: apiKey, source: 'x-api-key' });
  if (found.length === 2 && found[0]!.token !== found[1]!.token) throw new Unauthenticated('malformed', 'two different credentials given');
  return found[0];
}

/**
 * Turns a request's credential into a Principal or throws Unauthenticated (401). A credential that
 * proves who the caller is but names no usable tenant is Forbidden (403). With AUTH_REQUIRED off, a
 * request without any credential is anonymous for the tenant the request names (development); a
 * credential given anyway is still verified and wins.
 */
export class Authenticator {
  private readonly cache = new Map<string, { record: ApiKeyRecord | null; until: number }>();
  private readonly now: () => number;
  private readonly bootstrapHash?: string;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? Date.now;
    if (options.bootstrap) this.bootstrapHash = hashApiKey(options.bootstrap.key);
  }

  get required(): boolean {
    return this.options.required;
  }

  /**
   * @param headers the request's headers
   * @param extra a credential found elsewhere (WebSocket `?access_token=` or `bearer.` subprotocol)
   * @param anonymousTenant the tenant an anonymous request names (`X-Tenant-Id`, `?tenant=`), used only when AUTH_REQUIRED is off
   */
  async authenticate(headers: HeaderBag, extra?: Credential, anonymousTenant?: string): Promise<Principal> {
    let credential = credentialFrom(headers);
    if (extra) {
      if (credential && credential.token !== extra.token) throw new Unauthenticated('malformed', 'two different credentials given');
      credential = extra;
    }
    if (!credential) {
      if (this.options.required) throw new Unauthenticated('missing');
      const tenantId = anonymousTenant === undefined || anonymousTenant === '' ? 'public' : anonymousTenant;
      if (!ID_PATTERN.test(tenantId)) throw new Forbidden('tenant must be 1-128 characters of letters, digits, _ . : -', 'tenant');
      return { tenantId, roles: ANONYMOUS_ROLES, via: 'anonymous', subject: 'anonymous' };
    }
    return this.verifyToken(credential.token);
  }

  /** Verifies one token: an API key (`flk_…`) or a JWT. */
  async verifyToken(token: string): Promise<Principal> {
    if (token.startsWith('flk_')) return this.verifyApiKey(token);
    if (looksLikeJwt(token)) {
      if (!this.options.jwt.enabled) throw new Unauthenticated('unsupported', 'no JWT keys configured');
      const claims = await this.options.jwt.verify(token);
      if (!claims.tenantId || !ID_PATTERN.test(claims.tenantId)) throw new Forbidden('the token names no valid tenant', 'tenant');
      if (!ID_PATTERN.test(claims.sub)) throw new Forbidden('the token\'s subject is not a valid user id', 'user');
      return { tenantId: claims.tenantId, userId: claims.sub, roles: claims.roles, via: 'jwt', subject: `user:${claims.sub}`, expiresAt: claims.expiresAt };
    }
    throw new Unauthenticated('malformed', 'neither an API key nor a JWT');
  }

  /** Verifies an API key against the bootstrap key or its stored record. */
  async verifyApiKey(key: string): Promise<Principal> {
    const parsed = parseApiKey(key);
    if (!parsed) throw new Unauthenticated('malformed', 'not an API key');
    if (this.options.bootstrap && this.bootstrapHash && apiKeyMatches(key, this.bootstrapHash)) {
      return { tenantId: this.options.bootstrap.tenantId, keyId: parsed.keyId, roles: ['admin', 'operator'], via: 'api-key', subject: `apikey:${parsed.keyId}` };
    }
    const record = await this.lookup(parsed.keyId);
    if (!record || !apiKeyMatches(key, record.hash)) throw new Unauthenticated('invalid', `unknown API key ${parsed.keyId}`);
    if (record.revokedAt) throw new Unauthenticated('revoked', `API key ${parsed.keyId} was revoked`);
    if (record.expiresAt && Date.parse(record.expiresAt) <= this.now()) throw new Unauthenticated('expired', `API key ${parsed.keyId} expired`);
    return {
      tenantId: record.tenantId, keyId: record.keyId, roles: record.roles, via: 'api-key', subject: `apikey:${record.keyId}`,
      ...(record.expiresAt ? { expiresAt: Date.parse(record.expiresAt) } : {}),
    };
  }

  /** Forgets a cached key at once (this replica revoked it); other replicas forget it within apiKeyCacheMs. */
  forget(keyId: string): void {
    this.cache.delete(keyId);
  }

  private async lookup(keyId: string): Promise<ApiKeyRecord | null> {
    const ttl = this.options.apiKeyCacheMs ?? 5000;
    const hit = this.cache.get(keyId);
    if (hit && hit.until > this.now()) return hit.record;
    const record = await this.options.apiKeys.findByKeyId(keyId);
    // Only found keys are cached: a key created on another replica works there at once.
    if (record && ttl > 0) {
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(keyId, { record, until: this.now() + ttl });
    }
    return record;
  }
}
