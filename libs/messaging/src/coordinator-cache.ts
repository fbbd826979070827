/**
 * Coordinator lookups remembered between requests, for kafkajs 2.2.
 *
 * kafkajs asks a broker "which broker coordinates this group / transactional id?" (FindCoordinator)
 * every time it needs the answer, and never keeps it. A transaction that sends offsets asks four
 * times — before AddOffsetsToTxn, TxnOffsetCommit, AddPartitionsToTxn and EndTxn — so a coordinator
 * transition paid four extra broker round trips in series, and they were 38 % of the coordinator's
 * requests to Kafka (measured: 1,758 of 4,598 requests in 10 s at 3 chats/s). The admin client's
 * `fetchOffsets`, which the gateway's lag measurement calls for every consumer group, asks once per
 * group per poll as well. The Java client keeps the coordinator until a request to it fails; this
 * does the same (docs/adr/0017-coordinator-lookup-cache.md).
 *
 * How: the first lookup for a (cluster, coordinator type, key) goes to the broker as before and its
 * node id is kept; later lookups return that node's broker. The answer is dropped — so the next
 * lookup asks the broker again, which is exactly what kafkajs did before — when:
 * - any request that kafkajs sends to a coordinator fails with an error that could mean the
 *   coordinator moved or went away (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, load in progress,
 *   a connection error or timeout, or any other error not known to be about something else);
 * - the node is no longer in the cluster's metadata (`findBroker` throws);
 * - it is older than `maxAgeMs` (a bound, not the mechanism).
 * Every kafkajs retry path that re-finds a coordinator does so after such a failure, so it gets a
 * fresh answer. Errors that say nothing about the coordinator (CONCURRENT_TRANSACTIONS right after a
 * commit, a rebalance in progress) keep the answer.
 *
 * This reaches into kafkajs's internal modules (`kafkajs/src/cluster`, `kafkajs/src/broker`), so it
 * is applied only to the version it was written and tested against; any other version runs
 * unpatched, with a warning.
 */
import { createLogger } from '@flotilla/common';

/** The kafkajs version whose internals this patches. */
export const PATCHED_KAFKAJS_VERSION = '2.2.4';

/** Requests kafkajs sends to a group or transaction coordinator. */
const COORDINATOR_REQUESTS = [
  'initProducerId', 'addPartitionsToTxn', 'addOffsetsToTxn', 'txnOffsetCommit', 'endTxn',
  'joinGroup', 'syncGroup', 'heartbeat', 'leaveGroup', 'offsetCommit', 'offsetFetch', 'describeGroups', 'deleteGroups',
] as const;

/** Protocol errors that are not about which broker coordinates: the answer stays. */
const NOT_ABOUT_THE_COORDINATOR = new Set([
  'CONCURRENT_TRANSACTIONS', 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'MEMBER_ID_REQUIRED',
  'INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_TXN_STATE', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED',
]);

interface Remembered {
  nodeId: number;
  at: number;
  epoch: number;
}

interface ClusterLike {
  findGroupCoordinator(args: { groupId: string; coordinatorType?: number }): Promise<{ nodeId: number }>;
  findBroker(args: { nodeId: number }): Promise<{ nodeId: number }>;
}
type ClusterClass = { prototype: ClusterLike };
type BrokerClass = { prototype: Record<string, unknown> };

/** Counts, for tests and benchmarks: lookups answered from memory, and lookups sent to the broker. */
export const coordinatorLookups = { remembered: 0, asked: 0 };

const log = createLogger({ component: 'kafka-coordinator-cache' });
const PATCHED = Symbol.for('flotilla.kafkajs.coordinatorCache');
/** Bumped by any coordinator request that fails in a way that may mean the coordinator moved. */
let epoch = 0;

/** Whether a failed coordinator request should drop every remembered coordinator. */
export function dropsCoordinators(err: unknown): boolean {
  const type = (err as { type?: unknown } | null)?.type;
  return !(typeof type === 'string' && NOT_ABOUT_THE_COORDINATOR.has(type));
}

/**
 * Patches the given kafkajs classes (exported for tests, which pass stand-ins). Idempotent.
 * `maxAgeMs` bounds how long an answer is kept even when nothing fails.
 */
export function patchCoordinatorLookups(Cluster: ClusterClass, Broker: BrokerClass, maxAgeMs = 60_000): void {
  const proto = Cluster.prototype as ClusterLike & { [PATCHED]?: boolean };
  if (proto[PATCHED]) return;
  proto[PATCHED] = true;

  const remembered = new WeakMap<object, Map<string, Remembered>>();
  const ask = proto.findGroupCoordinator;
  proto.findGroupCoordinator = async function (this: ClusterLike, args) {
    const key = `${args.coordinatorType ?? 0}:${args.groupId}`;
    let mine = remembered.get(this);
    if (!mine) remembered.set(this, (mine = new Map()));
    const hit = mine.get(key);
    if (hit && hit.epoch === epoch && Date.now() - hit.at < maxAgeMs) {
      try {
        const broker = await this.findBroker({ nodeId: hit.nodeId });
        coordinatorLookups.remembered++;
        return broker;
      } catch {
        // Not in the metadata any more: ask, as kafkajs would have.
      }
    }
    if (hit) mine.delete(key);
    const asked = epoch;
    const broker = await ask.call(this, args);
    coordinatorLookups.asked++;
    // A failure while we were asking may be about the answer we got: keep it only if none came.
    if (asked === epoch) mine.set(key, { nodeId: broker.nodeId, at: Date.now(), epoch });
    return broker;
  };

  for (const name of COORDINATOR_REQUESTS) {
    const send = Broker.prototype[name];
    if (typeof send !== 'function') continue;
    Broker.prototype[name] = async function (this: unknown, ...args: unknown[]) {
      try {
        return await (send as (...a: unknown[]) => Promise<unknown>).apply(this, args);
      } catch (err) {
        if (dropsCoordinators(err)) epoch++;
        throw err;
      }
    };
  }
}

let decided = false;

/** Patches the installed kafkajs when it is the version this was written for (decided once per process). */
export function rememberCoordinators(): void {
  if (decided) return;
  decided = true;
  let version: string | undefined;
  try {
    version = (require('kafkajs/package.json') as { version: string }).version;
  } catch {
    version = undefined;
  }
  if (version !== PATCHED_KAFKAJS_VERSION) {
    log.warn('kafkajs coordinator lookups are not cached: the installed version is not the one the cache was written for', { installed: version, expected: PATCHED_KAFKAJS_VERSION });
    return;
  }
  const Cluster = require('kafkajs/src/cluster') as ClusterClass;
  const Broker = require('kafkajs/src/broker') as BrokerClass;
  patchCoordinatorLookups(Cluster, Broker);
}
