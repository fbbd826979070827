import { execFileSync, spawnSync } from 'node:child_process';
import { SystemUnderTest } from './system';

/** A message as `kcat -J` prints it. */
export interface KcatMessage {
  key: string | null;
  payload: string | null;
  partition: number;
  offset: number;
}

/** Fails (never skips) when kcat — the outside Kafka client these suites drive — is missing. */
export function requireKcat(): void {
  if (spawnSync('kcat', ['-V']).error) throw new Error('kcat is required for this suite (Debian package kcat; scripts/tools.sh installs it) — it does not skip');
}

/** Publishes one message onto a Flotilla topic of the system under test (its namespace applied). */
export function kcatProduce(sut: SystemUnderTest, topic: string, key: string, value: string): void {
  execFileSync('kcat', ['-b', sut.kafkaBrokers, '-P', '-t', sut.namespace + topic, '-k', key], { input: value + '\n', timeout: 15_000 });
}

/** Every message currently on a Flotilla topic of the system under test. */
export function kcatConsumeAll(sut: SystemUnderTest, topic: string): KcatMessage[] {
  const out = execFileSync('kcat', ['-b', sut.kafkaBrokers, '-C', '-t', sut.namespace + topic, '-o', 'beginning', '-e', '-J', '-q'], { timeout: 30_000 }).toString();
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as KcatMessage);
}

/** Polls `probe` until it returns a value (real condition, bounded wait). */
export async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Publishes one message with Kafka headers (kcat -H name=value). */
export function kcatProduceWithHeaders(sut: SystemUnderTest, topic: string, key: string, value: string, headers: Record<string, string>): void {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  execFileSync('kcat', ['-b', sut.kafkaBrokers, '-P', '-t', sut.namespace + topic, '-k', key, ...h], { input: value + '\n', timeout: 15_000 });
}
