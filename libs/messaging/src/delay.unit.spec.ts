import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@flotilla/common';
import { BATCH_DELAY_TIERS, DELAY_TIERS, DelayHeaders, Headers, Topics } from '@flotilla/contracts';
import { decideDelayed, delayed, startDelayForwarder, tierFor } from './delay';
import { EmbeddedMessageBus } from './embedded-bus';
import { connectBus } from './factory';
import { IncomingMessage, Subscription } from './port';

const KNOWN = new Set([Topics.toolTasks.name, Topics.workflowCommands.name]);
const T0 = 1_700_000_000_000;

function incoming(topic: string, headers: Record<string, string>, writtenAt: number, value = 'payload'): IncomingMessage {
  return { topic, partition: 0, offset: '0', key: 'k', value: Buffer.from(value), headers, timestamp: String(writtenAt) };
}

describe('delay tiers', () => {
  it('picks the longest tier that does not overshoot, and the shortest for less than it', () => {
    expect(tierFor(200).delayMs).toBe(1_000);
    expect(tierFor(1_000).delayMs).toBe(1_000);
    expect(tierFor(4_999).delayMs).toBe(1_000);
    expect(tierFor(5_000).delayMs).toBe(5_000);
    expect(tierFor(45_000).delayMs).toBe(30_000);
    expect(tierFor(3_600_000).delayMs).toBe(300_000);
  });

  it('leaves a message that is already due alone, and wraps one that is not, keeping value and headers', () => {
    const m = { topic: Topics.toolTasks.name, key: 'wf-1', value: 'task', headers: { 'flotilla-type': 'ExecuteStep@v1' } };
    expect(delayed(m, T0, T0)).toBe(m);
    const w = delayed(m, T0 + 7_000, T0);
    expect(w.topic).toBe('flotilla.delay.5s.v1');
    expect(w.value).toBe('task');
    expect(w.headers).toEqual({ 'flotilla-type': 'ExecuteStep@v1', [DelayHeaders.target]: Topics.toolTasks.name, [DelayHeaders.key]: 'wf-1', [DelayHeaders.dueAt]: String(T0 + 7_000) });
  });

  it('holds a tier head until min(due, written + tier delay), then moves it a tier down or to its target', () => {
    const headers = { [DelayHeaders.target]: Topics.toolTasks.name, [DelayHeaders.key]: 'wf-1', [DelayHeaders.dueAt]: String(T0 + 7_000), other: 'kept' };
    const raw = incoming('flotilla.delay.5s.v1', headers, T0);
    expect(decideDelayed(raw, T0 + 1_000, KNOWN)).toEqual({ action: 'wait', ms: 4_000 });
    // After the tier's 5 s, 2 s are left: it goes to the 1 s tier, still addressed to its target.
    const moved = decideDelayed(raw, T0 + 5_000, KNOWN);
    expect(moved).toMatchObject({ action: 'forward', message: { topic: 'flotilla.delay.1s.v1', key: 'wf-1', headers: { [DelayHeaders.target]: Topics.toolTasks.name, [DelayHeaders.dueAt]: String(T0 + 7_000), other: 'kept' } } });
    // Due: to the target with the delay headers removed.
    const due = decideDelayed(incoming('flotilla.delay.1s.v1', headers, T0 + 5_000), T0 + 7_000, KNOWN);
    expect(due).toEqual({ action: 'forward', message: { topic: Topics.toolTasks.name, key: 'wf-1', value: Buffer.from('payload'), headers: { other: 'kept' } } });
  });

  it('keeps a batch-lane message in the batch tiers, from wrapping through every move down', () => {
    const m = { topic: Topics.toolTasks.name, key: 'wf-b', value: 'task', headers: { [Headers.lane]: 'batch' } };
    expect(tierFor(45_000, 'batch').name).toBe('flotilla.delay.batch.30s.v1');
    const w = delayed(m, T0 + 40_000, T0);
    expect(w.topic).toBe('flotilla.delay.batch.30s.v1');
    const moved = decideDelayed(incoming(w.topic, w.headers!, T0), T0 + 30_000, KNOWN);
    expect(moved).toMatchObject({ action: 'forward', message: { topic: 'flotilla.delay.batch.5s.v1', headers: { [Headers.lane]: 'batch' } } });
    const due = decideDelayed(incoming('flotilla.delay.batch.5s.v1', w.headers!, T0 + 30_000), T0 + 40_000, KNOWN);
    expect(due).toMatchObject({ action: 'forward', message: { topic: Topics.toolTasks.name, headers: { [Headers.lane]: 'batch' } } });
    // A delay topic of either lane is never a target.
    expect(decideDelayed(incoming(w.topic, { ...w.headers!, [DelayHeaders.target]: BATCH_DELAY_TIERS[0].name }, T0), T0 + 40_000, KNOWN).action).toBe('invalid');
  });

  it('calls unreadable delay headers invalid, with the reason', () => {
    const ok = { [DelayHeaders.target]: Topics.toolTasks.name, [DelayHeaders.key]: 'k', [DelayHeaders.dueAt]: String(T0) };
    const cases: [Record<string, string>, RegExp][] = [
      [{ ...ok, [DelayHeaders.target]: 'nope' }, /must name a Flotilla topic/],
      [{ ...ok, [DelayHeaders.target]: DELAY_TIERS[0].name }, /must name a Flotilla topic/],
      [{ ...ok, [DelayHeaders.key]: '' }, /key/],
      [{ ...ok, [DelayHeaders.dueAt]: 'soon' }, /epoch milliseconds/],
      [{}, /must name a Flotilla topic/],
    ];
    for (const [headers, reason] of cases) {
      const d = decideDelayed(incoming(DELAY_TIERS[0].name, headers, T0), T0, KNOWN);
      expect(d.action).toBe('invalid');
      expect((d as { reason: string }).reason).toMatch(reason);
    }
  });
});

