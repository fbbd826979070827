import { ErrorCode, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { Unauthenticated } from './errors';
import { jose, Jose } from './jose';

/** What a verified token says. */
export interface VerifiedClaims {
  sub: string;
  /** `exp`, in epoch milliseconds. */
  expiresAt: number;
  /** The tenant claim's value, when it is a string. */
  tenantId?: string;
  roles: string[];
}

export interface JwtVerifierOptions {
  /** HS256 shared secret; unset = HS256 refused. */
  secret?: string;
  /** JWKS of the identity provider for RS256; unset = RS256 refused. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  tenantClaim?: string;
  rolesClaim?: string;
  clockToleranceSeconds?: number;
  /** Resolves keys for RS256 instead of fetching jwksUrl (tests). */
  keys?: Jose.JWTVerifyGetKey;
}

/** Options from the configuration. */
export function jwtOptionsFrom(config: FlotillaConfig): JwtVerifierOptions {
  return {
    secret: config.AUTH_JWT_SECRET, jwksUrl: config.AUTH_JWKS_URL, issuer: config.AUTH_JWT_ISSUER, audience: config.AUTH_JWT_AUDIENCE,
    tenantClaim: config.AUTH_TENANT_CLAIM, rolesClaim: config.AUTH_ROLES_CLAIM, clockToleranceSeconds: config.AUTH_CLOCK_TOLERANCE_SECONDS,
  };
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Whether a string has the shape of a compact JWS (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return JWT_SHAPE.test(token);
}

function rolesOf(payload: Jose.JWTPayload, claim: string): string[] {
  const out = new Set<string>();
  const add = (v: unknown): void => {
    if (Array.isArray(v)) for (const r of v) if (typeof r === 'string' && r) out.add(r);
    if (typeof v === 'string') for (const r of v.split(/\s+/)) if (r) out.add(r);
  };
  add(payload[claim]);
  add(payload['scope']);
  add(payload['scp']);
  return [...out];
}

/**
 * Verifies JWTs: HS256 with the shared secret, RS256 with the identity provider's JWKS (fetched,
 * cached and refetched on an unknown `kid` by jose). The algorithm is chosen by which key the
 * deployment configured, never by the token alone: an HS256 token cannot be checked against a
 * public key, `alg: none` is never accepted. `exp` is required; `iss`/`aud` when configured.
 */
export class JwtVerifier {
  private readonly secret?: Uint8Array;
  private readonly keys?: Jose.JWTVerifyGetKey;

  constructor(private readonly options: JwtVerifierOptions) {
    // A Buffer, not a TextEncoder's array: it is a Uint8Array in jose's realm too (see ./jose).
    if (options.secret) this.secret = Buffer.from(options.secret, 'utf8');
    this.keys = options.keys ?? (options.jwksUrl ? jose.createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 5_000 }) : undefined);
  }

  /** Whether any JWT can be accepted at all. */
  get enabled(): boolean {
    return !!this.secret || !!this.keys;
  }

  async verify(token: string): Promise<VerifiedClaims> {
    if (!looksLikeJwt(token)) throw new Unauthenticated('malformed', 'not a compact JWS');
    let alg: string | undefined;
    try {
      alg = jose.decodeProtectedHeader(token).alg;
    } catch {
      throw new Unauthenticated('malformed', 'unreadable JWT header');
    }
    const common = {
      issuer: this.options.issuer, audience: this.options.audience, clockTolerance: this.options.clockToleranceSeconds ?? 30,
      requiredClaims: ['exp', 'sub'],
    };
    let result: Jose.JWTVerifyResult;
    try {
      if (alg === 'HS256' && this.secret) result = await jose.jwtVerify(token, this.secret, { ...common, algorithms: ['HS256'] });
      else if (alg === 'RS256' && this.keys) result = await jose.jwtVerify(token, this.keys, { ...common, algorithms: ['RS256'] });
      else throw new Unauthenticated('unsupported', `JWT alg ${String(alg)} is not accepted by this deployment`);
    } catch (err) {
      if (err instanceof Unauthenticated) throw err;
      const code = (err as { code?: unknown }).code;
      if (code === 'ERR_JWT_EXPIRED') throw new Unauthenticated('expired', 'JWT expired');
      // The identity provider's keys could not be fetched: the token may be fine, so this is a
      // 503 the client can retry, not a 401 that would send it to log in again.
      if (code === 'ERR_JWKS_TIMEOUT' || code === undefined) {
        throw new FlotillaError(ErrorCode.DependencyUnavailable, `JWT keys unavailable: ${(err as Error).message}`, { retryable: true, cause: err });
      }
      throw new Unauthenticated('invalid', `${String(code)}: ${(err as Error).message}`);
    }
    const { payload } = result;
    const tenantClaim = this.options.tenantClaim ?? 'tenant_id';
    const tenant = payload[tenantClaim];
    return { sub: payload.sub!, expiresAt: payload.exp! * 1000, tenantId: typeof tenant === 'string' ? tenant : undefined, roles: rolesOf(payload, this.options.rolesClaim ?? 'roles') };
  }
}
