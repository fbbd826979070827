import { randomBytes } from 'node:crypto';
import { ApiKeyStore, StoredApiKey } from '../api-key-store';

/**
 * The behaviours every ApiKeyStore adapter must share. `make(count)` returns `count` independent
 * instances over one fresh storage, as separate gateway replicas hold them.
 */
export interface ApiKeyStoresUnderTest {
  stores: ApiKeyStore[];
  cleanup(): Promise<void>;
}

const TIMEOUT_MS = 60_000;

export function runApiKeyStoreConformance(name: string, make: (count: number) => Promise<ApiKeyStoresUnderTest>): void {
  describe(`ApiKeyStore conformance: ${name}`, () => {
    let made: ApiKeyStoresUnderTest;
    let store: ApiKeyStore;

    beforeAll(async () => {
      made = await make(3);
      await Promise.all(made.stores.map((s) => s.init()));
      store = made.stores[0]!;
    }, TIMEOUT_MS);

    afterAll(async () => {
      await Promise.all((made?.stores ?? []).map((s) => s.close()));
      await made?.cleanup();
    }, TIMEOUT_MS);

    const key = (tenantId: string, createdAt: string, extra: Partial<StoredApiKey> = {}): StoredApiKey => ({
      keyId: randomBytes(6).toString('hex'), hash: randomBytes(32).toString('hex'), tenantId, name: 'test key', roles: ['chat', 'workflows:read'],
      createdAt, createdBy: 'user:admin', ...extra,
    });

    it('stores a key and finds it by id (with its roles and expiry), another replica too', async () => {
      const k = key('acme', '2026-11-21T10:00:00.000Z', { expiresAt: '2027-01-01T00:00:00.000Z' });
      await store.create(k);
      await expect(store.findByKeyId(k.keyId)).resolves.toEqual(k);
      await expect(made.stores[1]!.findByKeyId(k.keyId)).resolves.toEqual(k);
      await expect(store.findByKeyId('nosuchkey000')).resolves.toBeNull();
    }, TIMEOUT_MS);

    it('refuses a second key with the same id', async () => {
      const k = key('acme', '2026-11-21T10:00:00.000Z');
      await store.create(k);
      // Compared by outcome, not class: a driver's error may come from another realm than the test's.
      const refused = await store.create({ ...k, tenantId: 'globex' }).then(() => 'stored', () => 'refused');
      expect(refused).toBe('refused');
      await expect(store.findByKeyId(k.keyId)).resolves.toMatchObject({ tenantId: 'acme' });
    }, TIMEOUT_MS);

    it('lists one tenant\'s keys newest first, never another tenant\'s', async () => {
      const tenant = `t${randomBytes(4).toString('hex')}`;
      const older = key(tenant, '2026-11-01T00:00:00.000Z');
      const newer = key(tenant, '2026-11-02T00:00:00.000Z');
      await store.create(older);
      await store.create(newer);
      await store.create(key(`${tenant}-other`, '2026-11-03T00:00:00.000Z'));
      expect((await store.list({ tenantId: tenant, limit: 10 })).map((k) => k.keyId)).toEqual([newer.keyId, older.keyId]);
      expect(await store.list({ tenantId: tenant, limit: 1 })).toHaveLength(1);
    }, TIMEOUT_MS);

    it('revokes a key once, even when replicas race; only within the given tenants', async () => {
      const k = key('acme', '2026-11-21T10:00:00.000Z');
      await store.create(k);
      await expect(store.revoke(k.keyId, ['globex'], 'user:eve', '2026-11-21T11:00:00.000Z')).resolves.toEqual({ outcome: 'not-found' });
      const outcomes = await Promise.all(made.stores.map((s, i) => s.revoke(k.keyId, ['acme'], `user:admin${i}`, '2026-11-21T11:00:00.000Z')));
      expect(outcomes.filter((o) => o.outcome === 'revoked')).toHaveLength(1);
      expect(outcomes.filter((o) => o.outcome === 'already-revoked')).toHaveLength(2);
      const after = await made.stores[2]!.findByKeyId(k.keyId);
      expect(after?.revokedAt).toBe('2026-11-21T11:00:00.000Z');
      expect(after?.revokedBy).toMatch(/^user:admin\d$/);
      await expect(store.revoke('nosuchkey000', undefined, 'user:admin', '2026-11-21T11:00:00.000Z')).resolves.toEqual({ outcome: 'not-found' });
      expect((await store.list({ tenantId: 'acme', limit: 100 })).find((x) => x.keyId === k.keyId)?.revokedAt).toBe('2026-11-21T11:00:00.000Z');
    }, TIMEOUT_MS);
  });
}
