import { waitFor } from '@flotilla/common';
import { startIdlePurge } from './idle-purge';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

describe('startIdlePurge', () => {
  it('purges sessions idle longer than idleMs on every tick, and keeps going after a failed run', async () => {
    const cutoffs: number[] = [];
    let calls = 0;
    const store = {
      purgeIdle: async (olderThan: Date): Promise<number> => {
        calls += 1;
        cutoffs.push(olderThan.getTime());
        if (calls === 1) throw new Error('server away');
        return 2;
      },
    };
    const purge = startIdlePurge(store, { idleMs: 30_000, everyMs: 5, now: () => new Date(100_000), logger: quiet });
    await waitFor(() => calls >= 3, 5_000, 'three purge runs');
    await purge.stop();
    const after = calls;

    expect(cutoffs.every((c) => c === 70_000)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(after);
  });
});
