import { join } from 'node:path';
import { FlotillaConfig } from '@flotilla/config';
import { ApiKeyStore } from './api-key-store';
import { MongoApiKeyStore } from './mongo-api-key-store';
import { mongoUrlFrom } from './mongo-tls';
import { SqliteApiKeyStore } from './sqlite-api-key-store';

/** Picks the API key store from configuration: SQLite when embedded, MongoDB when distributed (shared by every replica). */
export function createApiKeyStore(config: FlotillaConfig): ApiKeyStore {
  return config.FLOTILLA_MODE === 'embedded' ? new SqliteApiKeyStore(join(config.FLOTILLA_DATA_DIR, 'flotilla.db')) : new MongoApiKeyStore(mongoUrlFrom(config));
}
