import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger } from '@flotilla/common';
import { Topics } from '@flotilla/contracts';
import { DeadLetterStore, deadLetterTenant } from '@flotilla/memory';
import { consume, MessageBus, on, resolveDeadLetterPayload, Subscription } from '@flotilla/messaging';
import { BUS, Readiness } from '@flotilla/platform';
import { DEAD_LETTERS } from './review.tokens';

const log = createLogger({ service: 'gateway', component: 'dlq-projector' });

/** Projects `flotilla.dlq.v1` into the dead-letter review inbox; idempotent by message id, so replaying the topic is safe. */
@Injectable()
export class DeadLetterProjector implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: Subscription;
  private ready = false;

  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(DEAD_LETTERS) private readonly store: DeadLetterStore,
    readiness: Readiness,
  ) {
    readiness.register({ name: 'gateway-dlq-projector', ready: () => this.ready && this.store.healthy() });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.subscription = await consume(this.bus, {
      groupId: 'flotilla-gateway-dlq',
      fromBeginning: true,
      logger: log,
      handlers: [on(Topics.deadLetters, async (message) => {
        // A payload that travelled by claim check is copied in, so the inbox shows (and replays) it (docs/adr/0010).
        const data = await resolveDeadLetterPayload(this.bus, message.data);
        await this.store.record({ id: message.id, tenantId: deadLetterTenant(data, message.metadata.tenantId), data });
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
