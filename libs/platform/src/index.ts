export * from './tokens';
export * from './readiness';
export * from './platform.module';
export * from './bootstrap';
export * from './agent-worker';
