import { requireKcat } from '../support/kcat';
import { SERVICES, ServiceName, SystemUnderTest } from '../support/system';
import { debug, elapsed, Load, sleep } from './support/fault-kit';
import { expectClean, loadCase, WORKFLOWS } from './support/kill-case';

/*
 * kill -9 of each service in turn — the coordinator, every agent, the gateway — with WORKFLOWS
 * workflows in flight (plus refund tasks, the side effects counted at the sample business service).
 * The service is restarted after a short outage; every accepted workflow must end exactly once
 * (event log: one start, one end, contiguous sequences) and no refund may be created twice.
 */
jest.setTimeout(900_000);

let sut: SystemUnderTest | undefined;

beforeAll(() => {
  requireKcat();
});

/**
 * A fresh system (its own Kafka namespace and database) for each case: the read model of one case's
 * workflows still being projected must not slow the next case down.
 */
async function freshSystem(): Promise<SystemUnderTest> {
  const s = await SystemUnderTest.start('distributed');
  // Warm up (JIT, topics, consumer groups) and put a real tool task on a task topic to clone refunds from.
  const warm = new Load(s, { count: 4, concurrency: 4, wsShare: 0, prefix: 'warm', retryForMs: 30_000, question: (i) => `Where is my order 100${(i % 5) + 1}?` }).start();
  await warm.done;
  await sleep(3000);
  return s;
}

afterEach(async () => {
  await sut?.stop();
  sut = undefined;
});

// The coordinator first (it owns the workflows), the gateway last (clients reconnect and resubmit).
const order: ServiceName[] = ['coordinator', ...SERVICES.filter((s) => s !== 'coordinator' && s !== 'gateway'), 'gateway'];

describe('kill -9 under load', () => {
  for (const service of order) {
    it(`kill -9 ${service} with ${WORKFLOWS} workflows in flight: 0 lost, 0 duplicated`, async () => {
      const system = await freshSystem();
      sut = system;
      const r = await loadCase(system, `kill -9 ${service}`, async () => {
        const t0 = Date.now();
        system.kill(service);
        await sleep(2000);
        await system.startProc(service);
        debug(`${service} restarted in ${elapsed(t0)}s`);
        return `killed with workflows in flight, back in ${elapsed(t0)} s`;
      }, { prefix: `kill-${service}`, acceptedBeforeFault: Math.floor(WORKFLOWS * (service === 'gateway' ? 0.5 : 0.75)) });
      expectClean(system, r, [service, 'coordinator']);
    });
  }
});
