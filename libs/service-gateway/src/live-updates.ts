import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger } from '@flotilla/common';
import { AnswerTokenMessage, Topics, WorkflowEvent } from '@flotilla/contracts';
import { WorkflowViewStore } from '@flotilla/memory';
import { consume, MessageBus, on, Subscription } from '@flotilla/messaging';
import { BUS, INSTANCE_ID, Readiness } from '@flotilla/platform';
import { FollowOptions, StreamFollower } from './stream-follower';
import { VIEW_STORE } from './tokens';

export type LiveUpdate = { kind: 'event'; event: WorkflowEvent } | { kind: 'token'; token: AnswerTokenMessage };
type Listener = (update: LiveUpdate) => void;

const log = createLogger({ service: 'gateway', component: 'live-updates' });

/**
 * Fans workflow events and answer tokens out to the clients connected to this gateway process.
 * Every gateway replica reads both topics in a group of its own (broadcast), from the end: a client
 * connected here is told about its workflows wherever they are processed. A client that follows an
 * answer stream gets it merged with the read model (`follow`), so it misses nothing that went by
 * before it watched — on this process or any other.
 */
@Injectable()
export class LiveUpdates implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly listeners = new Map<string, Set<Listener>>();
  private subscription?: Subscription;
  private ready = false;

  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(INSTANCE_ID) private readonly instanceId: string,
    @Inject(VIEW_STORE) private readonly store: WorkflowViewStore,
    readiness: Readiness,
  ) {
    readiness.register({ name: 'gateway-live-updates', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.subscription = await consume(this.bus, {
      groupId: `flotilla-gateway-live-${this.instanceId}`,
      fromBeginning: false,
      partitionsConcurrently: 6,
      logger: log,
      handlers: [
        on(Topics.workflowEvents, async (event) => this.emit(event.metadata.workflowId, { kind: 'event', event })),
        on(Topics.answerStream, async (token) => this.emit(token.data.workflowId, { kind: 'token', token })),
      ],
    });
    await this.subscription.ready;
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.subscription?.stop();
  }

  /** Calls `listener` for every update of a workflow until the returned function is called. */
  watch(workflowId: string, listener: Listener): () => void {
    const set = this.listeners.get(workflowId) ?? new Set<Listener>();
    set.add(listener);
    this.listeners.set(workflowId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(workflowId);
    };
  }

  /**
   * A workflow's answer stream for one client, live and from the read model, each frame once and in
   * cursor order (see StreamFollower). Call `watch()` before anything that could produce updates,
   * then `start()`; `stop()` when the client goes.
   */
  follow(options: FollowOptions): StreamFollower {
    return new StreamFollower({ store: this.store, watch: (workflowId, listener) => this.watch(workflowId, listener), logger: log }, options);
  }

  private emit(workflowId: string | undefined, update: LiveUpdate): void {
    if (!workflowId) return;
    for (const listener of this.listeners.get(workflowId) ?? []) {
      try {
        listener(update);
      } catch (err) {
        log.error('live update listener failed', { workflowId, err });
      }
    }
  }
}
