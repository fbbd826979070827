import { createHash } from 'node:crypto';
import { createLogger, Logger } from '@flotilla/common';
import { startPeriodicPurge } from './periodic-purge';

/** Who a stored payload belongs to, recorded for purges (never part of its id). */
export interface ClaimMeta {
  topic?: string;
  tenantId?: string;
  workflowId?: string;
}

/**
 * The payload store behind claim checks (docs/adr/0010): a message larger than the bus threshold is
 * stored here and travels by reference. Content-addressed — the id is `sha256:<hex>` of the bytes —
 * so a put is idempotent (storing the same bytes again only refreshes their age) and an id cannot be
 * guessed without knowing the content. It structurally implements the `PayloadStore` port of
 * `@flotilla/messaging`, which must not import this lib.
 */
export interface ClaimCheckStore {
  /** Opens the store (lazily for MongoDB: a process that never sees a large message never connects). */
  init(): Promise<void>;
  /** Stores `bytes` (or refreshes their age if already stored) and returns their id. */
  put(bytes: Buffer, meta?: ClaimMeta): Promise<string>;
  /**
   * The bytes of `id`, or `undefined` when no complete, intact copy is stored (never stored,
   * purged, or damaged: the content is checked against its hash). Throws only when the store is
   * unreachable — retrying can help then.
   */
  get(id: string): Promise<Buffer | undefined>;
  /** Deletes payloads last stored before `cutoff`; returns how many. */
  purgeOlderThan(cutoff: Date): Promise<number>;
  /** Deletes every payload recorded for a tenant (erasure requests); returns how many. */
  purgeTenant(tenantId: string): Promise<number>;
  healthy(): boolean;
  close(): Promise<void>;
}

/** The content address of `bytes`. */
export function claimIdFor(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Whether `bytes` are the content `id` names (a damaged or truncated copy is not). */
export function claimMatches(id: string, bytes: Buffer): boolean {
  return claimIdFor(bytes) === id;
}

/**
 * Runs `purgeOlderThan(now - ttlMs)` every `everyMs` (FerretDB v1.24 has no TTL indexes). A failed
 * run is logged and runs again at the next tick; `stop()` waits for a run in flight.
 */
export function startClaimPurge(
  store: Pick<ClaimCheckStore, 'purgeOlderThan'>,
  options: { ttlMs: number; everyMs: number; now?: () => Date; logger?: Logger },
): { stop(): Promise<void> } {
  return startPeriodicPurge((olderThan) => store.purgeOlderThan(olderThan), {
    ageMs: options.ttlMs, everyMs: options.everyMs, now: options.now, what: 'expired claim-check payloads',
    log: options.logger ?? createLogger({ component: 'memory.claim-purge' }), details: { ttlMs: options.ttlMs },
  });
}
