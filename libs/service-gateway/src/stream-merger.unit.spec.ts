import fc from 'fast-check';
import { compareCursors, formatCursor, parseCursor, StreamEvent, StreamFrame, StreamMerger, StreamToken } from './stream-merger';

/*
 * The answer stream's ordering, given/when/then with no I/O: whatever mix of read-model rows and
 * live messages arrives, in whatever order and however often, the client gets each frame once, in
 * order, with nothing missing.
 */

const started = (): StreamEvent => ({ sequence: 0, type: 'WorkflowStarted', data: { requestId: 'r1' } });
const scheduled = (sequence: number, taskId: string, kind = 'compose'): StreamEvent => ({ sequence, type: 'StepScheduled', data: { stepId: kind, taskId, attempt: 1, kind } });
const completed = (sequence: number, taskId: string, streamedTokens?: number): StreamEvent => ({
  sequence, type: 'StepCompleted', data: { stepId: 'compose', taskId, attempt: 1, output: { answer: 'x', ...(streamedTokens !== undefined ? { streamedTokens } : {}) } },
});
const failedStep = (sequence: number, taskId: string): StreamEvent => ({ sequence, type: 'StepFailed', data: { stepId: 'compose', taskId, attempt: 1, error: { code: 'X', message: 'x', retryable: true } } });
const revision = (sequence: number, n: number): StreamEvent => ({ sequence, type: 'AnswerRevisionRequested', data: { revision: n, reasons: ['made up a date'] } });
const answered = (sequence: number, answer: string): StreamEvent => ({ sequence, type: 'WorkflowCompleted', data: { answer, sources: [], validated: true, completedAt: 'now' } });
const tokens = (taskId: string, words: string[]): StreamToken[] => words.map((text, seq) => ({ taskId, seq, text }));

/** A workflow whose first draft is rejected: tokens of attempt A, a revision, tokens of attempt B, the answer. */
function revisedWorkflow(): { events: StreamEvent[]; tokens: StreamToken[]; answer: string } {
  const a = tokens('task_a', ['Order ', '1001 ', 'arrives ', '2031-01-01.']);
  const b = tokens('task_b', ['Order ', '1001 ', 'is ', 'in ', 'transit.']);
  const events = [
    started(), scheduled(1, 'task_plan', 'plan'), completed(2, 'task_plan'), scheduled(3, 'task_a'), completed(4, 'task_a', a.length),
    scheduled(5, 'task_v', 'validate'), completed(6, 'task_v'), revision(7, 1), scheduled(8, 'task_b'), completed(9, 'task_b', b.length),
    scheduled(10, 'task_v2', 'validate'), completed(11, 'task_v2'), answered(12, 'Order 1001 is in transit.'),
  ];
  return { events, tokens: [...a, ...b], answer: 'Order 1001 is in transit.' };
}

const summary = (frames: StreamFrame[]): string[] => frames.map((f) => (f.kind === 'token' ? `${f.cursor}=${f.text}` : `${f.cursor}:${f.kind}`));

describe('cursors', () => {
  it('format, parse and order as (event, token) pairs, an event frame before the tokens it schedules', () => {
    expect(formatCursor({ at: 3, seq: 0 })).toBe('3:0');
    expect(formatCursor({ at: 7 })).toBe('7');
    expect(parseCursor('3:12')).toEqual({ at: 3, seq: 12 });
    expect(parseCursor('7')).toEqual({ at: 7 });
    for (const bad of ['', '-1', '3:', ':3', '1.5', 'abc', '3:4:5', '1234567890']) expect(parseCursor(bad)).toBeUndefined();
    const order = ['3:0', '3:1', '3:10', '7', '8:0', '8:2', '12'].map((c) => parseCursor(c)!);
    for (let i = 1; i < order.length; i++) expect(compareCursors(order[i - 1]!, order[i]!)).toBeLessThan(0);
    expect(compareCursors({ at: 3, seq: 1 }, { at: 3, seq: 1 })).toBe(0);
  });
});

