export * from './coordinator.module';
export { WorkflowStore } from './workflow-store';
