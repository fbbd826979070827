export * from './errors';
export * from './ids';
export * from './logger';
export * from './async';
export * from './luhn';
