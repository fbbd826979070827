export * from './state';
export * from './evolve';
export * from './decide';
export * from './plan';
export * from './codec';
