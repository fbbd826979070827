import { Logger } from '@flotilla/common';
import { AnswerTokenMessage, WorkflowEvent } from '@flotilla/contracts';
import { StoredEvent, StoredStreamToken } from '@flotilla/memory';
import type { LiveUpdate } from './live-updates';
import { FollowOptions, StreamFollower } from './stream-follower';
import { parseCursor, StreamFrame } from './stream-merger';

/*
 * The follower's I/O choreography with a fake read model and a fake live feed: live updates are
 * watched before the read model is read, a gap is filled by reading it again, and a gap that stays
 * is skipped after the bounded wait instead of stalling the stream.
 */

const WF = 'wf_1';
const TENANT = 'acme';
const stored = (sequence: number, type: string, data: Record<string, unknown>): StoredEvent => ({
  workflowId: WF, tenantId: TENANT, sequence, type, version: 1, id: `e${sequence}`, data, occurredAt: '2026-01-01T00:00:00.000Z',
});
const EVENTS = [
  stored(0, 'WorkflowStarted', { requestId: 'req-1' }),
  stored(1, 'StepScheduled', { stepId: 'compose', taskId: 'task_a', attempt: 1, kind: 'compose' }),
  stored(2, 'StepCompleted', { stepId: 'compose', taskId: 'task_a', attempt: 1, output: { answer: 'abcdef', streamedTokens: 6 } }),
  stored(3, 'WorkflowCompleted', { answer: 'abcdef', sources: [], validated: true, completedAt: 'now' }),
];
const token = (seq: number): StoredStreamToken => ({ workflowId: WF, tenantId: TENANT, taskId: 'task_a', seq, text: 'abcdef'[seq]!, occurredAt: 'now' });
const liveToken = (seq: number): LiveUpdate => ({ kind: 'token', token: { type: 'AnswerTokenStreamed', version: 1, id: `t${seq}`, data: { workflowId: WF, taskId: 'task_a', seq, text: 'abcdef'[seq]! }, metadata: { occurredAt: 'now' } } as AnswerTokenMessage });
const liveEvent = (e: StoredEvent): LiveUpdate => ({ kind: 'event', event: { type: e.type, version: 1, id: e.id, data: e.data, metadata: { occurredAt: 'now', sequence: e.sequence } } as WorkflowEvent });

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

function harness(model: { events: StoredEvent[]; tokens: StoredStreamToken[] } | null, options: Partial<FollowOptions> = {}) {
  const calls: string[] = [];
  const frames: StreamFrame[] = [];
  let listener: ((u: LiveUpdate) => void) | undefined;
  const follower = new StreamFollower({
    store: {
      load: async () => {
        calls.push('load');
        return model && { events: [...model.events], accepted: { requestId: 'req-1', question: 'q', acceptedAt: 'now' } };
      },
      loadStreamTokens: async () => [...(model?.tokens ?? [])],
    },
    watch: (_wf, l) => {
      calls.push('watch');
      listener = l;
      return () => {
        calls.push('unwatch');
        listener = undefined;
      };
    },
    logger: quiet,
  }, { workflowId: WF, tenantId: TENANT, onFrame: (f) => frames.push(f), gapWaitMs: 1_000, gapPollMs: 100, ...options });
  return { follower, calls, frames, live: (u: LiveUpdate) => listener?.(u), text: () => frames.flatMap((f) => (f.kind === 'token' ? [f.text] : [])).join('') };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('StreamFollower', () => {
  it('watches live updates before it reads the read model', async () => {
    const h = harness({ events: EVENTS, tokens: [0, 1, 2, 3, 4, 5].map(token) });
    await h.follower.start(true);
    expect(h.calls.slice(0, 2)).toEqual(['watch', 'load']);
    expect(h.text()).toBe('abcdef');
    expect(h.frames.at(-1)).toEqual(expect.objectContaining({ kind: 'completed', cursor: '3' }));
    expect(h.calls).toContain('unwatch'); // done: nothing more is watched
  });

  it('says so, and watches nothing, when the workflow is unknown to the tenant', async () => {
    const h = harness(null);
    expect(await h.follower.start(true)).toBeNull();
    expect(h.calls).toEqual(['watch', 'load', 'unwatch']);
    expect(h.frames).toEqual([]);
  });

  it('fills a gap between the read model and the live feed by reading the read model again', async () => {
    const model = { events: EVENTS.slice(0, 2), tokens: [0, 1].map(token) };
    const h = harness(model, { after: parseCursor('1:0') });
    await h.follower.start(true);
    h.live(liveToken(4)); // the live feed is ahead of the projector
    expect(h.frames.map((f) => f.cursor)).toEqual(['1:1']);
    model.tokens.push(token(2), token(3)); // the projector catches up
    await jest.advanceTimersByTimeAsync(150);
    expect(h.frames.map((f) => f.cursor)).toEqual(['1:1', '1:2', '1:3', '1:4']);
    [5].map(liveToken).forEach(h.live);
    EVENTS.slice(2).map(liveEvent).forEach(h.live);
    expect(h.frames.map((f) => f.cursor)).toEqual(['1:1', '1:2', '1:3', '1:4', '1:5', '3']);
  });

  it('skips a gap that is never filled after the bounded wait, instead of stalling', async () => {
    const h = harness({ events: EVENTS, tokens: [0, 1, 3, 4, 5].map(token) });
    await h.follower.start(true);
    expect(h.text()).toBe('ab');
    await jest.advanceTimersByTimeAsync(900);
    expect(h.text()).toBe('ab');
    await jest.advanceTimersByTimeAsync(300);
    expect(h.text()).toBe('abdef');
    expect(h.frames.at(-1)?.kind).toBe('completed');
  });

  it('catching up, finds the rest the live feed went past before it watched', async () => {
    const model = { events: EVENTS.slice(0, 2), tokens: [0, 1].map(token) };
    const h = harness(model, { catchUp: true });
    await h.follower.start(true);
    expect(h.text()).toBe('ab');
    // Nothing live ever comes (it all went by already); the projector stores the rest later.
    model.events.push(...EVENTS.slice(2));
    model.tokens.push(...[2, 3, 4, 5].map(token));
    await jest.advanceTimersByTimeAsync(2_500);
    expect(h.text()).toBe('abcdef');
    expect(h.frames.at(-1)?.kind).toBe('completed');
  });
});
