import { DeadLetterRecordedV1 } from '@flotilla/contracts';

/** Where a dead-letter record stands in human review. Only `open` records can be acted on. */
export type DeadLetterStatus = 'open' | 'retried' | 'replayed' | 'discarded';
export const DEAD_LETTER_STATUSES: readonly DeadLetterStatus[] = ['open', 'retried', 'replayed', 'discarded'];

/** The action that closed a dead-letter record: who, when, and (for a discard) why. */
export interface DeadLetterResolution {
  status: Exclude<DeadLetterStatus, 'open'>;
  actor: string;
  at: string;
  reason?: string;
}

/** A dead-letter record as the review inbox keeps it. */
export interface DeadLetterEntry {
  /** The id of the `DeadLetterRecorded` message (`dlq_<topic>_<partition>_<offset>`): one record per poison message. */
  id: string;
  /** From the poison message's `flotilla-tenant` header; '' when it had none. */
  tenantId: string;
  status: DeadLetterStatus;
  data: DeadLetterRecordedV1;
  resolution?: DeadLetterResolution;
}

/** What `resolve` did: closed the record, found none, or found it already closed. */
export type DeadLetterResolveOutcome =
  | { outcome: 'resolved'; entry: DeadLetterEntry }
  | { outcome: 'not-found' }
  | { outcome: 'not-open'; entry: DeadLetterEntry };

export interface DeadLetterListQuery {
  /** Tenants whose records are visible to the caller (the caller's rule, not the store's). */
  tenantIds: readonly string[];
  status?: DeadLetterStatus;
  limit: number;
}

/**
 * The dead-letter review inbox: a projection of `flotilla.dlq.v1` (rebuildable from it) plus the
 * review decision of each record. `record` is idempotent by id and never touches the decision, so
 * replaying the topic cannot reopen a closed record. `resolve` moves an `open` record to a final
 * status exactly once, even when replicas race for it.
 */
export interface DeadLetterStore {
  init(): Promise<void>;
  record(entry: { id: string; tenantId: string; data: DeadLetterRecordedV1 }): Promise<void>;
  /** The record, or null when it is unknown or belongs to none of `tenantIds`. */
  get(id: string, tenantIds: readonly string[]): Promise<DeadLetterEntry | null>;
  /** Newest first (by `recordedAt`, then id). */
  list(query: DeadLetterListQuery): Promise<DeadLetterEntry[]>;
  /** Closes an open record; of concurrent callers exactly one gets `resolved`. */
  resolve(id: string, tenantIds: readonly string[], resolution: DeadLetterResolution): Promise<DeadLetterResolveOutcome>;
  /**
   * Undoes a `resolve` whose side effect (the republish) failed, so the record can be acted on
   * again. Only the exact resolution given is undone.
   */
  reopen(id: string, resolution: DeadLetterResolution): Promise<void>;
  healthy(): boolean;
  close(): Promise<void>;
}

/** The tenant a dead-letter message belongs to: its poison message's tenant header, else ''. */
export function deadLetterTenant(data: DeadLetterRecordedV1, fallback?: string): string {
  return data.headers['flotilla-tenant'] ?? fallback ?? '';
}
