import { createHash } from 'node:crypto';

/** One stored snapshot: opaque bytes in a named stream, with the format they were written in. */
export interface StoredSnapshot {
  /** Which state the snapshot is of, e.g. `coordinator-workflows/<namespace>`. */
  stream: string;
  /** The writer's format tag; a reader that does not know it ignores the snapshot. */
  format: string;
  takenAt: Date;
  bytes: Buffer;
}

/**
 * Snapshots of state folded from a log (docs/adr/0010): the coordinator writes one every so often so
 * a restart reads only the log after it. The store keeps the newest few per stream, checks each
 * one's content against the SHA-256 recorded at save time, and hands back the newest intact one —
 * a snapshot is an optimisation, so a missing or damaged one means "rebuild from the log", never
 * an error that stops a boot. It structurally implements the coordinator's `WorkflowSnapshotStore`.
 */
export interface SnapshotStore {
  init(): Promise<void>;
  /** Stores a snapshot and drops the stream's older ones beyond the newest `keep` (default 2). */
  save(snapshot: { stream: string; format: string; bytes: Buffer; takenAt?: Date }): Promise<void>;
  /** The newest complete, intact snapshot of `stream`, or `undefined`. */
  latest(stream: string): Promise<StoredSnapshot | undefined>;
  healthy(): boolean;
  close(): Promise<void>;
}

export const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** How many snapshots per stream are kept by default: the newest, and one to fall back on. */
export const DEFAULT_SNAPSHOTS_KEPT = 2;
