import { ApiKeyRecord, generateApiKey } from './api-key';
import { Authenticator } from './authenticator';
import { Forbidden, Unauthenticated } from './errors';
import { INTAKE_API_KEY_HEADER, verifyIntakePublisher } from './intake';
import { JwtVerifier } from './jwt';

describe('verifyIntakePublisher', () => {
  const records = new Map<string, ApiKeyRecord>();
  const auth = new Authenticator({ required: true, jwt: new JwtVerifier({}), apiKeys: { findByKeyId: async (id) => records.get(id) ?? null } });
  const add = (tenantId: string, roles: string[]): string => {
    const { key, keyId, hash } = generateApiKey();
    records.set(keyId, { keyId, hash, tenantId, roles, name: 'publisher', createdAt: '2026-01-01T00:00:00.000Z', createdBy: 'test' });
    return key;
  };

  it('returns the publisher when its key holds intake:publish for the message\'s tenant (string or Buffer header)', async () => {
    const key = add('acme', ['intake:publish']);
    await expect(verifyIntakePublisher(auth, { [INTAKE_API_KEY_HEADER]: key }, 'acme')).resolves.toMatchObject({ tenantId: 'acme', via: 'api-key' });
    await expect(verifyIntakePublisher(auth, { [INTAKE_API_KEY_HEADER]: Buffer.from(key) }, 'acme')).resolves.toMatchObject({ tenantId: 'acme' });
  });

  it('refuses a message without a key, or with an unknown key (Unauthenticated, not retryable)', async () => {
    const missing = await verifyIntakePublisher(auth, {}, 'acme').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Unauthenticated);
    expect((missing as Unauthenticated).retryable).toBe(false);
    await expect(verifyIntakePublisher(auth, { [INTAKE_API_KEY_HEADER]: generateApiKey().key }, 'acme')).rejects.toBeInstanceOf(Unauthenticated);
  });

  it('refuses a key of another tenant than the message claims, and a key without intake:publish (Forbidden)', async () => {
    await expect(verifyIntakePublisher(auth, { [INTAKE_API_KEY_HEADER]: add('acme', ['intake:publish']) }, 'globex')).rejects.toMatchObject({ reason: 'tenant' });
    const noRole = await verifyIntakePublisher(auth, { [INTAKE_API_KEY_HEADER]: add('acme', ['workflows:write']) }, 'acme').catch((e: unknown) => e);
    expect(noRole).toBeInstanceOf(Forbidden);
    expect((noRole as Forbidden).reason).toBe('role');
  });
});
