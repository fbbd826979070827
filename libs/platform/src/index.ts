export * from './tokens';
export * from './readiness';
export * from './platform.module';
export * from './bootstrap';
export * from './agent-worker';
export * from './lane-gate';
export * from './tracing';
export { HttpTracingInterceptor } from './http-tracing.interceptor';
