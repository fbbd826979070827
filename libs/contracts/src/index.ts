import 'reflect-metadata';
export * from './envelope';
export * from './dto';
export * from './events';
export * from './registry';
export * from './topics';
export * from './headers';
export * from './api-key';
