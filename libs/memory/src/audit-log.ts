import { createHash } from 'node:crypto';

/** What is appended: who did what to which subject, for which tenant. */
export interface AuditEntry {
  tenantId: string;
  actor: string;
  /** Dotted verb, e.g. `dlq.replayed`, `workflow.submitted`. */
  action: string;
  /** The id of the thing acted on (a dead-letter id, a workflow id). */
  subject: string;
  /** JSON-compatible facts; normalised through JSON before hashing, so what is stored is what was hashed. */
  details: Record<string, unknown>;
}

/** A record of the chain: the entry, its position and time, and the hashes that link it. */
export interface AuditRecord extends AuditEntry {
  /** 1-based, contiguous: a gap is tampering. */
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface AuditVerification {
  ok: boolean;
  /** How many records were checked. */
  records: number;
  /** The first record that is not what the chain says it should be. */
  firstBadSeq?: number;
  reason?: string;
}

/**
 * The deployment's append-only, hash-chained audit log: each record's hash covers its content and
 * the previous record's hash, so changing, removing or reordering a stored record breaks the chain
 * from that record on, and `verify` names it. There is one chain per deployment, ordered by `seq`.
 */
export interface AuditLog {
  init(): Promise<void>;
  /** Appends at the head of the chain; safe under concurrent appenders (replicas). */
  append(entry: AuditEntry): Promise<AuditRecord>;
  /** Records newest first, optionally only those of one subject. */
  list(query: { subject?: string; tenantId?: string; limit: number }): Promise<AuditRecord[]>;
  verify(): Promise<AuditVerification>;
  healthy(): boolean;
  close(): Promise<void>;
}

/** The `prevHash` of the first record. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every level: one text per value, whatever order a store returns keys in. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** sha256(prevHash + canonical JSON of the record without its hash), hex. */
export function auditHash(record: Omit<AuditRecord, 'hash'>): string {
  const { seq, at, tenantId, actor, action, subject, details, prevHash } = record;
  return createHash('sha256').update(prevHash + canonicalJson({ seq, at, tenantId, actor, action, subject, details, prevHash })).digest('hex');
}

/** The next record after `head` (null for an empty chain). */
export function chainNext(head: { seq: number; hash: string } | null, entry: AuditEntry, at: string): AuditRecord {
  const details = JSON.parse(JSON.stringify(entry.details ?? {})) as Record<string, unknown>;
  const unhashed = {
    seq: (head?.seq ?? 0) + 1, at, tenantId: entry.tenantId, actor: entry.actor, action: entry.action, subject: entry.subject, details,
    prevHash: head?.hash ?? AUDIT_GENESIS_HASH,
  };
  return { ...unhashed, hash: auditHash(unhashed) };
}

/** Checks records given in `seq` order; stops at the first bad one. */
export async function verifyChain(records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>): Promise<AuditVerification> {
  let prev: { seq: number; hash: string } | null = null;
  let count = 0;
  for await (const r of records) {
    count++;
    const expectedSeq = (prev?.seq ?? 0) + 1;
    const bad = (reason: string): AuditVerification => ({ ok: false, records: count, firstBadSeq: r.seq, reason });
    if (r.seq !== expectedSeq) return bad(`expected seq ${expectedSeq}, found ${r.seq} (a record is missing or out of order)`);
    if (r.prevHash !== (prev?.hash ?? AUDIT_GENESIS_HASH)) return bad('prevHash does not match the previous record\'s hash');
    if (auditHash(r) !== r.hash) return bad('hash does not match the record\'s content (the record was changed)');
    prev = r;
  }
  return { ok: true, records: count };
}
