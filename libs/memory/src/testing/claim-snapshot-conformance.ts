import { randomBytes } from 'node:crypto';
import { ClaimCheckStore, claimIdFor } from '../claim-check-store';
import { SnapshotStore } from '../snapshot-store';

/**
 * The behaviours every ClaimCheckStore and SnapshotStore adapter must share. `make(count)` returns
 * `count` independent instances (as separate replicas hold them) over one fresh storage, a clock the
 * test moves, and `damage`, which changes stored bytes behind the adapter's back (a bad disk, a
 * half-written copy) — one byte of the given claim, or of the newest snapshot of a stream.
 */
export interface ClaimSnapshotStoresUnderTest {
  claims: ClaimCheckStore[];
  snapshots: SnapshotStore[];
  clock: { now: Date };
  damageClaim(id: string): Promise<void>;
  damageNewestSnapshot(stream: string): Promise<void>;
  cleanup(): Promise<void>;
}

const TIMEOUT_MS = 60_000;
const DAY = 86_400_000;

export function runClaimSnapshotConformance(name: string, make: (count: number) => Promise<ClaimSnapshotStoresUnderTest>): void {
  describe(`ClaimCheckStore and SnapshotStore conformance: ${name}`, () => {
    let made: ClaimSnapshotStoresUnderTest;
    beforeEach(async () => {
      made = await make(2);
      for (const s of [...made.claims, ...made.snapshots]) await s.init();
    }, TIMEOUT_MS);
    afterEach(async () => {
      for (const s of [...made.claims, ...made.snapshots]) await s.close();
      await made.cleanup();
    }, TIMEOUT_MS);

    it('stores a payload under its SHA-256 and gives the same bytes back, to any replica', async () => {
      const [a, b] = made.claims as [ClaimCheckStore, ClaimCheckStore];
      const bytes = randomBytes(300 * 1024);
      const id = await a.put(bytes, { topic: 't', tenantId: 'acme', workflowId: 'wf1' });
      expect(id).toBe(claimIdFor(bytes));
      expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect((await b.get(id))?.equals(bytes)).toBe(true);
      expect(await b.get(claimIdFor(Buffer.from('never stored')))).toBeUndefined();
    }, TIMEOUT_MS);

    it('keeps payloads larger than one database document (2.5 MB) intact', async () => {
      const bytes = randomBytes(2.5 * 1024 * 1024);
      const id = await made.claims[0]!.put(bytes);
      expect((await made.claims[1]!.get(id))?.equals(bytes)).toBe(true);
    }, TIMEOUT_MS);

    it('is idempotent: racing puts of the same bytes store them once, and a later put refreshes their age', async () => {
      const [a, b] = made.claims as [ClaimCheckStore, ClaimCheckStore];
      const bytes = randomBytes(1.5 * 1024 * 1024);
      const ids = await Promise.all([a.put(bytes), b.put(bytes), a.put(bytes)]);
      expect(new Set(ids).size).toBe(1);
      made.clock.now = new Date(made.clock.now.getTime() + 10 * DAY);
      await b.put(bytes); // stored again 10 days later
      made.clock.now = new Date(made.clock.now.getTime() + 5 * DAY);
      expect(await a.purgeOlderThan(new Date(made.clock.now.getTime() - 7 * DAY))).toBe(0);
      expect((await a.get(ids[0]!))?.equals(bytes)).toBe(true);
    }, TIMEOUT_MS);

    it('purges payloads older than the TTL and those of a tenant, and reports what it removed', async () => {
      const [a] = made.claims as [ClaimCheckStore];
      const old = await a.put(randomBytes(1000), { tenantId: 'acme' });
      made.clock.now = new Date(made.clock.now.getTime() + 20 * DAY);
      const fresh = await a.put(randomBytes(1000), { tenantId: 'acme' });
      const other = await a.put(randomBytes(1000), { tenantId: 'globex' });
      expect(await a.purgeOlderThan(new Date(made.clock.now.getTime() - 14 * DAY))).toBe(1);
      expect(await a.get(old)).toBeUndefined();
      expect(await a.get(fresh)).toBeDefined();
      expect(await a.purgeTenant('acme')).toBe(1);
      expect(await a.get(fresh)).toBeUndefined();
      expect(await a.get(other)).toBeDefined();
    }, TIMEOUT_MS);

    it('reports a damaged payload as missing, never hands it out', async () => {
      const bytes = randomBytes(5000);
      const id = await made.claims[0]!.put(bytes);
      await made.damageClaim(id);
      expect(await made.claims[1]!.get(id)).toBeUndefined();
      expect(await made.claims[0]!.get(id)).toBeUndefined();
    }, TIMEOUT_MS);

    it('hands back the newest snapshot of a stream, to any replica, and leaves other streams alone', async () => {
      const [a, b] = made.snapshots as [SnapshotStore, SnapshotStore];
      expect(await a.latest('s1')).toBeUndefined();
      const t0 = made.clock.now.getTime();
      for (let i = 1; i <= 4; i++) await (i % 2 ? a : b).save({ stream: 's1', format: 'f1', bytes: Buffer.from(`snapshot ${i}`), takenAt: new Date(t0 + i * 1000) });
      await a.save({ stream: 's2', format: 'f9', bytes: Buffer.from('other'), takenAt: new Date(t0) });
      const latest = await b.latest('s1');
      expect(latest).toMatchObject({ stream: 's1', format: 'f1' });
      expect(latest!.bytes.toString()).toBe('snapshot 4');
      expect(latest!.takenAt.getTime()).toBe(t0 + 4000);
      expect((await a.latest('s2'))!.bytes.toString()).toBe('other');
    }, TIMEOUT_MS);

    it('keeps a multi-megabyte snapshot intact', async () => {
      const bytes = randomBytes(3.2 * 1024 * 1024);
      await made.snapshots[0]!.save({ stream: 'big', format: 'f', bytes });
      expect((await made.snapshots[1]!.latest('big'))!.bytes.equals(bytes)).toBe(true);
    }, TIMEOUT_MS);

    it('falls back to the previous snapshot when the newest is damaged, and to none when none is intact', async () => {
      const [a] = made.snapshots as [SnapshotStore];
      const t0 = made.clock.now.getTime();
      await a.save({ stream: 's', format: 'f', bytes: Buffer.from('older'), takenAt: new Date(t0 + 1000) });
      await a.save({ stream: 's', format: 'f', bytes: Buffer.from('newer'), takenAt: new Date(t0 + 2000) });
      await made.damageNewestSnapshot('s');
      expect((await a.latest('s'))!.bytes.toString()).toBe('older');
      await a.save({ stream: 'x', format: 'f', bytes: Buffer.from('only'), takenAt: new Date(t0) });
      await made.damageNewestSnapshot('x');
      expect(await a.latest('x')).toBeUndefined();
    }, TIMEOUT_MS);
  });
}
