import { join } from 'node:path';
import { FlotillaConfig } from '@flotilla/config';
import { ClaimCheckStore } from './claim-check-store';
import { MongoClaimCheckStore } from './mongo-claim-check-store';
import { MongoSnapshotStore } from './mongo-snapshot-store';
import { mongoUrlFrom } from './mongo-tls';
import { SnapshotStore } from './snapshot-store';
import { SqliteClaimCheckStore } from './sqlite-claim-check-store';
import { SqliteSnapshotStore } from './sqlite-snapshot-store';

/** The embedded mode's one SQLite file (the same file the other embedded adapters use). */
const embeddedFile = (config: FlotillaConfig): string => join(config.FLOTILLA_DATA_DIR, 'flotilla.db');

/** Picks the claim-check payload store from configuration: SQLite when embedded, MongoDB when distributed. */
export function createClaimCheckStore(config: FlotillaConfig): ClaimCheckStore {
  return config.FLOTILLA_MODE === 'embedded' ? new SqliteClaimCheckStore(embeddedFile(config)) : new MongoClaimCheckStore(mongoUrlFrom(config));
}

/** Picks the snapshot store from configuration: SQLite when embedded, MongoDB when distributed. */
export function createSnapshotStore(config: FlotillaConfig): SnapshotStore {
  return config.FLOTILLA_MODE === 'embedded' ? new SqliteSnapshotStore(embeddedFile(config)) : new MongoSnapshotStore(mongoUrlFrom(config));
}
