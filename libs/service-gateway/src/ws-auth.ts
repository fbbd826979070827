import type { IncomingMessage } from 'node:http';
import { Authenticator, Credential, Forbidden, hasRole, ID_PATTERN, Principal, Unauthenticated } from '@flotilla/auth';
import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { challenge } from './auth-errors';

const log = createLogger({ service: 'gateway', component: 'chat-auth' });

/** Subprotocol prefix that carries a credential from browsers, which cannot set headers on a WebSocket. */
export const BEARER_SUBPROTOCOL = 'bearer.';

/** A credential given at upgrade outside the headers: the `bearer.<token>` subprotocol or `?access_token=`. */
export function upgradeCredential(req: IncomingMessage): Credential | undefined {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const sub = offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL));
  if (sub) return { token: sub.slice(BEARER_SUBPROTOCOL.length), source: 'subprotocol' };
  const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('access_token');
  return token ? { token, source: 'query' } : undefined;
}

/** The subprotocol the server answers with: the chat protocol when offered, never the credential. */
export function selectProtocol(protocols: Set<string>, chatProtocol: string): string | false {
  return protocols.has(chatProtocol) ? chatProtocol : false;
}

export type UpgradeDecision = { ok: true; principal: Principal } | { ok: false; status: 401 | 403 | 503; message: string; headers?: Record<string, string> };

/**
 * Authenticates a WebSocket upgrade, before the connection exists: no or a bad credential is an
 * HTTP 401 (with WWW-Authenticate), a credential without the `chat` role or for another tenant than
 * `?tenant=` names is a 403. Anonymous (AUTH_REQUIRED off) connections get their tenant from
 * `?tenant=` when they open, as before.
 */
export async function authenticateUpgrade(auth: Authenticator, req: IncomingMessage): Promise<UpgradeDecision> {
  try {
    const principal = await auth.authenticate(req.headers, upgradeCredential(req), undefined);
    const named = new URL(req.url ?? '/', 'http://localhost').searchParams.get('tenant');
    if (principal.via !== 'anonymous' && named !== null && named !== principal.tenantId) {
      throw new Forbidden(`?tenant=${ID_PATTERN.test(named) ? named : '…'} is not the credential's tenant`, 'tenant');
    }
    if (!hasRole(principal, 'chat')) throw new Forbidden('needs role chat', 'role');
    return { ok: true, principal };
  } catch (err) {
    if (err instanceof Unauthenticated) {
      log.info('chat upgrade refused: not authenticated', { reason: err.reason, detail: err.detail });
      return { ok: false, status: 401, message: 'Unauthorized', headers: { 'WWW-Authenticate': challenge(err) } };
    }
    if (err instanceof Forbidden) return { ok: false, status: 403, message: 'Forbidden' };
    if (err instanceof FlotillaError && err.code === ErrorCode.DependencyUnavailable) {
      log.warn('chat upgrade refused: credentials cannot be checked', { err });
      return { ok: false, status: 503, message: 'Service Unavailable' };
    }
    log.error('chat upgrade authentication failed', { err });
    return { ok: false, status: 503, message: 'Service Unavailable' };
  }
}
