import 'reflect-metadata';
import { INestApplication, LoggerService, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createLogger, Logger, setLogLevel } from '@flotilla/common';
import { describeConfig, FlotillaConfig, loadConfig } from '@flotilla/config';
import { connectBus, createMessageBus, MessageBus } from '@flotilla/messaging';
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
    app.close().then(() => {
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
  log.info('starting', { config: describeConfig(config) });
  const bus = options.bus ?? createMessageBus(config, `${config.KAFKA_CLIENT_ID}-${options.name}`);
  await connectBus(bus);

  @Module({ imports: [PlatformModule.forRoot({ config, bus }), ...options.modules] })
  class RootModule {}

  const app = await NestFactory.create(RootModule, { logger: new NestJsonLogger(log.child({ component: 'nest' })), bodyParser: false });
  installShutdown(app, log);
  await options.configure?.(app, config);
  await app.listen(config.PORT, config.HOST);
  const address = app.getHttpServer().address() as { port: number } | null;
  const url = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${address?.port ?? config.PORT}`;
  log.info('ready to serve', { url, mode: config.FLOTILLA_MODE });
  return { app, config, bus, url };
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
