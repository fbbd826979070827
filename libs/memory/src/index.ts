import { join } from 'node:path';
import { FlotillaConfig } from '@flotilla/config';
import { ConversationStore, ConversationStoreOptions } from './conversation-store';
import { CounterStoreOptions, ManagedCounterStore } from './counter-store';
import { MongoConversationStore } from './mongo-conversation-store';
import { MongoCounterStore } from './mongo-counter-store';
import { MongoWorkflowViewStore } from './mongo-view-store';
import { mongoUrlFrom } from './mongo-tls';
import { SqliteConversationStore } from './sqlite-conversation-store';
import { SqliteCounterStore } from './sqlite-counter-store';
import { SqliteWorkflowViewStore } from './sqlite-view-store';
import { WorkflowViewStore } from './workflow-view-store';

export * from './workflow-view-store';
export { MongoWorkflowViewStore } from './mongo-view-store';
export { SqliteWorkflowViewStore } from './sqlite-view-store';
export {
  ConversationSession, ConversationStore, ConversationStoreOptions, DEFAULT_COMPRESS_ABOVE_TOKENS, extractiveSummariser, PreferenceValue, RecentContext,
  Summariser, Turn, TurnRole,
} from './conversation-store';
export { MongoConversationStore } from './mongo-conversation-store';
export { SqliteConversationStore } from './sqlite-conversation-store';
export { startIdlePurge } from './idle-purge';
export { CounterStore, CounterStoreOptions, ManagedCounterStore } from './counter-store';
export { MongoCounterStore } from './mongo-counter-store';
export { SqliteCounterStore } from './sqlite-counter-store';
export * from './dead-letter-store';
export { MongoDeadLetterStore } from './mongo-dead-letter-store';
export { SqliteDeadLetterStore } from './sqlite-dead-letter-store';
export * from './audit-log';
export { MongoAuditLog } from './mongo-audit-log';
export { SqliteAuditLog } from './sqlite-audit-log';
export { createAuditLog, createDeadLetterStore } from './review-factories';
export * from './api-key-store';
export { MongoApiKeyStore } from './mongo-api-key-store';
export { SqliteApiKeyStore } from './sqlite-api-key-store';
export { createApiKeyStore } from './api-key-factory';
export { mongoUrlFrom } from './mongo-tls';

const embeddedFile = (config: FlotillaConfig): string => join(config.FLOTILLA_DATA_DIR, 'flotilla.db');

/** Picks the read-model adapter from configuration: SQLite when embedded, MongoDB when distributed. */
export function createWorkflowViewStore(config: FlotillaConfig): WorkflowViewStore {
  return config.FLOTILLA_MODE === 'embedded'
    ? new SqliteWorkflowViewStore(embeddedFile(config))
    : new MongoWorkflowViewStore(mongoUrlFrom(config));
}

/** Picks the conversation memory adapter from configuration: SQLite when embedded, MongoDB when distributed. */
export function createConversationStore(config: FlotillaConfig, options: ConversationStoreOptions = {}): ConversationStore {
  return config.FLOTILLA_MODE === 'embedded'
    ? new SqliteConversationStore(embeddedFile(config), options)
    : new MongoConversationStore(mongoUrlFrom(config), options);
}

/** Picks the shared-counter adapter from configuration: SQLite when embedded (one process), MongoDB when distributed (across replicas). */
export function createCounterStore(config: FlotillaConfig, options: CounterStoreOptions = {}): ManagedCounterStore {
  return config.FLOTILLA_MODE === 'embedded'
    ? new SqliteCounterStore(embeddedFile(config), options)
    : new MongoCounterStore(mongoUrlFrom(config), options);
}
export * from './claim-check-store';
export { MongoClaimCheckStore } from './mongo-claim-check-store';
export { SqliteClaimCheckStore } from './sqlite-claim-check-store';
export * from './snapshot-store';
export { MongoSnapshotStore } from './mongo-snapshot-store';
export { SqliteSnapshotStore } from './sqlite-snapshot-store';
export { createClaimCheckStore, createSnapshotStore } from './claim-snapshot-factories';
