import { Envelope } from '@flotilla/contracts';

/** A workflow event as the read model keeps it. */
export interface StoredEvent {
  workflowId: string;
  tenantId: string;
  sequence: number;
  type: string;
  version: number;
  id: string;
  data: unknown;
  occurredAt: string;
}

/**
 * The read model behind `GET /v1/workflows/:id`: a copy of each workflow's events, projected from
 * the log (and so rebuildable from it), plus a record that a request was accepted before its first
 * event exists. Writes are idempotent by (workflowId, sequence).
 */
export interface WorkflowViewStore {
  init(): Promise<void>;
  appendEvent(event: StoredEvent): Promise<void>;
  recordAccepted(accepted: { workflowId: string; tenantId: string; requestId: string; question: string; acceptedAt: string }): Promise<void>;
  /** The events of a workflow in order, or null when it is unknown to this tenant. */
  load(workflowId: string, tenantId: string): Promise<{ accepted?: { requestId: string; question: string; acceptedAt: string }; events: StoredEvent[] } | null>;
  healthy(): boolean;
  close(): Promise<void>;
}

export function toStoredEvent(envelope: Envelope): StoredEvent | null {
  const { workflowId, sequence, tenantId } = envelope.metadata;
  if (!workflowId || sequence === undefined) return null;
  return {
    workflowId, tenantId: tenantId ?? '', sequence, type: envelope.type, version: envelope.version, id: envelope.id,
    data: envelope.data, occurredAt: envelope.metadata.occurredAt,
  };
}
