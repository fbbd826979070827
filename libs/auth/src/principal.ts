/** How a principal proved who it is. */
export type CredentialKind = 'jwt' | 'api-key' | 'anonymous';

/**
 * Roles a credential can hold. `admin` holds every tenant-level role of its tenant and manages
 * its API keys; `operator` manages API keys of any tenant; `intake:publish` may publish
 * SubmitRequest onto the intake topic directly.
 */
export const ROLES = ['chat', 'workflows:read', 'workflows:write', 'dlq:admin', 'admin', 'operator', 'intake:publish'] as const;
export type Role = (typeof ROLES)[number];

/** Roles `admin` implies (not `operator`, which crosses tenants, nor `intake:publish`). */
const ADMIN_IMPLIES: readonly string[] = ['chat', 'workflows:read', 'workflows:write', 'dlq:admin'];

/** What a request may do without a credential when AUTH_REQUIRED is off (development): what it could before authentication existed. */
export const ANONYMOUS_ROLES: readonly Role[] = ['chat', 'workflows:read', 'workflows:write', 'dlq:admin'];

/** Who is acting: the tenant always comes from the credential (or, in development without one, from the request). */
export interface Principal {
  tenantId: string;
  /** The end user (a JWT's `sub`); absent for API keys (service accounts) and anonymous requests. */
  userId?: string;
  /** The API key's id, when the credential is an API key. */
  keyId?: string;
  roles: readonly string[];
  via: CredentialKind;
  /** Stable name for audit records and per-user limits: `user:<sub>`, `apikey:<keyId>` or `anonymous`. */
  subject: string;
  /** When the credential stops being valid (epoch ms): a JWT's `exp`, an API key's expiry. Long-lived connections end then. */
  expiresAt?: number;
}

/** Whether the principal holds `role` (directly, or through `admin`). */
export function hasRole(principal: Principal, role: string): boolean {
  return principal.roles.includes(role) || (principal.roles.includes('admin') && ADMIN_IMPLIES.includes(role));
}

/** Whether the principal holds at least one of `roles`. */
export function hasAnyRole(principal: Principal, roles: readonly string[]): boolean {
  return roles.some((r) => hasRole(principal, r));
}

/** Tenant and user ids: letters, digits and `_ . : -`, 1 to 128 characters. */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