describe('the delay forwarder on the embedded log', () => {
  let bus: EmbeddedMessageBus;
  const subs: Subscription[] = [];

  beforeEach(async () => {
    bus = new EmbeddedMessageBus(join(mkdtempSync(join(tmpdir(), 'delay-')), 'log.db'));
    await connectBus(bus);
  });

  afterEach(async () => {
    await Promise.all(subs.splice(0).map((s) => s.stop()));
    await bus.disconnect();
  });

  it('delivers each delayed message once, not before it is due, in due order, and dead-letters a bad one', async () => {
    const seen: { value: string; at: number }[] = [];
    subs.push(await bus.subscribe({ groupId: 'reader', topics: [Topics.toolTasks.name], fromBeginning: true, handler: async (m) => void seen.push({ value: m.value!.toString(), at: Date.now() }) }));
    const dlq: string[] = [];
    subs.push(await bus.subscribe({ groupId: 'dlq', topics: [Topics.deadLetters.name], fromBeginning: true, handler: async (m) => void dlq.push(m.value!.toString()) }));
    subs.push(await startDelayForwarder(bus, { topics: [Topics.toolTasks.name] }));

    const now = Date.now();
    const msg = (value: string): { topic: string; key: string; value: string } => ({ topic: Topics.toolTasks.name, key: 'wf-1', value });
    await bus.publish([delayed(msg('late'), now + 1_600, now), delayed(msg('early'), now + 400, now), msg('now')]);
    await bus.publish([{ topic: DELAY_TIERS[0].name, key: 'x', value: 'poison', headers: { [DelayHeaders.target]: 'elsewhere' } }]);

    await waitFor(() => seen.length >= 3 && dlq.length >= 1, 10_000, `three delivered, one dead-lettered (seen ${JSON.stringify(seen)})`);
    expect(seen.map((s) => s.value)).toEqual(['now', 'early', 'late']);
    expect(seen[1]!.at).toBeGreaterThanOrEqual(now + 400);
    expect(seen[2]!.at).toBeGreaterThanOrEqual(now + 1_600);
    expect(dlq[0]).toContain('must name a Flotilla topic');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toHaveLength(3);
  });

  it('forwards the batch lane\'s tiers in a consumer group of their own', async () => {
    const seen: string[] = [];
    subs.push(await bus.subscribe({ groupId: 'reader', topics: [Topics.toolTasks.name], fromBeginning: true, handler: async (m) => void seen.push(m.value!.toString()) }));
    subs.push(await startDelayForwarder(bus, { topics: [Topics.toolTasks.name], groupId: 'fwd' }));
    const now = Date.now();
    const batch = delayed({ topic: Topics.toolTasks.name, key: 'wf-b', value: 'batch', headers: { [Headers.lane]: 'batch' } }, now + 300, now);
    const chat = delayed({ topic: Topics.toolTasks.name, key: 'wf-c', value: 'chat' }, now + 300, now);
    expect([batch.topic, chat.topic]).toEqual([BATCH_DELAY_TIERS[0].name, DELAY_TIERS[0].name]);
    await bus.publish([batch, chat]);
    await waitFor(() => seen.length >= 2, 10_000, 'both delivered');
    expect(seen.sort()).toEqual(['batch', 'chat']);
    const committed = async (groupId: string, topic: string): Promise<bigint> => [...(await bus.committedOffsets(groupId, topic)).values()].reduce((a, b) => a + b, 0n);
    expect(await committed('fwd', DELAY_TIERS[0].name)).toBe(1n);
    expect(await committed('fwd-batch', BATCH_DELAY_TIERS[0].name)).toBe(1n);
    expect(await committed('fwd', BATCH_DELAY_TIERS[0].name)).toBe(0n);
  });
});
