import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { requireKcat } from '../support/kcat';
import { SystemUnderTest } from '../support/system';
import { debug, elapsed, Load, ROOT, sleep } from './support/fault-kit';
import { expectClean, loadCase, WORKFLOWS } from './support/kill-case';

/*
 * The Kafka broker restarts (`scripts/infra.sh restart-kafka`, SIGTERM then start) with WORKFLOWS
 * workflows in flight. infra.sh runs with this suite's environment, so it restarts the broker the
 * suite was started against (CI's in CI; a private one with FLOTILLA_INFRA_DIR / KAFKA_PORT set) —
 * and refuses when that broker is not the one KAFKA_BROKERS points at.
 */
jest.setTimeout(900_000);

let sut: SystemUnderTest;
const infra = (cmd: string, timeout = 180_000): string => execFileSync('bash', [join(ROOT, 'scripts/infra.sh'), cmd], { env: process.env, timeout, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

beforeAll(async () => {
  requireKcat();
  // Never restart a broker other than the one under test.
  const brokers = /KAFKA_BROKERS=(\S+)/.exec(infra('env'))?.[1];
  if (brokers !== process.env['KAFKA_BROKERS']) {
    throw new Error(`scripts/infra.sh (with this environment) manages ${brokers}, but the suite runs against KAFKA_BROKERS=${process.env['KAFKA_BROKERS']}: set FLOTILLA_INFRA_DIR / KAFKA_PORT / KAFKA_CONTROLLER_PORT / MONGO_PORT as for 'infra.sh up'`);
  }
  sut = await SystemUnderTest.start('distributed');
  const warm = new Load(sut, { count: 6, concurrency: 6, wsShare: 0, prefix: 'warm', retryForMs: 30_000, question: (i) => `Where is my order 100${(i % 5) + 1}?` }).start();
  await warm.done;
  await sleep(3000);
}, 300_000);

afterAll(async () => {
  await sut?.stop();
});

describe('Kafka broker restart under load', () => {
  it(`restart-kafka with ${WORKFLOWS} workflows in flight: 0 lost, 0 duplicated`, async () => {
    const r = await loadCase(sut, 'Kafka broker restart', async () => {
      const t0 = Date.now();
      const out = infra('restart-kafka');
      debug(`restart-kafka: ${out.trim().split('\n').slice(-1)[0]}`);
      const down = elapsed(t0);
      // Every service must report ready again on its own (no restarts by the test).
      const names = [...sut.procs.keys()].filter((n) => n !== 'sample-business');
      const unready: string[] = [];
      for (const name of names) {
        const deadline = Date.now() + 60_000;
        for (;;) {
          const ok = await fetch(`http://127.0.0.1:${sut.procs.get(name)!.port}/readyz`, { signal: AbortSignal.timeout(3000) }).then((res) => res.status === 200, () => false);
          if (ok) break;
          if (Date.now() > deadline) {
            unready.push(name);
            break;
          }
          await sleep(500);
        }
      }
      return `broker restarted in ${down} s; services ready again after ${elapsed(t0)} s${unready.length ? ` (NOT ready within 60 s: ${unready.join(', ')})` : ''}`;
    }, { prefix: 'broker', acceptedBeforeFault: Math.floor(WORKFLOWS * 0.75), boundMs: 300_000 });
    expectClean(sut, r, ['coordinator', 'gateway', 'tool']);
  });
});
