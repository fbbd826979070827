import { createLogger, ErrorCode, FlotillaError, Logger } from '@flotilla/common';
import { ALL_DELAY_TIERS, DELAY_TIERS_OF, DelayHeaders, DelayTier, Lane, LANES } from '@flotilla/contracts';
import { laneOfMessage } from './lane-turns';
import { allSubscriptions, DeferDelivery, IncomingMessage, MessageBus, offsetAfter, OutgoingMessage, Subscription } from './port';
import { deadLetter } from './typed';

/**
 * The tier a message waiting `remainingMs` goes to: the longest of its lane's tiers whose delay does
 * not overshoot it.
 */
export function tierFor(remainingMs: number, lane: Lane = 'interactive'): DelayTier {
  const tiers = DELAY_TIERS_OF[lane];
  let tier: DelayTier = tiers[0];
  for (const t of tiers) if (t.delayMs <= remainingMs) tier = t;
  return tier;
}

/**
 * How much one fetch of a delay tier reads per partition. A tier's head that is not due pauses its
 * partition, and each look after the pause fetches again from it: with the client's default (1 MiB)
 * a tier holding thousands of timers was read and decoded whole for every head that came due.
 */
const DELAY_FETCH_BYTES_PER_PARTITION = 64 * 1024;

/**
 * `message`, to be delivered to its topic no earlier than `dueAt` (epoch ms): wrapped for a delay
 * topic when that is in the future, unchanged otherwise. The wrapped form keeps value and headers
 * and adds the target topic, key and due time as headers, so nothing is decoded on the way. A
 * message marked `flotilla-lane: batch` waits in the batch lane's tiers.
 */
export function delayed(message: OutgoingMessage, dueAt: number, now = Date.now()): OutgoingMessage {
  if (dueAt <= now) return message;
  const headers = { ...(message.headers ?? {}) };
  const target = headers[DelayHeaders.target] ?? message.topic;
  const key = headers[DelayHeaders.key] ?? message.key;
  return {
    topic: tierFor(dueAt - now, laneOfMessage({ headers })).name,
    key: message.key,
    value: message.value,
    headers: { ...headers, [DelayHeaders.target]: target, [DelayHeaders.key]: key, [DelayHeaders.dueAt]: String(Math.round(dueAt)) },
  };
}

/** What the forwarder does with a message from a delay tier at time `now`. */
export type DelayDecision =
  | { action: 'wait'; ms: number }
  | { action: 'forward'; message: OutgoingMessage }
  | { action: 'invalid'; reason: string };

/**
 * Pure decision for one delayed message. A tier's head is held until min(due, written + tier delay):
 * every message in a tier was written with at most that tier's delay left, so holding the head never
 * holds a message behind it past its own time by more than the tier's jitter. Time left over after
 * the tier's delay sends it one tier down (re-wrapped); when due it goes to its target.
 */
export function decideDelayed(raw: IncomingMessage, now: number, knownTopics: ReadonlySet<string>): DelayDecision {
  const tier = ALL_DELAY_TIERS.find((t) => t.name === raw.topic);
  if (!tier) return { action: 'invalid', reason: `${raw.topic} is not a delay topic` };
  const target = raw.headers[DelayHeaders.target];
  const key = raw.headers[DelayHeaders.key];
  const dueAt = Number(raw.headers[DelayHeaders.dueAt]);
  if (!target || !knownTopics.has(target) || ALL_DELAY_TIERS.some((t) => t.name === target)) {
    return { action: 'invalid', reason: `header ${DelayHeaders.target} must name a Flotilla topic (got ${JSON.stringify(target ?? null)})` };
  }
  if (key === undefined || key === '') return { action: 'invalid', reason: `header ${DelayHeaders.key} is missing` };
  if (!Number.isFinite(dueAt) || dueAt <= 0) return { action: 'invalid', reason: `header ${DelayHeaders.dueAt} must be epoch milliseconds (got ${JSON.stringify(raw.headers[DelayHeaders.dueAt] ?? null)})` };
  const written = Number(raw.timestamp);
  const holdUntil = Math.min(dueAt, (Number.isFinite(written) ? written : now) + tier.delayMs);
  if (now < holdUntil) return { action: 'wait', ms: holdUntil - now };
  const { [DelayHeaders.target]: _t, [DelayHeaders.key]: _k, [DelayHeaders.dueAt]: _d, ...headers } = raw.headers;
  const value = raw.value ?? Buffer.alloc(0);
  if (dueAt > now) return { action: 'forward', message: delayed({ topic: target, key, value, headers }, dueAt, now) };
  return { action: 'forward', message: { topic: target, key, value, headers } };
}

export interface DelayForwarderOptions {
  groupId?: string;
  /** Topics a delayed message may be forwarded to. */
  topics: readonly string[];
  logger?: Logger;
  now?: () => number;
}

/**
 * Moves due messages from the delay tiers to their topics. Each forward commits its input offset in
 * the same transaction (publishAndCommit), so a crash neither loses nor repeats one; a message not
 * yet due pauses its partition (DeferDelivery) — no consumer ever sleeps. Unreadable delay headers
 * go to the dead-letter topic with the reason. Each lane's tiers have a consumer group of their own
 * (the batch one `<groupId>-batch`) committing in that lane: batch timers never hold a chat's.
 */
export async function startDelayForwarder(bus: MessageBus, options: DelayForwarderOptions): Promise<Subscription> {
  const baseGroupId = options.groupId ?? 'flotilla-delay-forwarder';
  const logger = options.logger ?? createLogger({ component: 'delay-forwarder' });
  const known = new Set(options.topics);
  const now = options.now ?? Date.now;
  const forwarder = (lane: Lane): Promise<Subscription> => {
    const groupId = lane === 'interactive' ? baseGroupId : `${baseGroupId}-${lane}`;
    const tiers = DELAY_TIERS_OF[lane];
    return bus.subscribe({
      groupId,
      topics: tiers.map((t) => t.name),
      fromBeginning: true,
      autoCommit: false,
      lane,
      partitionsConcurrently: tiers.length * 6,
      maxBytesPerPartition: DELAY_FETCH_BYTES_PER_PARTITION,
      handler: async (raw) => {
        const decision = decideDelayed(raw, now(), known);
        switch (decision.action) {
          case 'wait':
            throw new DeferDelivery(decision.ms);
          case 'forward':
            await bus.publishAndCommit([decision.message], [offsetAfter(groupId, raw)], { lane });
            return;
          case 'invalid':
            logger.warn('invalid delayed message dead-lettered', { topic: raw.topic, partition: raw.partition, offset: raw.offset, reason: decision.reason });
            await bus.publishAndCommit([deadLetter(raw, groupId, new FlotillaError(ErrorCode.InvalidMessage, decision.reason, { retryable: false }), 1)], [offsetAfter(groupId, raw)], { lane });
        }
      },
    });
  };
  const subscriptions: Subscription[] = [];
  try {
    for (const lane of LANES) subscriptions.push(await forwarder(lane));
  } catch (err) {
    await Promise.allSettled(subscriptions.map((s) => s.stop()));
    throw err;
  }
  return allSubscriptions(subscriptions);
}
