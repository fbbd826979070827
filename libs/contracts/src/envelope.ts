/**
 * The wire shape of every Flotilla message: `type` and `version` say which contract the `data`
 * follows; `metadata` carries tenancy, causation and trace context. Wire names are explicit string
 * constants, never class names, so renaming code cannot orphan messages in flight.
 */
export interface Metadata {
  /** When the fact happened or the command was issued (ISO-8601). */
  occurredAt: string;
  tenantId?: string;
  workflowId?: string;
  /** The id of the message that caused this one. */
  causationId?: string;
  /** Position of a workflow event in its workflow (0-based). */
  sequence?: number;
  /** W3C traceparent of the producing span. */
  traceparent?: string;
}

export interface Envelope<TType extends string = string, TData = unknown> {
  type: TType;
  version: number;
  /** Unique message id; consumers dedup on it. */
  id: string;
  data: TData;
  metadata: Metadata;
}
