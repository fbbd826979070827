import mongoose, { Connection, Model, Schema } from 'mongoose';
import { ApiKeyRevokeOutcome, ApiKeyStore, StoredApiKey } from './api-key-store';
import { isDuplicateKey } from './mongo-errors';

/*
 * Keys are written once (`_id` = key id) and never updated. A revocation is a second write-once
 * document with the same `_id` in its own collection, so of concurrent revokes exactly one
 * inserts and the others get E11000 — FerretDB has no atomic conditional update (docs/adr/0004).
 */

interface KeyDoc {
  _id: string;
  hash: string;
  tenantId: string;
  name: string;
  roles: string[];
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
}

interface RevocationDoc {
  _id: string;
  revokedAt: string;
  revokedBy: string;
}

const keySchema = new Schema<KeyDoc>({
  _id: { type: String, required: true },
  hash: { type: String, required: true },
  tenantId: { type: String, required: true },
  name: { type: String, required: true },
  roles: { type: [String], default: [] },
  createdAt: { type: String, required: true },
  createdBy: { type: String, required: true },
  expiresAt: { type: String, required: false },
}, { collection: 'api_keys', versionKey: false });
keySchema.index({ tenantId: 1, createdAt: -1 });

const revocationSchema = new Schema<RevocationDoc>({
  _id: { type: String, required: true },
  revokedAt: { type: String, required: true },
  revokedBy: { type: String, required: true },
}, { collection: 'api_key_revocations', versionKey: false });

const toKey = (d: KeyDoc, r?: RevocationDoc | null): StoredApiKey => ({
  keyId: d._id, hash: d.hash, tenantId: d.tenantId, name: d.name, roles: [...(d.roles ?? [])], createdAt: d.createdAt, createdBy: d.createdBy,
  ...(d.expiresAt ? { expiresAt: d.expiresAt } : {}), ...(r ? { revokedAt: r.revokedAt, revokedBy: r.revokedBy } : {}),
});

/** API keys in MongoDB (FerretDB in tests), shared by every gateway replica. */
export class MongoApiKeyStore implements ApiKeyStore {
  private connection!: Connection;
  private keys!: Model<KeyDoc>;
  private revocations!: Model<RevocationDoc>;

  constructor(private readonly url: string) {}

  async init(): Promise<void> {
    this.connection = await mongoose.createConnection(this.url, { serverSelectionTimeoutMS: 10_000, autoIndex: false }).asPromise();
    this.keys = this.connection.model<KeyDoc>('ApiKey', keySchema);
    this.revocations = this.connection.model<RevocationDoc>('ApiKeyRevocation', revocationSchema);
    await this.keys.createIndexes();
  }

  async create(k: StoredApiKey): Promise<void> {
    await this.keys.create([{
      _id: k.keyId, hash: k.hash, tenantId: k.tenantId, name: k.name, roles: k.roles, createdAt: k.createdAt, createdBy: k.createdBy,
      ...(k.expiresAt ? { expiresAt: k.expiresAt } : {}),
    }]);
  }

  async findByKeyId(keyId: string): Promise<StoredApiKey | null> {
    const [key, revocation] = await Promise.all([
      this.keys.findOne({ _id: keyId }).lean<KeyDoc>(),
      this.revocations.findOne({ _id: keyId }).lean<RevocationDoc>(),
    ]);
    return key ? toKey(key, revocation) : null;
  }

  async list(q: { tenantId?: string; limit: number }): Promise<StoredApiKey[]> {
    const filter = q.tenantId === undefined ? {} : { tenantId: q.tenantId };
    const keys = await this.keys.find(filter).sort({ createdAt: -1, _id: 1 }).limit(q.limit).lean<KeyDoc[]>();
    const revoked = keys.length ? await this.revocations.find({ _id: { $in: keys.map((k) => k._id) } }).lean<RevocationDoc[]>() : [];
    const byId = new Map(revoked.map((r) => [r._id, r]));
    return keys.map((k) => toKey(k, byId.get(k._id)));
  }

  async revoke(keyId: string, tenantIds: readonly string[] | undefined, by: string, at: string): Promise<ApiKeyRevokeOutcome> {
    const current = await this.findByKeyId(keyId);
    if (!current || (tenantIds && !tenantIds.includes(current.tenantId))) return { outcome: 'not-found' };
    if (current.revokedAt) return { outcome: 'already-revoked', key: current };
    try {
      await this.revocations.create([{ _id: keyId, revokedAt: at, revokedBy: by }]);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      return { outcome: 'already-revoked', key: (await this.findByKeyId(keyId))! };
    }
    return { outcome: 'revoked', key: { ...current, revokedAt: at, revokedBy: by } };
  }

  healthy(): boolean {
    return this.connection?.readyState === 1;
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}
