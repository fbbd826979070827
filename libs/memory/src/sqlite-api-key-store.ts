import { EmbeddedDb, openEmbeddedDb } from '@flotilla/embedded-db';
import { ApiKeyRevokeOutcome, ApiKeyStore, StoredApiKey } from './api-key-store';

interface Row {
  key_id: string;
  hash: string;
  tenant_id: string;
  name: string;
  roles: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

const toKey = (r: Row): StoredApiKey => ({
  keyId: r.key_id, hash: r.hash, tenantId: r.tenant_id, name: r.name, roles: JSON.parse(r.roles) as string[], createdAt: r.created_at, createdBy: r.created_by,
  ...(r.expires_at ? { expiresAt: r.expires_at } : {}), ...(r.revoked_at ? { revokedAt: r.revoked_at } : {}), ...(r.revoked_by ? { revokedBy: r.revoked_by } : {}),
});

/** API keys in the embedded mode's SQLite file. */
export class SqliteApiKeyStore implements ApiKeyStore {
  private db!: EmbeddedDb;
  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    this.db = openEmbeddedDb(this.file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, hash TEXT NOT NULL, tenant_id TEXT NOT NULL, name TEXT NOT NULL, roles TEXT NOT NULL,
        created_at TEXT NOT NULL, created_by TEXT NOT NULL, expires_at TEXT, revoked_at TEXT, revoked_by TEXT);
      CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant_id, created_at DESC);
    `);
  }

  async create(k: StoredApiKey): Promise<void> {
    this.db.prepare(`INSERT INTO api_keys (key_id, hash, tenant_id, name, roles, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(k.keyId, k.hash, k.tenantId, k.name, JSON.stringify(k.roles), k.createdAt, k.createdBy, k.expiresAt ?? null);
  }

  async findByKeyId(keyId: string): Promise<StoredApiKey | null> {
    const row = this.db.prepare('SELECT * FROM api_keys WHERE key_id = ?').get(keyId) as Row | undefined;
    return row ? toKey(row) : null;
  }

  async list(q: { tenantId?: string; limit: number }): Promise<StoredApiKey[]> {
    const rows = q.tenantId === undefined
      ? this.db.prepare('SELECT * FROM api_keys ORDER BY created_at DESC, key_id LIMIT ?').all(q.limit)
      : this.db.prepare('SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, key_id LIMIT ?').all(q.tenantId, q.limit);
    return (rows as Row[]).map(toKey);
  }

  async revoke(keyId: string, tenantIds: readonly string[] | undefined, by: string, at: string): Promise<ApiKeyRevokeOutcome> {
    const current = await this.findByKeyId(keyId);
    if (!current || (tenantIds && !tenantIds.includes(current.tenantId))) return { outcome: 'not-found' };
    // The conditional UPDATE is atomic: of concurrent revokes exactly one changes the row.
    const changed = this.db.prepare('UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE key_id = ? AND revoked_at IS NULL').run(at, by, keyId).changes;
    const after = (await this.findByKeyId(keyId))!;
    return changed === 1 ? { outcome: 'revoked', key: after } : { outcome: 'already-revoked', key: after };
  }

  healthy(): boolean {
    return this.db?.open ?? false;
  }

  async close(): Promise<void> {
    // The shared embedded file is closed by the platform at shutdown.
  }
}
