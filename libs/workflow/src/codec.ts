import { Envelope, Messages, Metadata, WorkflowEvent } from '@flotilla/contracts';
import { DomainEvent } from './state';

/** The domain event inside a decoded workflow-events message. */
export function toDomainEvent(message: WorkflowEvent): DomainEvent {
  return { type: message.type, data: message.data } as DomainEvent;
}

/** The wire envelope of a domain event at position `sequence` of its workflow. */
export function toEnvelope(event: DomainEvent, workflowId: string, sequence: number, metadata: Omit<Metadata, 'occurredAt'>): Envelope {
  const def = Messages[event.type];
  return {
    type: def.type,
    version: def.version,
    // Deterministic: the same decision re-made after a crash yields the same event ids (dedup downstream).
    id: `${workflowId}:${sequence}`,
    data: event.data,
    metadata: { ...metadata, workflowId, sequence, occurredAt: new Date().toISOString() } as Metadata,
  };
}
