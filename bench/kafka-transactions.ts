/**
 * Back-to-back transactions on real Kafka: the coordinator's pattern (each decision one
 * publishAndCommit right after the previous one), with kafkajs's default retry timing inside a
 * transaction vs the bus's own (20 ms start, as the Java producer retries CONCURRENT_TRANSACTIONS):
 *   npm run build && npm run bench:build
 *   eval "$(bash scripts/infra.sh env)"
 *   node tmp/bench/bench/kafka-transactions.js [transactions=60] [rounds=3]
 * The two buses run alternately, `rounds` times each, on one fresh topic; reported: the latency of a
 * transaction (publish one event + commit one offset) p50/p95 per variant and their ratio.
 */
import { randomBytes } from 'node:crypto';
import { KafkaMessageBus } from '@flotilla/messaging';
import { requireInfra } from '../test/support/infra';

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

async function main(): Promise<void> {
  const { kafkaBrokers } = requireInfra();
  const n = Number(process.argv[2] ?? 60);
  const rounds = Number(process.argv[3] ?? 3);
  const namespace = `bench${randomBytes(4).toString('hex')}.`;
  const variants = {
    'kafkajs default retry (200 ms start)': { initialRetryTime: 200, maxRetryTime: 30_000, retries: 10 },
    'bus default (20 ms start)': undefined,
  };
  const results = new Map<string, number[]>();
  const buses = Object.entries(variants).map(([name, retry]) => ({
    name, bus: new KafkaMessageBus({ brokers: kafkaBrokers.split(','), clientId: 'bench-tx', namespace, ...(retry ? { transactionRetry: retry } : {}) }),
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
