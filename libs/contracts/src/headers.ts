/** Kafka header names Flotilla sets on every message. */
export const Headers = {
  messageType: 'flotilla-type',
  tenantId: 'flotilla-tenant',
  workflowId: 'flotilla-workflow',
  traceparent: 'traceparent',
  /** How many times a dead-lettered message has been attempted. */
  attempts: 'flotilla-attempts',
} as const;
