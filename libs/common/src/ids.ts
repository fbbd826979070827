import { createHash, randomUUID } from 'node:crypto';

/** A random, collision-free id with a readable prefix (`wf_…`, `evt_…`). */
export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '')}`;
}

/**
 * A deterministic id from its parts: the same inputs always give the same id, which is what makes
 * redelivered work harmless (a resubmitted request maps to the same workflow, a retried task to the
 * same idempotency key).
 */
export function deriveId(prefix: string, ...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return `${prefix}_${h.digest('hex').slice(0, 24)}`;
}
