/** Kafka header names Flotilla sets on every message. */
export const Headers = {
  messageType: 'flotilla-type',
  tenantId: 'flotilla-tenant',
  workflowId: 'flotilla-workflow',
  traceparent: 'traceparent',
  /** How many times a dead-lettered message has been attempted. */
  attempts: 'flotilla-attempts',
  /**
   * `batch` on messages of batch workflows that share a topic with chat (workflow events, answer
   * tokens): consumers in one process serve such messages after interactive ones (docs/adr).
   */
  lane: 'flotilla-lane',
} as const;

/** Headers of a message waiting in a delay topic. */
export const DelayHeaders = {
  /** The topic the message goes to when due. */
  target: 'flotilla-delay-target',
  /** Its key there. */
  key: 'flotilla-delay-key',
  /** When it is due, epoch milliseconds. */
  dueAt: 'flotilla-delay-due',
} as const;
