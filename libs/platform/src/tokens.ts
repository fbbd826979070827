/** Nest injection tokens for the runtime's shared parts. */
export const BUS = Symbol('flotilla.bus');
export const CONFIG = Symbol('flotilla.config');
export const INSTANCE_ID = Symbol('flotilla.instance-id');
