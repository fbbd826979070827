/**
 * A stored API key (service accounts, intake publishers): what libs/memory keeps and libs/auth
 * verifies against. Only the SHA-256 of the key is kept, never the key.
 */
export interface ApiKeyRecord {
  keyId: string;
  /** SHA-256 (hex) of the full key. */
  hash: string;
  tenantId: string;
  name: string;
  roles: string[];
  createdAt: string;
  /** Who created it (a principal's subject). */
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
  revokedBy?: string;
}
