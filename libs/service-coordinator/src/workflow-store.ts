import { createLogger, waitFor } from '@flotilla/common';
import { Topics, WorkflowEvent } from '@flotilla/contracts';
import { consume, MessageBus, on, Subscription } from '@flotilla/messaging';
import { DomainEvent, evolve, initialState, toDomainEvent, WorkflowState } from '@flotilla/workflow';

const log = createLogger({ component: 'workflow-store' });

/**
 * The coordinator's view of every workflow, rebuilt from the event log alone: a tail consumer reads
 * the workflow-events topic from the beginning and folds each event into its workflow's state. Events
 * this replica appends are applied at once; the tail skips them by sequence number, so the same
 * event is never applied twice. Finished workflows shrink to a tombstone (status + version), enough
 * to make duplicate submissions and late results harmless.
 */
export class WorkflowStore {
  private readonly states = new Map<string, WorkflowState>();
  private readonly consumed = new Map<number, bigint>();
  private tail?: Subscription;
  private applied = 0;

  constructor(private readonly bus: MessageBus, private readonly instanceId: string) {}

  get size(): number {
    return this.states.size;
  }

  get eventsApplied(): number {
    return this.applied;
  }

  async start(): Promise<void> {
    this.tail = await consume(this.bus, {
      groupId: `flotilla-coordinator-tail-${this.instanceId}`,
      fromBeginning: true,
      partitionsConcurrently: Topics.workflowEvents.partitions,
      handlers: [on(Topics.workflowEvents, async (message: WorkflowEvent, raw) => {
        this.applyLogged(message);
        this.consumed.set(raw.partition, BigInt(raw.offset) + 1n);
      })],
    });
    await this.tail.ready;
  }

  /** Waits until the tail has read everything written to the log so far. */
  async catchUp(timeoutMs = 60_000): Promise<void> {
    const ends = await this.bus.endOffsets(Topics.workflowEvents.name);
    await waitFor(() => [...ends].every(([p, end]) => (this.consumed.get(p) ?? 0n) >= end), timeoutMs, 'workflow event log catch-up');
  }

  get(workflowId: string): WorkflowState {
    return this.states.get(workflowId) ?? initialState();
  }

  /** Records the state after this replica appended events for a workflow. */
  set(workflowId: string, state: WorkflowState): void {
    this.states.set(workflowId, compact(state));
  }

  running(): WorkflowState[] {
    return [...this.states.values()].filter((s) => s.status === 'running');
  }

  private applyLogged(message: WorkflowEvent): void {
    const workflowId = message.metadata.workflowId;
    const sequence = message.metadata.sequence;
    if (!workflowId || sequence === undefined) {
      log.warn('workflow event without workflowId/sequence ignored', { id: message.id });
      return;
    }
    const state = this.get(workflowId);
    if (sequence < state.version) return; // already applied (our own append, or a redelivery)
    if (sequence > state.version) {
      log.error('gap in workflow event sequence', { workflowId, expected: state.version, got: sequence });
      return;
    }
    const event: DomainEvent = toDomainEvent(message);
    this.states.set(workflowId, compact(evolve(state, event)));
    this.applied++;
  }

  async stop(): Promise<void> {
    await this.tail?.stop();
  }
}

/** A finished workflow keeps only what dedup needs. */
function compact(state: WorkflowState): WorkflowState {
  if (state.status === 'running' || state.status === 'none') return state;
  return { ...initialState(), workflowId: state.workflowId, status: state.status, version: state.version, requestId: state.requestId, tenantId: state.tenantId };
}