describe('StreamMerger', () => {
  it('streams a live workflow in order and sends the answer only after every token it reported', () => {
    const m = new StreamMerger();
    [started(), scheduled(1, 'task_a')].forEach((e) => m.addEvent(e));
    tokens('task_a', ['Hello ', 'there']).forEach((t) => m.addToken(t));
    expect(summary(m.drain())).toEqual(['1:0=Hello ', '1:1=there']);
    // The final event overtakes the last token (they travel on different topics): the answer waits.
    [completed(2, 'task_a', 3), answered(3, 'Hello there!')].forEach((e) => m.addEvent(e));
    expect(m.drain()).toEqual([]);
    expect(m.waiting).toBe('gap');
    m.addToken({ taskId: 'task_a', seq: 2, text: '!' });
    expect(summary(m.drain())).toEqual(['1:2=!', '3:completed']);
    expect(m.finished).toBe(true);
    expect(m.waiting).toBe('nothing');
  });

  it('resumes after a cursor from stored rows and live messages that overlap and leave a gap, with no duplicate', () => {
    const words = Array.from({ length: 20 }, (_, i) => `w${i} `);
    const all = tokens('task_a', words);
    const m = new StreamMerger(parseCursor('1:4'));
    // Live first (watching starts before the read model is read): from token 12 on.
    all.slice(12, 15).forEach((t) => m.addToken(t));
    expect(m.drain()).toEqual([]);
    // The read model lags: events and tokens 0..9.
    [started(), scheduled(1, 'task_a')].forEach((e) => m.addEvent(e));
    all.slice(0, 10).forEach((t) => m.addToken(t));
    expect(m.drain().map((f) => f.cursor)).toEqual(['1:5', '1:6', '1:7', '1:8', '1:9']);
    expect(m.waiting).toBe('gap');
    // The next read of the model fills the gap (and repeats what is known).
    all.slice(0, 12).forEach((t) => m.addToken(t));
    expect(m.drain().map((f) => f.cursor)).toEqual(['1:10', '1:11', '1:12', '1:13', '1:14']);
    expect(m.waiting).toBe('live');
    all.slice(13).forEach((t) => m.addToken(t));
    [completed(2, 'task_a', 20), answered(3, words.join(''))].forEach((e) => m.addEvent(e));
    const rest = m.drain();
    expect(summary(rest).at(-1)).toBe('3:completed');
    expect(rest.filter((f) => f.kind === 'token').map((f) => f.cursor)).toEqual(Array.from({ length: 5 }, (_, i) => `1:${15 + i}`));
  });

  it('orders a revision between the rejected draft and the revised one, and resumes across it', () => {
    const wf = revisedWorkflow();
    const full = new StreamMerger();
    wf.events.forEach((e) => full.addEvent(e));
    wf.tokens.forEach((t) => full.addToken(t));
    const frames = full.drain();
    expect(summary(frames)).toEqual([
      '3:0=Order ', '3:1=1001 ', '3:2=arrives ', '3:3=2031-01-01.', '7:revision',
      '8:0=Order ', '8:1=1001 ', '8:2=is ', '8:3=in ', '8:4=transit.', '12:completed',
    ]);

    const resumed = new StreamMerger(parseCursor('3:1'));
    wf.events.forEach((e) => resumed.addEvent(e));
    wf.tokens.forEach((t) => resumed.addToken(t));
    expect(summary(resumed.drain())).toEqual(summary(frames.slice(2)));

    const afterRevision = new StreamMerger(parseCursor('7'));
    wf.events.forEach((e) => afterRevision.addEvent(e));
    wf.tokens.forEach((t) => afterRevision.addToken(t));
    expect(summary(afterRevision.drain())).toEqual(summary(frames.slice(5)));
  });

  it('sends nothing more to a client that already has the answer, and says the stream is over', () => {
    const wf = revisedWorkflow();
    const m = new StreamMerger(parseCursor('12'));
    wf.events.forEach((e) => m.addEvent(e));
    wf.tokens.forEach((t) => m.addToken(t));
    expect(m.drain()).toEqual([]);
    expect(m.finished).toBe(true);
  });

  it('waits for a token whose attempt it does not know yet, then places it', () => {
    const m = new StreamMerger();
    m.addToken({ taskId: 'task_a', seq: 0, text: 'early' });
    m.addEvent(started());
    expect(m.drain()).toEqual([]);
    expect(m.waiting).toBe('gap');
    m.addEvent(scheduled(1, 'task_a'));
    expect(summary(m.drain())).toEqual(['1:0=early']);
    expect(m.waiting).toBe('live');
  });

  it('reports a missing event as a gap, and gives up on it only when forced', () => {
    const m = new StreamMerger();
    [started(), scheduled(2, 'task_a')].forEach((e) => m.addEvent(e));
    m.addToken({ taskId: 'task_a', seq: 0, text: 'a' });
    expect(m.drain()).toEqual([]);
    expect(m.waiting).toBe('gap');
    expect(summary(m.drain(true))).toEqual(['2:0=a']);
    // A late copy of the skipped event changes nothing already sent.
    m.addEvent(scheduled(1, 'task_x', 'tool'));
    m.addToken({ taskId: 'task_a', seq: 1, text: 'b' });
    expect(summary(m.drain())).toEqual(['2:1=b']);
  });

  it('skips a token that never comes only when forced, and then goes on', () => {
    const m = new StreamMerger();
    [started(), scheduled(1, 'task_a'), completed(2, 'task_a', 3), answered(3, 'abc')].forEach((e) => m.addEvent(e));
    [{ taskId: 'task_a', seq: 0, text: 'a' }, { taskId: 'task_a', seq: 2, text: 'c' }].forEach((t) => m.addToken(t));
    expect(summary(m.drain())).toEqual(['1:0=a']);
    expect(m.waiting).toBe('gap');
    expect(summary(m.drain(true))).toEqual(['1:2=c', '3:completed']);
  });

  it('moves on from a failed compose attempt to its retry, and ends with a failed workflow\'s error', () => {
    const m = new StreamMerger();
    [started(), scheduled(1, 'task_a'), failedStep(2, 'task_a'), scheduled(3, 'task_b'), failedStep(4, 'task_b'),
      { sequence: 5, type: 'WorkflowFailed', data: { code: 'MODEL_FAILED', reason: 'compose step "compose" failed: down', failedAt: 'now' } }].forEach((e) => m.addEvent(e));
    m.addToken({ taskId: 'task_a', seq: 0, text: 'partial' });
    expect(m.drain()).toEqual([
      { kind: 'token', cursor: '1:0', seq: 0, text: 'partial' },
      { kind: 'failed', cursor: '5', code: 'MODEL_FAILED', reason: 'compose step "compose" failed: down' },
    ]);
    expect(m.finished).toBe(true);
  });

  it('ends a cancelled workflow\'s stream with an error frame', () => {
    const m = new StreamMerger();
    [started(), scheduled(1, 'task_a'), { sequence: 2, type: 'WorkflowCancelled', data: { reason: 'asked twice', cancelledAt: 'now' } }].forEach((e) => m.addEvent(e));
    m.addToken({ taskId: 'task_a', seq: 0, text: 'partial' });
    expect(summary(m.drain())).toEqual(['1:0=partial', '2:failed']);
    expect(m.finished).toBe(true);
  });

  it('puts a confirmation question in the stream once, in order, and a resume after it does not repeat it', () => {
    const asked: StreamEvent = {
      sequence: 3, type: 'StepAwaitingConfirmation',
      data: { stepId: 'request-refund', tool: 'refund.request', args: { orderId: '1001', amount: 5 }, summary: 'Refund $5.00 on order 1001', requestedAt: 'now', expiresAt: '2026-11-21T10:02:00.000Z' },
    };
    const events = [started(), scheduled(1, 'task_plan', 'plan'), completed(2, 'task_plan'), asked, { sequence: 4, type: 'ConfirmationGiven', data: { stepId: 'request-refund', confirmedAt: 'now' } },
      scheduled(5, 'task_a'), completed(6, 'task_a', 1), answered(7, 'I refunded $5.00 on order 1001.')];
    const m = new StreamMerger();
    events.forEach((e) => m.addEvent(e));
    m.addToken({ taskId: 'task_a', seq: 0, text: 'I refunded $5.00 on order 1001.' });
    const frames = m.drain();
    expect(summary(frames)).toEqual(['3:confirmation', '5:0=I refunded $5.00 on order 1001.', '7:completed']);
    expect(frames[0]).toEqual({
      kind: 'confirmation', cursor: '3', stepId: 'request-refund', tool: 'refund.request', args: { orderId: '1001', amount: 5 }, summary: 'Refund $5.00 on order 1001',
      expiresAt: '2026-11-21T10:02:00.000Z',
    });
    const resumed = new StreamMerger(parseCursor('3'));
    events.forEach((e) => resumed.addEvent(e));
    resumed.addToken({ taskId: 'task_a', seq: 0, text: 'I refunded $5.00 on order 1001.' });
    expect(summary(resumed.drain())).toEqual(['5:0=I refunded $5.00 on order 1001.', '7:completed']);
  });

  it('ignores a redelivered token with other text: the first copy of a position wins', () => {
    const m = new StreamMerger();
    [started(), scheduled(1, 'task_a')].forEach((e) => m.addEvent(e));
    expect(m.addToken({ taskId: 'task_a', seq: 0, text: 'first' })).toBe(true);
    expect(m.addToken({ taskId: 'task_a', seq: 0, text: 'second' })).toBe(false);
    expect(summary(m.drain())).toEqual(['1:0=first']);
  });

  it('whatever the arrival order, duplication and resume point: every frame after the cursor exactly once, in order', () => {
    const wf = revisedWorkflow();
    const full = new StreamMerger();
    wf.events.forEach((e) => full.addEvent(e));
    wf.tokens.forEach((t) => full.addToken(t));
    const frames = full.drain();
    const expected = summary(frames);
    type Item = { event: StreamEvent } | { token: StreamToken };
    const items: Item[] = [...wf.events.map((event) => ({ event })), ...wf.tokens.map((token) => ({ token }))];
    fc.assert(fc.property(
      fc.array(fc.nat(items.length - 1), { minLength: items.length * 2, maxLength: items.length * 4 }),
      fc.integer({ min: -1, max: expected.length - 1 }),
      fc.integer({ min: 1, max: 6 }),
      (order, resumeAt, drainEvery) => {
        const after = resumeAt < 0 ? undefined : parseCursor(frames[resumeAt]!.cursor);
        const m = new StreamMerger(after);
        const got: StreamFrame[] = [];
        // A random multiset of arrivals, then everything once more (the last read of the model).
        [...order.map((i) => items[i]!), ...items].forEach((item, n) => {
          if ('event' in item) m.addEvent(item.event);
          else m.addToken(item.token);
          if (n % drainEvery === 0) got.push(...m.drain());
        });
        got.push(...m.drain());
        expect(summary(got)).toEqual(expected.slice(resumeAt + 1));
        expect(m.finished).toBe(true);
      },
    ), { seed: 4, numRuns: 300 });
  });
});
