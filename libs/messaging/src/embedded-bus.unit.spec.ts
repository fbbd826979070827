import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, waitFor } from '@flotilla/common';
import { openEmbeddedDb } from '@flotilla/embedded-db';
import { EmbeddedMessageBus } from './embedded-bus';
import { runBusConformance } from './testing/bus-conformance';

/** A bus on its own SQLite file under the OS temp dir; cleanup closes that file and deletes it. */
function tempBus(): { bus: EmbeddedMessageBus; file: string; cleanup(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bus-'));
  const file = join(dir, 'flotilla.db');
  return {
    bus: new EmbeddedMessageBus(file),
    file,
    cleanup: async () => {
      // openEmbeddedDb hands back the handle this process already has open for the file.
      openEmbeddedDb(file).close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

runBusConformance('embedded (SQLite)', async () => tempBus());

describe('EmbeddedMessageBus', () => {
  it('refuses to publish to a topic that was never created, and appends nothing of that batch', async () => {
    const { bus, cleanup } = tempBus();
    try {
      await bus.connect();
      await bus.ensureTopics([{ name: 'known', partitions: 2 }]);
      await expect(bus.publish([{ topic: 'known', key: 'k', value: 'a' }, { topic: 'unknown', key: 'k', value: 'b' }]))
        .rejects.toMatchObject({ code: ErrorCode.ConfigInvalid, message: 'topic unknown does not exist' });
      expect(await bus.endOffsets('known')).toEqual(new Map([[0, 0n], [1, 0n]]));
    } finally {
      await bus.disconnect();
      await cleanup();
    }
  });

  it('keeps the log and committed group offsets across a restart on the same file', async () => {
    const first = tempBus();
    const seen: string[] = [];
    await first.bus.connect();
    await first.bus.ensureTopics([{ name: 'orders', partitions: 3 }]);
    await first.bus.publish(['a', 'b', 'c'].map((v) => ({ topic: 'orders', key: 'order-1', value: v })));
    const sub = await first.bus.subscribe({ groupId: 'g', topics: ['orders'], fromBeginning: true, handler: async (m) => void seen.push(m.value!.toString()) });
    await waitFor(() => seen.length === 3, 5_000, 'first three delivered');
    await sub.stop();
    await first.bus.disconnect();
    openEmbeddedDb(first.file).close();

    // A new process opening the same file: same topics, same end offsets, the group resumes after c.
    const again = new EmbeddedMessageBus(first.file);
    try {
      await again.connect();
      const ends = await again.endOffsets('orders');
      expect([...ends.values()].reduce((a, b) => a + b, 0n)).toBe(3n);
      await again.publish([{ topic: 'orders', key: 'order-1', value: 'd' }]);
      const resumed: string[] = [];
      const sub2 = await again.subscribe({ groupId: 'g', topics: ['orders'], fromBeginning: true, handler: async (m) => void resumed.push(m.value!.toString()) });
      await waitFor(() => resumed.length >= 1, 5_000, 'd delivered after restart');
      await sub2.stop();
      expect(resumed).toEqual(['d']);
      expect(seen).toEqual(['a', 'b', 'c']);
    } finally {
      await again.disconnect();
      await first.cleanup();
    }
  });
});
