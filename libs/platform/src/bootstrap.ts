import 'reflect-metadata';
import { INestApplication, LoggerService, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createLogger, Logger, setLogLevel } from '@flotilla/common';
import { describeConfig, FlotillaConfig, loadConfig } from '@flotilla/config';
import { createClaimCheckStore, createSnapshotStore, SnapshotStore, startClaimPurge } from '@flotilla/memory';
import { ClaimCheckBus, connectBus, createMessageBus, MessageBus } from '@flotilla/messaging';
import { initTelemetry, shutdownTelemetry } from '@flotilla/telemetry';
import { HttpTracingInterceptor } from './http-tracing.interceptor';
import { PlatformModule } from './platform.module';

/** Routes Nest's own log lines into the JSON log. */
class NestJsonLogger implements LoggerService {
  constructor(private readonly out: Logger) {}
  log(message: unknown, context?: string): void {
    this.out.info(String(message), { context });
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.out.error(String(message), { trace, context });
  }
  warn(message: unknown, context?: string): void {
    this.out.warn(String(message), { context });
  }
  debug(message: unknown, context?: string): void {
    this.out.debug(String(message), { context });
  }
  verbose(message: unknown, context?: string): void {
    this.out.debug(String(message), { context });
  }
}

/** How long a graceful shutdown may take before the process gives up and exits non-zero. */
export const SHUTDOWN_TIMEOUT_MS = 25_000;

/**
 * SIGTERM / SIGINT: stop consuming, let in-flight handlers finish and commit, close the bus and
 * stores (Nest's shutdown hooks, in module order), then exit 0 — or 1 if that takes too long.
 */
function installShutdown(app: INestApplication, log: Logger): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) return;
    closing = true;
    log.info('shutting down gracefully', { signal });
    const timer = setTimeout(() => {
      log.error('graceful shutdown timed out', { ms: SHUTDOWN_TIMEOUT_MS });
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    // Tracing last: spans of the shutdown itself are exported too (bounded by the exporter's timeout).
    app.close().then(() => shutdownTelemetry().catch((err: unknown) => log.warn('tracing shutdown failed', { err }))).then(() => {
      log.info('stopped');
      process.exit(0);
    }, (err: unknown) => {
      log.error('shutdown failed', { err });
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export interface BootstrapOptions {
  /** Service name for logs and the Kafka client id. */
  name: string;
  modules: Type[];
  config?: FlotillaConfig;
  bus?: MessageBus;
  /** Extra HTTP setup before listening (the gateway's body limits, validation, OpenAPI). */
  configure?: (app: INestApplication, config: FlotillaConfig) => void | Promise<void>;
}

export interface RunningService {
  app: INestApplication;
  config: FlotillaConfig;
  bus: MessageBus;
  url: string;
}

/**
 * Starts one service (or, in embedded mode, all of them) on the platform: validated config, the bus
 * chosen by configuration and connected with its topics, Nest with shutdown hooks, and HTTP for
 * health (and the gateway's API). Fails fast, with every reason, when configuration is invalid.
 */
export async function bootstrap(options: BootstrapOptions): Promise<RunningService> {
  const config = options.config ?? loadConfig();
  setLogLevel(config.LOG_LEVEL);
  const log = createLogger({ service: options.name });
  // Tracing before anything that handles a message or a request (docs/adr/0011).
  const tracing = initTelemetry(options.name, config);
  log.info('starting', { config: describeConfig(config), tracing });
  const bus = options.bus ?? withClaimChecks(createMessageBus(config, `${config.KAFKA_CLIENT_ID}-${options.name}`), config);
  await connectBus(bus);

  @Module({ imports: [PlatformModule.forRoot({ config, bus }), ...options.modules] })
  class RootModule {}

  const app = await NestFactory.create(RootModule, { logger: new NestJsonLogger(log.child({ component: 'nest' })), bodyParser: false });
  installShutdown(app, log);
  app.useGlobalInterceptors(new HttpTracingInterceptor());
  await options.configure?.(app, config);
  await app.listen(config.PORT, config.HOST);
  const address = app.getHttpServer().address() as { port: number } | null;
  const url = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${address?.port ?? config.PORT}`;
  log.info('ready to serve', { url, mode: config.FLOTILLA_MODE });
  return { app, config, bus, url };
}

/** How often each process purges claim-check payloads older than CLAIM_CHECK_TTL_DAYS. */
const CLAIM_PURGE_EVERY_MS = 3600_000;

/**
 * The bus with claim checks (docs/adr/0010): values above CLAIM_CHECK_THRESHOLD_BYTES travel by
 * reference to the payload store chosen by configuration (SQLite embedded, MongoDB distributed).
 * The bus owns the store: connecting it opens the store, disconnecting it stops the purge and closes it.
 */
export function withClaimChecks(bus: MessageBus, config: FlotillaConfig): MessageBus {
  if (config.CLAIM_CHECK_THRESHOLD_BYTES <= 0) return bus;
  const store = createClaimCheckStore(config);
  let purge: { stop(): Promise<void> } | undefined;
  return new ClaimCheckBus(bus, {
    thresholdBytes: config.CLAIM_CHECK_THRESHOLD_BYTES,
    store: {
      put: (bytes, meta) => store.put(bytes, meta),
      get: (id) => store.get(id),
      init: async () => {
        await store.init();
        purge ??= startClaimPurge(store, { ttlMs: config.CLAIM_CHECK_TTL_DAYS * 86_400_000, everyMs: CLAIM_PURGE_EVERY_MS });
      },
      close: async () => {
        await purge?.stop();
        purge = undefined;
        await store.close();
      },
    },
  });
}

/**
 * The coordinator's snapshot settings from configuration (docs/adr/0010), for
 * `new WorkflowStore(bus, instanceId, workflowSnapshotsFromConfig(config))`; `undefined` when
 * WORKFLOW_SNAPSHOT_EVERY_EVENTS is 0 (every start replays the whole log). One snapshot stream per
 * log: offsets are positions in this namespace's workflow-events topic.
 */
export function workflowSnapshotsFromConfig(config: FlotillaConfig): {
  store: SnapshotStore; stream: string; everyEvents: number; intervalMs: number; maxTombstones: number;
} | undefined {
  if (config.WORKFLOW_SNAPSHOT_EVERY_EVENTS <= 0) return undefined;
  return {
    store: createSnapshotStore(config),
    stream: config.FLOTILLA_MODE === 'embedded' ? 'coordinator-workflows/embedded' : `coordinator-workflows/kafka/${config.KAFKA_NAMESPACE ?? ''}`,
    everyEvents: config.WORKFLOW_SNAPSHOT_EVERY_EVENTS,
    intervalMs: config.WORKFLOW_SNAPSHOT_INTERVAL_MS,
    maxTombstones: config.WORKFLOW_SNAPSHOT_TOMBSTONES,
  };
}

/**
 * Entry point of a distributed-mode service process: boots it with its default port (overridable
 * by PORT) and exits non-zero, with the reason logged, if it cannot start.
 */
export function runServiceProcess(name: string, modules: Type[], defaultPort: number, configure?: BootstrapOptions['configure']): void {
  const log = createLogger({ service: name });
  process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));
  let config: FlotillaConfig;
  try {
    config = loadConfig({ PORT: String(defaultPort), ...process.env });
  } catch (err) {
    log.error('invalid configuration; not starting', { err });
    process.exit(2);
  }
  bootstrap({ name, modules, config, configure }).catch((err: unknown) => {
    log.error('failed to start', { err });
    process.exit(1);
  });
}
