import { Authenticator } from './authenticator';
import { Forbidden, Unauthenticated } from './errors';
import { hasRole, Principal } from './principal';

/** Kafka header an outside publisher puts its API key in, on every message it publishes onto an intake topic. */
export const INTAKE_API_KEY_HEADER = 'flotilla-api-key';

/** The role an API key needs to publish onto the intake topics. */
export const INTAKE_ROLE = 'intake:publish';

/**
 * Checks an intake message's publisher: the API key in header `flotilla-api-key` must be valid
 * (else Unauthenticated), hold `intake:publish` (else Forbidden) and belong to the tenant the
 * message claims (else Forbidden) — a publisher can never start work for another tenant. Both
 * errors are FlotillaErrors with `retryable: false`: the message belongs in the dead-letter topic.
 *
 * @param authenticator the service's authenticator (`authenticatorFrom(config, createApiKeyStore(config))`)
 * @param headers the message's headers (string or Buffer values, as Kafka gives them)
 * @param claimedTenantId the message's `data.tenantId`
 * @returns the publisher's principal (its `subject`, `apikey:<keyId>`, is what to audit as the actor)
 */
export async function verifyIntakePublisher(
  authenticator: Authenticator,
  headers: Readonly<Record<string, string | Buffer | undefined>>,
  claimedTenantId: string,
): Promise<Principal> {
  const raw = headers[INTAKE_API_KEY_HEADER];
  const key = raw === undefined ? '' : (typeof raw === 'string' ? raw : raw.toString('utf8')).trim();
  if (!key) throw new Unauthenticated('missing', `no ${INTAKE_API_KEY_HEADER} header`);
  const principal = await authenticator.verifyApiKey(key);
  if (!hasRole(principal, INTAKE_ROLE)) throw new Forbidden(`API key ${principal.keyId ?? ''} may not publish onto intake topics (needs role ${INTAKE_ROLE})`, 'role');
  if (principal.tenantId !== claimedTenantId) {
    throw new Forbidden(`API key ${principal.keyId ?? ''} belongs to tenant ${principal.tenantId}, not ${claimedTenantId}`, 'tenant');
  }
  return principal;
}
