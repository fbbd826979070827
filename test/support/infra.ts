import { Socket } from 'node:net';

/**
 * The real infrastructure the integration and distributed suites need, as `scripts/infra.sh up`
 * provides it. A suite that needs it FAILS with this message when it is missing — it never skips.
 */
export function requireInfra(): { kafkaBrokers: string; mongoUrl: string } {
  const kafkaBrokers = process.env['KAFKA_BROKERS'];
  const mongoUrl = process.env['MONGO_URL'];
  if (!kafkaBrokers || !mongoUrl) {
    throw new Error('KAFKA_BROKERS and MONGO_URL must be set: run `bash scripts/infra.sh up && eval "$(bash scripts/infra.sh env)"` first (this suite does not skip).');
  }
  return { kafkaBrokers, mongoUrl };
}

/** Resolves when host:port accepts a TCP connection; rejects with a clear reason otherwise. */
export async function assertReachable(hostPort: string, what: string): Promise<void> {
  const [host, port] = hostPort.replace(/^mongodb:\/\//, '').split('/')[0]!.split(':');
  await new Promise<void>((resolve, reject) => {
    const socket = new Socket();
    socket.setTimeout(3000);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    const fail = (why: string): void => {
      socket.destroy();
      reject(new Error(`${what} at ${hostPort} is not reachable (${why}); run scripts/infra.sh up (this suite does not skip)`));
    };
    socket.once('timeout', () => fail('timeout'));
    socket.once('error', (e) => fail(e.message));
    socket.connect(Number(port), host!);
  });
}
