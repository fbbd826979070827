import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger } from '@flotilla/common';
import { Envelope, Topics } from '@flotilla/contracts';
import { ConversationStore, startIdlePurge, StoredEvent, WorkflowViewStore, toStoredEvent } from '@flotilla/memory';
import { consumeBatches, MessageBus, onBatch, Subscription } from '@flotilla/messaging';
import { BUS, CONFIG, Readiness } from '@flotilla/platform';
import { FlotillaConfig } from '@flotilla/config';
import { CONVERSATIONS, VIEW_STORE } from './tokens';
import { DomainEvent, evolve } from '@flotilla/workflow';
import { foldStored } from './workflow-view';

const log = createLogger({ service: 'gateway', component: 'projector' });

/**
 * Streamed answer tokens are kept this long for clients that reconnect and resume (a workflow's
 * answer itself stays in its events); older ones are swept, and not stored when replayed.
 */
export const STREAM_RETENTION_MS = 24 * 3600 * 1000;
const STREAM_SWEEP_EVERY_MS = 10 * 60 * 1000;

/** The consumer group of the workflow-view projector (its lag is how far `GET /v1/workflows/:id` is behind). */
export const PROJECTOR_GROUP = 'flotilla-gateway-projector';

/**
 * Projects the workflow event log into the read model that `GET /v1/workflows/:id` serves, and the
 * answer-stream topic into the stored tokens a resumed chat stream is sent (each in a consumer group
 * shared by every gateway replica, so each message is stored once, wherever the client is).
 */
@Injectable()
export class WorkflowProjector implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: Subscription;
  private tokens?: Subscription;
  private sweep?: { timer: NodeJS.Timeout; running?: Promise<void> };
  private purge?: { stop(): Promise<void> };
  private ready = false;

  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(VIEW_STORE) private readonly store: WorkflowViewStore,
    @Inject(CONVERSATIONS) private readonly conversations: ConversationStore,
    @Inject(CONFIG) private readonly config: FlotillaConfig,
    readiness: Readiness,
  ) {
    readiness.register({ name: 'gateway-projector', ready: () => this.ready && this.store.healthy() });
  }

  async onApplicationBootstrap(): Promise<void> {
    // In batches (one bulk write each, offsets committed after it): one write per event left the read
    // model minutes behind the log under load. Order per workflow holds: a batch is one partition's.
    this.subscription = await consumeBatches(this.bus, {
      groupId: PROJECTOR_GROUP,
      fromBeginning: true,
      partitionsConcurrently: 6,
      logger: log,
      handlers: [onBatch(Topics.workflowEvents, (items) => projectWorkflowEvents(this.store, this.conversations, items.map((i) => i.message)))],
    });
    // Its own group: tokens are many, and a slow token write must not hold up the workflow view.
    this.tokens = await consumeBatches(this.bus, {
      groupId: 'flotilla-gateway-stream-projector',
      fromBeginning: true,
      partitionsConcurrently: 6,
      logger: log,
      handlers: [onBatch(Topics.answerStream, async (items) => {
        const cutoff = Date.now() - STREAM_RETENTION_MS;
        await this.store.appendStreamTokens(items
          .filter(({ message }) => Date.parse(message.metadata.occurredAt) >= cutoff)
          .map(({ message }) => ({ ...message.data, tenantId: message.metadata.tenantId ?? '', occurredAt: message.metadata.occurredAt })));
      })],
    });
    await Promise.all([this.subscription.ready, this.tokens.ready]);
    this.startStreamSweep();
    // Idle sessions expire (FerretDB has no TTL indexes, so both adapters purge on a timer).
    this.purge = startIdlePurge(this.conversations, { idleMs: this.config.SESSION_IDLE_TTL_MS, everyMs: Math.min(3_600_000, this.config.SESSION_IDLE_TTL_MS) });
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.purge?.stop();
    if (this.sweep) clearInterval(this.sweep.timer);
    await this.sweep?.running;
    await this.subscription?.stop();
    await this.tokens?.stop();
    await this.store.close();
    await this.conversations.close();
  }

  /** Deletes stored tokens past the retention on a timer (FerretDB has no TTL indexes); a failed run retries at the next tick. */
  private startStreamSweep(): void {
    const sweep: { timer: NodeJS.Timeout; running?: Promise<void> } = {
      timer: setInterval(() => {
        if (sweep.running) return;
        sweep.running = this.store.purgeStreamTokens(new Date(Date.now() - STREAM_RETENTION_MS))
          .then((purged) => {
            if (purged > 0) log.info('purged streamed answer tokens past their retention', { purged });
          }, (err: unknown) => log.warn('purging streamed answer tokens failed; retrying at the next tick', { err }))
          .finally(() => {
            sweep.running = undefined;
          });
      }, STREAM_SWEEP_EVERY_MS),
    };
    sweep.timer.unref();
    this.sweep = sweep;
  }

}

/**
 * Projects a batch of workflow events (consecutive on one partition) into the read model, in as few
 * writes as it can: everything up to each workflow's `WorkflowCompleted` in one bulk write, then the
 * finished chats' memory, then the completions (and whatever follows them) in a second bulk write.
 * Memory first: once the read model shows a workflow completed its turns are remembered, so a
 * follow-up asked after the answer always finds them. Idempotent by (workflowId, sequence) and by
 * turn id, so a redelivered batch writes nothing twice.
 */
export async function projectWorkflowEvents(store: WorkflowViewStore, conversations: ConversationStore, events: readonly Envelope[]): Promise<void> {
  const now: StoredEvent[] = [];
  const held: StoredEvent[] = [];
  const completing = new Set<string>();
  for (const event of events) {
    const stored = toStoredEvent(event);
    if (!stored) continue;
    if (stored.type === 'WorkflowCompleted') completing.add(stored.workflowId);
    (completing.has(stored.workflowId) ? held : now).push(stored);
  }
  await store.appendEvents(now);
  if (held.length === 0) return;
  await Promise.all(held.filter((e) => e.type === 'WorkflowCompleted').map((e) => remember(store, conversations, e)));
  await store.appendEvents(held);
}

/**
 * A finished chat workflow becomes two turns of its session's memory — the question and the
 * answer actually given, with the facts a follow-up needs (intent, order id). Turn ids derive
 * from the workflow, so replaying the log writes nothing twice.
 */
async function remember(store: WorkflowViewStore, conversations: ConversationStore, completed: StoredEvent): Promise<void> {
  const { workflowId, tenantId } = completed;
  const loaded = await store.load(workflowId, tenantId);
  if (!loaded) return;
  const state = evolve(foldStored(loaded.events.filter((e) => e.sequence < completed.sequence)), { type: completed.type, data: completed.data } as DomainEvent);
  if (!state.sessionId || state.status !== 'completed' || !state.answer) return;
  const facts: Record<string, unknown> = { ...(state.intent ?? {}) };
  const order = state.steps['lookup-order']?.output?.['order'] as { orderId?: string; customerId?: string } | undefined;
  if (order?.customerId) facts['customerId'] = order.customerId;
  const at = state.endedAt ?? new Date().toISOString();
  const tokens = (text: string): number => Math.ceil(text.length / 4);
  const base = { tenantId, sessionId: state.sessionId, userId: state.userId, workflowId };
  await conversations.appendTurn({ ...base, turnId: `${workflowId}:q`, role: 'user', text: state.question, facts, tokens: tokens(state.question), at: state.startedAt || at });
  await conversations.appendTurn({ ...base, turnId: `${workflowId}:a`, role: 'assistant', text: state.answer, facts, tokens: tokens(state.answer), at });
}
