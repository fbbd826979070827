import { LaneGate, Release } from './lane-gate';

/** Lets every settled promise's continuations run. */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('LaneGate', () => {
  it('refuses non-positive or fractional bounds', () => {
    expect(() => new LaneGate({ interactiveConcurrency: 0, batchConcurrency: 1 })).toThrow(RangeError);
    expect(() => new LaneGate({ interactiveConcurrency: 2, batchConcurrency: 1.5 })).toThrow(RangeError);
  });

  it('never runs more batch tasks at once than its bound, and runs them all', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 4, batchConcurrency: 3 });
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await Promise.all(Array.from({ length: 40 }, (_, i) => gate.run('batch', async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 1 + (i % 3)));
      running--;
      done.push(i);
    })));
    expect(peak).toBe(3);
    expect(done).toHaveLength(40);
    expect(gate.stats().batch).toEqual({ running: 0, waiting: 0, limit: 3 });
  });

  it('gives interactive work its own slots: a full batch lane does not delay it', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 2, batchConcurrency: 1 });
    const batch = await gate.acquire('batch');
    const queuedBatch = gate.acquire('batch');
    const interactive = await gate.acquire('interactive'); // resolves at once despite the busy batch lane
    expect(interactive).toBeDefined();
    expect(gate.stats()).toMatchObject({ interactive: { running: 1, waiting: 0, limit: 2 }, batch: { running: 1, waiting: 1, limit: 1 } });
    interactive!();
    batch!();
    (await queuedBatch)!();
  });

  it('lets queued interactive work overtake batch work queued before it', async () => {
    // One slot each way would not show overtaking; make interactive the scarce lane.
    const gate = new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 2 });
    const order: string[] = [];
    const holding = (await gate.acquire('interactive'))!;
    const b1 = (await gate.acquire('batch'))!; // a batch slot is free and no interactive work waits: starts
    const started = (name: string) => (release: Release | undefined): Release => {
      order.push(name);
      return release!;
    };
    // Now interactive work queues; batch queued after it must wait even though a batch slot is free.
    const i1 = gate.acquire('interactive').then(started('i1'));
    const b2 = gate.acquire('batch').then(started('b2'));
    const i2 = gate.acquire('interactive').then(started('i2'));
    await flush();
    expect(order).toEqual([]);
    expect(gate.stats().batch).toEqual({ running: 1, waiting: 1, limit: 2 });

    holding();
    const r1 = await i1;
    await flush();
    expect(order).toEqual(['i1']); // i2 still waits, so b2 still waits
    r1();
    const r2 = await i2;
    const rb2 = await b2; // no interactive work waits any more: the free batch slot goes to b2
    expect(order).toEqual(['i1', 'i2', 'b2']);
    [r2, rb2, b1].forEach((r) => r());
    expect(gate.stats()).toMatchObject({ interactive: { running: 0, waiting: 0, limit: 1 }, batch: { running: 0, waiting: 0, limit: 2 } });
  });

  it('holds a freed batch slot back while interactive work waits, and gives it out once none does', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 1 });
    const i = (await gate.acquire('interactive'))!;
    const b = (await gate.acquire('batch'))!;
    const order: string[] = [];
    const nextB = gate.acquire('batch').then((r) => (order.push('b'), r!));
    const nextI = gate.acquire('interactive').then((r) => (order.push('i'), r!));
    b(); // a batch slot frees, but interactive work waits: the batch waiter holds back
    await flush();
    expect(order).toEqual([]);
    i();
    (await nextI)();
    (await nextB)();
    expect(order).toEqual(['i', 'b']);
  });

  it('gives up after waitMs with undefined, leaving the queue, and a later release is not lost', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 1 });
    const b = (await gate.acquire('batch'))!;
    expect(await gate.acquire('batch', 20)).toBeUndefined();
    expect(gate.stats().batch).toEqual({ running: 1, waiting: 0, limit: 1 });
    b();
    b(); // releasing twice frees one slot only
    const again = (await gate.acquire('batch', 20))!;
    expect(gate.stats().batch.running).toBe(1);
    again();
  });

  it('starts waiting batch work when the interactive waiter ahead of it gives up', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 1 });
    const i = (await gate.acquire('interactive'))!;
    const gaveUp = gate.acquire('interactive', 10);
    const b = gate.acquire('batch');
    expect(await gaveUp).toBeUndefined();
    const rb = await b;
    expect(rb).toBeDefined();
    rb!();
    i();
  });

  it('releases the slot when the work throws', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 1 });
    await expect(gate.run('batch', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(gate.stats().batch.running).toBe(0);
  });

  it('holds batch work to the smaller bound while interactive work is around, and widens it again once chat is quiet', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 2, batchConcurrency: 3, batchConcurrencyWhileInteractive: 1, interactiveQuietMs: 40 });
    const i = (await gate.acquire('interactive'))!;
    expect(gate.stats().interactiveBusy).toBe(true);
    const b1 = (await gate.acquire('batch'))!;
    let second: Release | undefined;
    const b2 = gate.acquire('batch').then((r) => (second = r!));
    await flush();
    expect(second).toBeUndefined(); // one batch task while chat runs
    i();
    await flush();
    expect(second).toBeUndefined(); // still within the quiet window after the chat task ended
    expect(gate.stats().interactiveBusy).toBe(true);
    await b2; // the window ends: the held batch task starts on its own, no other event needed
    expect(gate.stats()).toMatchObject({ interactiveBusy: false, batch: { running: 2, waiting: 0 } });
    const b3 = (await gate.acquire('batch', 0))!;
    expect(b3).toBeDefined(); // full width (3) again
    expect(await gate.acquire('batch', 0)).toBeUndefined();
    [b1, second!, b3].forEach((r) => r());
  });

  it('with no batch slot while interactive (strict priority), starts no batch task until chat has been quiet', async () => {
    const gate = new LaneGate({ interactiveConcurrency: 2, batchConcurrency: 2, batchConcurrencyWhileInteractive: 0, interactiveQuietMs: 40 });
    const i = (await gate.acquire('interactive'))!;
    expect(await gate.acquire('batch', 0)).toBeUndefined();
    let started: Release | undefined;
    const held = gate.acquire('batch').then((r) => (started = r!));
    i();
    await flush();
    expect(started).toBeUndefined(); // within the quiet window
    await held; // then it starts on its own
    expect(gate.stats()).toMatchObject({ interactiveBusy: false, batch: { running: 1 } });
    started!();
  });

  it('never raises batch above its bound, nor takes a negative or fractional bound while interactive', () => {
    expect(() => new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 2, batchConcurrencyWhileInteractive: -1 })).toThrow(RangeError);
    expect(() => new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 2, batchConcurrencyWhileInteractive: 0.5 })).toThrow(RangeError);
    const gate = new LaneGate({ interactiveConcurrency: 1, batchConcurrency: 2, batchConcurrencyWhileInteractive: 5 });
    expect(gate.stats().batch.limit).toBe(2);
  });
});
