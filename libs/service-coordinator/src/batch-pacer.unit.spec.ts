import { BatchPacer, BatchPacerOptions, MAX_DEFER_MS } from './batch-pacer';

describe('BatchPacer: the batch rate while chat is served, learned from chat latency', () => {
  const clock = { t: 0 };
  const now = (): number => clock.t;
  let moving = 0;
  const pacer = (options: Partial<BatchPacerOptions> = {}): BatchPacer => new BatchPacer({ batchMoving: () => moving, now, ...options });
  beforeEach(() => {
    clock.t = 1_000_000;
    moving = 0;
  });

  /** One chat per second for `n` seconds, each taking `ms`, admitting batch work whenever allowed. */
  function chat(p: BatchPacer, n: number, ms: number): number {
    let admitted = 0;
    for (let i = 0; i < n; i++) {
      p.chatSeen();
      const startedAt = clock.t;
      for (let step = 0; step < 10; step++) {
        if (p.pace().admit) {
          p.admitted();
          admitted++;
        }
        clock.t += 100;
      }
      p.observeChat(ms, startedAt);
    }
    return admitted;
  }

  it('does not pace the batch lane when no chat is being served', () => {
    const p = pacer();
    expect(p.chatting).toBe(false);
    for (let i = 0; i < 100; i++) {
      expect(p.pace()).toEqual({ admit: true });
      p.admitted();
    }
  });

  it('starts chat with a probe: no batch admission until batch work has drained and the baseline is measured', () => {
    const p = pacer();
    moving = 3;
    p.chatSeen();
    expect(p.probing).toBe(true);
    expect(p.pace()).toEqual({ admit: false, retryInMs: 500 });
    // Chats beside moving batch work are not the baseline.
    p.observeChat(900, clock.t);
    clock.t += 1_000;
    moving = 0;
    expect(p.pace().admit).toBe(false); // drained now; chats from here on count
    for (const ms of [300, 250, 280, 260, 270]) {
      const started = clock.t;
      clock.t += 1_000;
      p.observeChat(ms, started);
    }
    expect(p.probing).toBe(false);
    expect(p.baselineMs).toBe(270);
    expect(p.pace()).toEqual({ admit: true });
  });

  it('paces admissions at the learned rate while chat is served', () => {
    const p = pacer({ initialPerSecond: 2 });
    p.chatSeen();
    expect(p.pace().admit).toBe(false); // the probe: nothing moving, so drained from now
    for (let i = 0; i < 5; i++) {
      clock.t += 1_000;
      p.observeChat(200, clock.t - 500);
    }
    expect(p.probing).toBe(false);
    expect(p.pace().admit).toBe(true);
    p.admitted();
    expect(p.pace()).toEqual({ admit: false, retryInMs: 500 });
    clock.t += 500;
    expect(p.pace().admit).toBe(true);
  });

  it('halves the rate while chat is slower than tolerated, down to the floor, and grows it back when chat recovers', () => {
    const p = pacer({ initialPerSecond: 4, minPerSecond: 0.25, probeEveryMs: 10 * 60_000 });
    chat(p, 6, 200); // the probe: baseline 200 ms
    expect(p.baselineMs).toBe(200);
    chat(p, 8, 400);
    expect(p.perSecond).toBe(2);
    chat(p, 40, 400);
    expect(p.perSecond).toBe(0.25);
    // At the floor the next start is 4 s away, but a deferred request asks again within a second
    // (chat may stop meanwhile, and then the batch lane should not sit out the rest).
    p.chatSeen();
    if (p.pace().admit) p.admitted();
    const deferred = p.pace();
    expect(deferred.admit).toBe(false);
    expect(!deferred.admit && deferred.retryInMs).toBe(MAX_DEFER_MS);
    const before = p.perSecond;
    chat(p, 16, 210); // within 1.2 × baseline, and the rate was used: more
    expect(p.perSecond).toBeGreaterThan(before);
  });

  it("halves the rate when one chat of a window is over 3 × the baseline, even with the window's median unharmed", () => {
    const p = pacer({ initialPerSecond: 4, probeEveryMs: 10 * 60_000 });
    chat(p, 5, 200); // the probe
    expect(p.baselineMs).toBe(200);
    chat(p, 7, 200);
    chat(p, 1, 650); // the 8th of the window: its tail
    expect(p.perSecond).toBe(2);
    chat(p, 7, 200);
    chat(p, 1, 590); // under 3 × 200: unharmed, and the rate was used
    expect(p.perSecond).toBeCloseTo(2.2);
  });

  it('grows the rate only when batch work used it (an empty backlog says nothing about a larger rate)', () => {
    const p = pacer({ initialPerSecond: 1, probeEveryMs: 10 * 60_000 });
    chat(p, 6, 200);
    for (let i = 0; i < 16; i++) {
      p.chatSeen();
      clock.t += 1_000;
      p.observeChat(200, clock.t - 1_000); // nothing admitted
    }
    expect(p.perSecond).toBe(1);
  });

  it('keeps the rate when no baseline could be measured (batch never drained within the probe)', () => {
    const p = pacer({ initialPerSecond: 1, probeMaxMs: 5_000 });
    moving = 5;
    p.chatSeen();
    for (let i = 0; i < 6; i++) {
      clock.t += 1_000;
      p.chatSeen();
      p.pace();
      p.observeChat(900, clock.t - 500);
    }
    expect(p.probing).toBe(false);
    expect(Number.isNaN(p.baselineMs)).toBe(true);
    chat(p, 16, 5_000);
    expect(p.perSecond).toBe(1);
  });

  it('measures the baseline again after probeEveryMs of chat, and after a quiet spell', () => {
    const p = pacer({ probeEveryMs: 30_000, quietMs: 5_000 });
    chat(p, 6, 200);
    expect(p.baselineMs).toBe(200);
    chat(p, 30, 200);
    // 30 s on, the next chat input starts a probe; the new chat mix is slower for good.
    expect(p.probing).toBe(true);
    chat(p, 6, 500);
    expect(p.probing).toBe(false);
    expect(p.baselineMs).toBe(500);
    clock.t += 6_000;
    expect(p.chatting).toBe(false);
    expect(p.pace().admit).toBe(true);
    p.chatSeen();
    expect(p.probing).toBe(true);
  });
});
