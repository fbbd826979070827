import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { startSampleBusiness } from '@flotilla/sample-business';

const log = createLogger({ service: 'sample-business' });

/** Fails fast on a port that is not an integer in 0..65535 rather than binding somewhere surprising. */
function portFrom(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new FlotillaError(ErrorCode.ConfigInvalid, `SAMPLE_BUSINESS_PORT must be an integer from 0 to 65535, got "${raw}"`, {
      retryable: false,
      fields: [{ field: 'SAMPLE_BUSINESS_PORT', reasons: ['must be an integer from 0 to 65535'] }],
    });
  }
  return port;
}

async function main(): Promise<void> {
  const port = portFrom(process.env['SAMPLE_BUSINESS_PORT'], 8090);
  const host = process.env['HOST'] || '127.0.0.1';
  const service = await startSampleBusiness({ port, host });
  log.info('sample business listening', { url: service.url, host });

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    service.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  log.error('sample business failed to start', { err });
  process.exit(1);
});
