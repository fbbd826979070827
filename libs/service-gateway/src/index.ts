export * from './gateway.module';
export { configureGatewayHttp } from './http';
export { CHAT_PATH, CHAT_PROTOCOL } from './chat.server';
export type { WorkflowView } from './workflow-view';
export { projectWorkflowEvents, PROJECTOR_GROUP } from './projector';
