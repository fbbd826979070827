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
 * One piece of an answer as the composer streamed it (`AnswerTokenStreamed`), kept so a chat client
 * that reconnects — to any gateway — can be sent the rest of the stream.
 */
export interface StoredStreamToken {
  workflowId: string;
  tenantId: string;
  /** The compose attempt that streamed it. */
  taskId: string;
  /** Position within that attempt (0, 1, 2, …). */
  seq: number;
  text: string;
  /** When the composer streamed it (ISO-8601); tokens older than the retention are purged. */
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
  /**
   * Appends many events in one write (a projector's batch): each is idempotent by (workflowId,
   * sequence) exactly as `appendEvent` — a copy already stored stays, the first copy wins — so a
   * redelivered or overlapping batch writes nothing twice. Resolves once every event is stored.
   */
  appendEvents(events: readonly StoredEvent[]): Promise<void>;
  recordAccepted(accepted: { workflowId: string; tenantId: string; requestId: string; question: string; acceptedAt: string }): Promise<void>;
  /** The events of a workflow in order, or null when it is unknown to this tenant. */
  load(workflowId: string, tenantId: string): Promise<{ accepted?: { requestId: string; question: string; acceptedAt: string }; events: StoredEvent[] } | null>;
  /**
   * Keeps a streamed answer token. Idempotent by (workflowId, taskId, seq): the first copy wins, so
   * a redelivered token never changes what a reconnecting client is sent.
   */
  appendStreamToken(token: StoredStreamToken): Promise<void>;
  /** Keeps many tokens in one write, each idempotent as `appendStreamToken`. */
  appendStreamTokens(tokens: readonly StoredStreamToken[]): Promise<void>;
  /** The stored tokens of a workflow (every compose attempt), or none when it is unknown to this tenant. */
  loadStreamTokens(workflowId: string, tenantId: string): Promise<StoredStreamToken[]>;
  /** Deletes the tokens streamed before `olderThan` (the retention sweep); returns how many. */
  purgeStreamTokens(olderThan: Date): Promise<number>;
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
