import { SimulatedClock, systemClock } from './clock';

describe('SimulatedClock', () => {
  it('runs work to completion, jumping from timer to timer in order', async () => {
    const clock = new SimulatedClock(0);
    const seen: string[] = [];
    const result = await clock.run(async () => {
      await Promise.all([
        clock.sleep(60_000).then(() => seen.push(`b@${clock.now()}`)),
        clock.sleep(1_000).then(() => seen.push(`a@${clock.now()}`)),
      ]);
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen).toEqual(['a@1000', 'b@60000']);
  });

  it('ends a sleep early when its signal aborts, and reports work that waits on anything else', async () => {
    const clock = new SimulatedClock(0);
    const controller = new AbortController();
    const sleeping = clock.sleep(10_000, controller.signal);
    controller.abort();
    await sleeping;
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.run(new Promise(() => undefined))).rejects.toThrow(/simulation stalled/);
  });
});

describe('systemClock', () => {
  it('sleeps in wall-clock time and can be woken early', async () => {
    const controller = new AbortController();
    const t0 = Date.now();
    setTimeout(() => controller.abort(), 10);
    await systemClock.sleep(10_000, controller.signal);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});
