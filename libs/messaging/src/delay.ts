import { createLogger, ErrorCode, FlotillaError, Logger } from '@flotilla/common';
import { DELAY_TIERS, DelayHeaders } from '@flotilla/contracts';
import { DeferDelivery, IncomingMessage, MessageBus, offsetAfter, OutgoingMessage, Subscription } from './port';
import { deadLetter } from './typed';

type Tier = (typeof DELAY_TIERS)[number];

/** The tier a message waiting `remainingMs` goes to: the longest whose delay does not overshoot it. */
export function tierFor(remainingMs: number): Tier {
  let tier: Tier = DELAY_TIERS[0];
  for (const t of DELAY_TIERS) if (t.delayMs <= remainingMs) tier = t;
  return tier;
}

/**
 * `message`, to be delivered to its topic no earlier than `dueAt` (epoch ms): wrapped for a delay
 * topic when that is in the future, unchanged otherwise. The wrapped form keeps value and headers
 * and adds the target topic, key and due time as headers, so nothing is decoded on the way.
 */
export function delayed(message: OutgoingMessage, dueAt: number, now = Date.now()): OutgoingMessage {
  if (dueAt <= now) return message;
  const headers = { ...(message.headers ?? {}) };
  const target = headers[DelayHeaders.target] ?? message.topic;
  const key = headers[DelayHeaders.key] ?? message.key;
  return {
    topic: tierFor(dueAt - now).name,
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
  const tier = DELAY_TIERS.find((t) => t.name === raw.topic);
  if (!tier) return { action: 'invalid', reason: `${raw.topic} is not a delay topic` };
  const target = raw.headers[DelayHeaders.target];
  const key = raw.headers[DelayHeaders.key];
  const dueAt = Number(raw.headers[DelayHeaders.dueAt]);
  if (!target || !knownTopics.has(target) || DELAY_TIERS.some((t) => t.name === target)) {
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
 * go to the dead-letter topic with the reason.
 */
export async function startDelayForwarder(bus: MessageBus, options: DelayForwarderOptions): Promise<Subscription> {
  const groupId = options.groupId ?? 'flotilla-delay-forwarder';
  const logger = options.logger ?? createLogger({ component: 'delay-forwarder' });
  const known = new Set(options.topics);
  const now = options.now ?? Date.now;
  return bus.subscribe({
    groupId,
    topics: DELAY_TIERS.map((t) => t.name),
    fromBeginning: true,
    autoCommit: false,
    partitionsConcurrently: DELAY_TIERS.length * 6,
    handler: async (raw) => {
      const decision = decideDelayed(raw, now(), known);
      switch (decision.action) {
        case 'wait':
          throw new DeferDelivery(decision.ms);
        case 'forward':
          await bus.publishAndCommit([decision.message], [offsetAfter(groupId, raw)]);
          return;
        case 'invalid':
          logger.warn('invalid delayed message dead-lettered', { topic: raw.topic, partition: raw.partition, offset: raw.offset, reason: decision.reason });
          await bus.publishAndCommit([deadLetter(raw, groupId, new FlotillaError(ErrorCode.InvalidMessage, decision.reason, { retryable: false }), 1)], [offsetAfter(groupId, raw)]);
      }
    },
  });
}
