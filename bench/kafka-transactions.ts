/**
 * Back-to-back transactions on real Kafka: the coordinator's pattern (each decision one
 * publishAndCommit right after the previous one), with kafkajs's default retry timing inside a
 * transaction vs the bus's own (20 ms start, as the Java producer retries CONCURRENT_TRANSACTIONS):
 *   npm run build && npm run bench:build
 *   eval "$(bash scripts/infra.sh env)"
 *   node tmp/bench/bench/kafka-transactions.js [transactions=60] [rounds=3] [compare=retry|coordinators]
 * The two buses run alternately, `rounds` times each, on one fresh topic; reported: the latency of a
 * transaction (publish one event + commit one offset) p50/p95 per variant and their ratio.
 * `compare=coordinators` compares kafkajs's coordinator lookups as shipped (a FindCoordinator before
 * each coordinator request) with the bus's cache of them (coordinator-cache.ts, docs/adr/0017); the
 * cache patches kafkajs for a whole process, so each variant's rounds run in child processes,
 * alternating, and each reports how many lookups went to the broker.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { coordinatorLookups, KafkaMessageBus } from '@flotilla/messaging';
import { requireInfra } from '../test/support/infra';

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

/** One variant's round in this process (compare=coordinators): prints `{ ms, asked }` as JSON. */
async function child(cache: boolean, n: number, namespace: string, round: number): Promise<void> {
  const { kafkaBrokers } = requireInfra();
  const bus = new KafkaMessageBus({ brokers: kafkaBrokers.split(','), clientId: 'bench-tx', namespace, cacheCoordinators: cache });
  await bus.connect();
  await bus.ensureTopics([{ name: 'events', partitions: 3 }, { name: 'input', partitions: 3 }]);
  const ms: number[] = [];
  try {
    await bus.publishAndCommit([{ topic: 'events', key: 'warm', value: 'x' }], [{ groupId: 'decider', topic: 'input', partition: 0, offset: String(round * (n + 1)) }]);
    const asked0 = coordinatorLookups.asked;
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      await bus.publishAndCommit([{ topic: 'events', key: `wf-${i}`, value: `event ${i}` }], [{ groupId: 'decider', topic: 'input', partition: i % 3, offset: String(round * (n + 1) + i + 1) }]);
      ms.push(performance.now() - started);
    }
    console.log(JSON.stringify({ ms, asked: cache ? coordinatorLookups.asked - asked0 : null }));
  } finally {
    await bus.disconnect();
  }
}

async function compareCoordinators(n: number, rounds: number, namespace: string): Promise<void> {
  const variants = { 'kafkajs as shipped (lookup per request)': false, 'coordinator lookups cached': true };
  const results = new Map<string, number[]>();
  const asked = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, cache] of Object.entries(variants)) {
      const out = execFileSync(process.execPath, [__filename, '--child', String(cache), String(n), namespace, String(r)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      const { ms, asked: a } = JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number[]; asked: number | null };
      results.set(name, [...(results.get(name) ?? []), ...ms]);
      if (a !== null) asked.set(name, (asked.get(name) ?? 0) + a);
    }
  }
  const [before, after] = [...results.values()];
  for (const [name, xs] of results) console.log(`${name.padEnd(42)} p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms  p95 ${pct(xs, 95).toFixed(1).padStart(7)} ms  (${xs.length} transactions${asked.has(name) ? `, ${asked.get(name)} lookups sent to the broker` : ''})`);
  console.log(`ratio (as shipped / cached): p50 ×${(pct(before!, 50) / pct(after!, 50)).toFixed(2)}, p95 ×${(pct(before!, 95) / pct(after!, 95)).toFixed(2)}`);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3] === 'true', Number(process.argv[4]), process.argv[5]!, Number(process.argv[6]));
  const { kafkaBrokers } = requireInfra();
  const n = Number(process.argv[2] ?? 60);
  const rounds = Number(process.argv[3] ?? 3);
  const namespace = `bench${randomBytes(4).toString('hex')}.`;
  if (process.argv[4] === 'coordinators') return compareCoordinators(n, rounds, namespace);
  const variants = {
    'kafkajs default retry (200 ms start)': { initialRetryTime: 200, maxRetryTime: 30_000, retries: 10 },
    'bus default (20 ms start)': undefined,
  };
  const results = new Map<string, number[]>();
  const buses = Object.entries(variants).map(([name, retry]) => ({
    name, bus: new KafkaMessageBus({ brokers: kafkaBrokers.split(','), clientId: 'bench-tx', namespace, cacheCoordinators: false, ...(retry ? { transactionRetry: retry } : {}) }),
  }));
  for (const { bus } of buses) await bus.connect();
  await buses[0]!.bus.ensureTopics([{ name: 'events', partitions: 3 }, { name: 'input', partitions: 3 }]);
  try {
    for (let r = 0; r < rounds; r++) {
      for (const { name, bus } of buses) {
        await bus.publishAndCommit([{ topic: 'events', key: 'warm', value: 'x' }], []); // producer connected, coordinator found
        for (let i = 0; i < n; i++) {
          const started = performance.now();
          await bus.publishAndCommit([{ topic: 'events', key: `wf-${i}`, value: `event ${i}` }], [{ groupId: 'decider', topic: 'input', partition: i % 3, offset: String(r * n + i + 1) }]);
          results.set(name, [...(results.get(name) ?? []), performance.now() - started]);
        }
      }
    }
  } finally {
    for (const { bus } of buses) await bus.disconnect();
  }
  const [before, after] = [...results.values()];
  for (const [name, xs] of results) console.log(`${name.padEnd(40)} p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms  p95 ${pct(xs, 95).toFixed(1).padStart(7)} ms  (${xs.length} transactions)`);
  console.log(`ratio (default / bus): p50 ×${(pct(before!, 50) / pct(after!, 50)).toFixed(2)}, p95 ×${(pct(before!, 95) / pct(after!, 95)).toFixed(2)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
