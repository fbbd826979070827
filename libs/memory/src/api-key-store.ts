import type { ApiKeyRecord } from '@flotilla/contracts';
/** A stored API key (the shared contract; only the key's SHA-256 is kept). */
export type StoredApiKey = ApiKeyRecord;

export type ApiKeyRevokeOutcome =
  | { outcome: 'revoked'; key: StoredApiKey }
  | { outcome: 'already-revoked'; key: StoredApiKey }
  | { outcome: 'not-found' };

/** API keys of every tenant (service accounts, intake publishers), shared by all replicas. */
export interface ApiKeyStore {
  init(): Promise<void>;
  /** Stores a new key; a key id that exists already is an error (ids are random, so it means a bug). */
  create(key: StoredApiKey): Promise<void>;
  /** The key with this id, revoked or not; null when there is none. */
  findByKeyId(keyId: string): Promise<StoredApiKey | null>;
  /** Keys of one tenant (or of all tenants when `tenantId` is undefined), newest first. */
  list(q: { tenantId?: string; limit: number }): Promise<StoredApiKey[]>;
  /** Revokes a key of one of `tenantIds` (undefined = any tenant) once: a second revoke says `already-revoked`. */
  revoke(keyId: string, tenantIds: readonly string[] | undefined, by: string, at: string): Promise<ApiKeyRevokeOutcome>;
  healthy(): boolean;
  close(): Promise<void>;
}
