import { join } from 'node:path';
import { FlotillaConfig } from '@flotilla/config';
import { AuditLog } from './audit-log';
import { DeadLetterStore } from './dead-letter-store';
import { MongoAuditLog } from './mongo-audit-log';
import { MongoDeadLetterStore } from './mongo-dead-letter-store';
import { mongoUrlFrom } from './mongo-tls';
import { SqliteAuditLog } from './sqlite-audit-log';
import { SqliteDeadLetterStore } from './sqlite-dead-letter-store';

/** The embedded mode's one SQLite file (the same file the other embedded adapters use). */
const embeddedFile = (config: FlotillaConfig): string => join(config.FLOTILLA_DATA_DIR, 'flotilla.db');

/** Picks the dead-letter inbox adapter from configuration: SQLite when embedded, MongoDB when distributed. */
export function createDeadLetterStore(config: FlotillaConfig): DeadLetterStore {
  return config.FLOTILLA_MODE === 'embedded' ? new SqliteDeadLetterStore(embeddedFile(config)) : new MongoDeadLetterStore(mongoUrlFrom(config));
}

/** Picks the audit log adapter from configuration: SQLite when embedded, MongoDB when distributed (one chain per deployment). */
export function createAuditLog(config: FlotillaConfig): AuditLog {
  return config.FLOTILLA_MODE === 'embedded' ? new SqliteAuditLog(embeddedFile(config)) : new MongoAuditLog(mongoUrlFrom(config));
}
