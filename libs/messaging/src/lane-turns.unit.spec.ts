import { Headers } from '@flotilla/contracts';
import { laneOfMessage, LaneTurns, withLane } from './lane-turns';

/** A turn scheduler the test drives by hand: `turn()` runs one event-loop turn. */
function manualTurns(): { nextTurn: (fn: () => void) => void; turn(): void; pending(): number } {
  const queue: (() => void)[] = [];
  return {
    nextTurn: (fn) => void queue.push(fn),
    turn: () => {
      for (const fn of queue.splice(0)) fn();
    },
    pending: () => queue.length,
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('lane of a message', () => {
  it('is batch on a batch subscription or with the batch header, interactive otherwise', () => {
    expect(laneOfMessage({ headers: {} })).toBe('interactive');
    expect(laneOfMessage({ headers: {} }, 'batch')).toBe('batch');
    expect(laneOfMessage({ headers: { [Headers.lane]: 'batch' } })).toBe('batch');
    expect(laneOfMessage({ headers: { [Headers.lane]: 'interactive' } }, 'batch')).toBe('batch');
    expect(laneOfMessage({ headers: { [Headers.lane]: 'nonsense' } })).toBe('interactive');
  });

  it('withLane marks a message without losing its other headers', () => {
    const marked = withLane({ topic: 't', key: 'k', value: 'v', headers: { a: '1' } }, 'batch');
    expect(marked.headers).toEqual({ a: '1', [Headers.lane]: 'batch' });
    expect(laneOfMessage({ headers: marked.headers! })).toBe('batch');
  });
});

describe('LaneTurns', () => {
  it('runs interactive work at once and batch work only on a later turn', async () => {
    const loop = manualTurns();
    const turns = new LaneTurns({ nextTurn: loop.nextTurn, interactiveQuietMs: 0 });
    const ran: string[] = [];
    const batch = turns.run('batch', async () => void ran.push('batch'));
    const chat = turns.run('interactive', async () => void ran.push('chat'));
    await chat;
    await flush();
    expect(ran).toEqual(['chat']); // the batch message waits for the event loop's next turn
    loop.turn();
    await batch;
    expect(ran).toEqual(['chat', 'batch']);
  });

  it('starts one batch message per turn while chat is busy, and all waiting ones once it is quiet', async () => {
    let now = 1_000;
    const loop = manualTurns();
    const turns = new LaneTurns({ nextTurn: loop.nextTurn, interactiveQuietMs: 100, now: () => now });
    let releaseChat!: () => void;
    const chat = turns.run('interactive', () => new Promise<void>((r) => (releaseChat = r)));
    const started: number[] = [];
    const batches = [1, 2, 3, 4].map((i) => turns.run('batch', async () => void started.push(i)));

    expect(turns.interactiveBusy).toBe(true);
    loop.turn();
    await flush();
    expect(started).toEqual([1]); // a chat message waits behind at most one batch message per turn
    loop.turn();
    await flush();
    expect(started).toEqual([1, 2]);

    releaseChat();
    await chat;
    now += 50; // within the quiet window: the gaps between one chat's hops still count as busy
    expect(turns.interactiveBusy).toBe(true);
    loop.turn();
    await flush();
    expect(started).toEqual([1, 2, 3]);

    now += 100; // chat quiet: the rest go in one turn
    expect(turns.interactiveBusy).toBe(false);
    loop.turn();
    await Promise.all(batches);
    expect(started).toEqual([1, 2, 3, 4]);
    expect(turns.batchWaiting).toBe(0);
    expect(loop.pending()).toBe(0); // nothing waiting: no turn is scheduled (no spinning)
  });

  it('keeps the batch lane moving under continuous chat (one message per turn, FIFO)', async () => {
    const loop = manualTurns();
    const turns = new LaneTurns({ nextTurn: loop.nextTurn, interactiveQuietMs: 1_000_000 });
    await turns.run('interactive', async () => undefined); // busy for the whole test
    const started: number[] = [];
    const batches = Array.from({ length: 5 }, (_, i) => turns.run('batch', async () => void started.push(i)));
    for (let t = 0; t < 5; t++) {
      loop.turn();
      await flush();
    }
    await Promise.all(batches);
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });

  it('lets more batch messages per turn through when configured, and refuses a bound below one', async () => {
    expect(() => new LaneTurns({ batchPerTurnWhileInteractive: 0 })).toThrow(RangeError);
    const loop = manualTurns();
    const turns = new LaneTurns({ nextTurn: loop.nextTurn, interactiveQuietMs: 1_000_000, batchPerTurnWhileInteractive: 2 });
    await turns.run('interactive', async () => undefined);
    const started: number[] = [];
    const batches = [1, 2, 3].map((i) => turns.run('batch', async () => void started.push(i)));
    loop.turn();
    await flush();
    expect(started).toEqual([1, 2]);
    loop.turn();
    await Promise.all(batches);
    expect(started).toEqual([1, 2, 3]);
  });

  it('counts interactive work that throws as finished', async () => {
    const turns = new LaneTurns({ interactiveQuietMs: 0 });
    await expect(turns.run('interactive', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(turns.interactiveBusy).toBe(false);
  });

  it('yields to I/O and timers before a batch message on the real event loop', async () => {
    const turns = new LaneTurns({ interactiveQuietMs: 0 });
    const order: string[] = [];
    const batch = turns.run('batch', async () => void order.push('batch'));
    queueMicrotask(() => order.push('microtask'));
    await batch;
    expect(order).toEqual(['microtask', 'batch']);
  });
});
