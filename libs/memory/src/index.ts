import { join } from 'node:path';
import { FlotillaConfig } from '@flotilla/config';
import { MongoWorkflowViewStore } from './mongo-view-store';
import { SqliteWorkflowViewStore } from './sqlite-view-store';
import { WorkflowViewStore } from './workflow-view-store';

export * from './workflow-view-store';
export { MongoWorkflowViewStore } from './mongo-view-store';
export { SqliteWorkflowViewStore } from './sqlite-view-store';

/** Picks the read-model adapter from configuration: SQLite when embedded, MongoDB when distributed. */
export function createWorkflowViewStore(config: FlotillaConfig): WorkflowViewStore {
  return config.FLOTILLA_MODE === 'embedded'
    ? new SqliteWorkflowViewStore(join(config.FLOTILLA_DATA_DIR, 'flotilla.db'))
    : new MongoWorkflowViewStore(config.MONGO_URL);
}
