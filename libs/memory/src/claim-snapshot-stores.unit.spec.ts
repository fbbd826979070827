import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { SqliteClaimCheckStore } from './sqlite-claim-check-store';
import { SqliteSnapshotStore } from './sqlite-snapshot-store';
import { runClaimSnapshotConformance } from './testing/claim-snapshot-conformance';

const flipFirstByte = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b[0]! ^ 0xff]), b.subarray(1)]);

runClaimSnapshotConformance('SQLite (embedded)', async (count) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-claims-'));
  const file = join(dir, 'flotilla.db');
  const clock = { now: new Date('2026-11-21T10:00:00.000Z') };
  const db = () => openEmbeddedDb(file);
  return {
    claims: Array.from({ length: count }, () => new SqliteClaimCheckStore(file, () => clock.now)),
    snapshots: Array.from({ length: count }, () => new SqliteSnapshotStore(file)),
    clock,
    damageClaim: async (id) => {
      const row = db().prepare('SELECT bytes FROM claim_checks WHERE id = ?').get(id) as { bytes: Buffer };
      db().prepare('UPDATE claim_checks SET bytes = ? WHERE id = ?').run(flipFirstByte(row.bytes), id);
    },
    damageNewestSnapshot: async (stream) => {
      const row = db().prepare('SELECT seq, bytes FROM snapshots WHERE stream = ? ORDER BY seq DESC LIMIT 1').get(stream) as { seq: number; bytes: Buffer };
      db().prepare('UPDATE snapshots SET bytes = ? WHERE seq = ?').run(flipFirstByte(row.bytes), row.seq);
    },
    cleanup: async () => {
      db().close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
