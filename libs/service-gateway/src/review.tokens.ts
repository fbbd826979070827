export const DEAD_LETTERS = Symbol('flotilla.dead-letter-store');
export const AUDIT_LOG = Symbol('flotilla.audit-log');
