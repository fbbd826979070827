import { BeforeApplicationShutdown, DynamicModule, Global, Inject, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { createLogger, newId } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { closeEmbeddedDbs } from '@flotilla/embedded-db';
import { MessageBus } from '@flotilla/messaging';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';
import { BUS, CONFIG, INSTANCE_ID } from './tokens';

const log = createLogger({ component: 'platform' });

/**
 * The runtime every service module runs on: configuration, the message bus (Kafka or embedded,
 * chosen by configuration before Nest starts), readiness and health endpoints, and the last steps
 * of a graceful shutdown (after the services have stopped consuming, close the bus and stores).
 */
@Global()
@Module({})
export class PlatformModule implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    private readonly readiness: Readiness,
  ) {}

  static forRoot(options: { config: FlotillaConfig; bus: MessageBus; instanceId?: string }): DynamicModule {
    return {
      module: PlatformModule,
      controllers: [HealthController],
      providers: [
        Readiness,
        { provide: CONFIG, useValue: options.config },
        { provide: FlotillaConfig, useValue: options.config },
        { provide: BUS, useValue: options.bus },
        { provide: INSTANCE_ID, useValue: options.instanceId ?? newId('inst') },
      ],
      exports: [Readiness, CONFIG, FlotillaConfig, BUS, INSTANCE_ID],
    };
  }

  onModuleInit(): void {
    this.readiness.register({ name: `bus:${this.bus.kind}`, ready: () => this.bus.healthy() });
  }

  beforeApplicationShutdown(): void {
    // Fail readiness first, so load balancers stop routing here while work drains.
    this.readiness.drain();
  }

  async onApplicationShutdown(signal?: string): Promise<void> {
    log.info('closing message bus and stores', { signal });
    await this.bus.disconnect();
    closeEmbeddedDbs();
  }
}
