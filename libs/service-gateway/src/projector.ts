import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger } from '@flotilla/common';
import { Topics } from '@flotilla/contracts';
import { WorkflowViewStore, toStoredEvent } from '@flotilla/memory';
import { consume, MessageBus, on, Subscription } from '@flotilla/messaging';
import { BUS, Readiness } from '@flotilla/platform';
import { VIEW_STORE } from './tokens';

const log = createLogger({ service: 'gateway', component: 'projector' });

/** Projects the workflow event log into the read model that `GET /v1/workflows/:id` serves. */
@Injectable()
export class WorkflowProjector implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: Subscription;
  private ready = false;

  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(VIEW_STORE) private readonly store: WorkflowViewStore,
    readiness: Readiness,
  ) {
    readiness.register({ name: 'gateway-projector', ready: () => this.ready && this.store.healthy() });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.subscription = await consume(this.bus, {
      groupId: 'flotilla-gateway-projector',
      fromBeginning: true,
      partitionsConcurrently: 6,
      logger: log,
      handlers: [on(Topics.workflowEvents, async (event) => {
        const stored = toStoredEvent(event);
        if (stored) await this.store.appendEvent(stored);
      })],
    });
    await this.subscription.ready;
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.subscription?.stop();
    await this.store.close();
  }
}
