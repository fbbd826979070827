import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { IntakeMessage, StepResultMessage, Topics } from '@flotilla/contracts';
import { PROMPT_VERSION, resolveRouting } from '@flotilla/llm';
import { consume, MessageBus, on, Subscription } from '@flotilla/messaging';
import { BUS, CONFIG, INSTANCE_ID, Readiness } from '@flotilla/platform';
import { decide, fold, WorkflowCommand, workflowIdFor, WorkflowState } from '@flotilla/workflow';
import { eventMessages, followUps, taskMessage } from './dispatch';
import { WorkflowStore } from './workflow-store';

const log = createLogger({ service: 'coordinator' });

/**
 * Owns workflows. For each intake request or step result: load the workflow's state (a fold of its
 * log), decide, append the resulting events, and dispatch the tasks and results they imply — in one
 * publish, before the input's offset is committed. A crash anywhere before the commit redelivers
 * the input; the decider ignores what it has already applied, and recovery re-dispatches the tasks
 * of every step still awaited, so no work is lost.
 */
@Injectable()
export class CoordinatorService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly store: WorkflowStore;
  private subscription?: Subscription;
  private readonly locks = new Map<string, Promise<void>>();
  private ready = false;

  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(CONFIG) private readonly config: FlotillaConfig,
    @Inject(INSTANCE_ID) instanceId: string,
    readiness: Readiness,
  ) {
    this.store = new WorkflowStore(bus, instanceId);
    readiness.register({ name: 'coordinator', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    const started = Date.now();
    await this.store.start();
    await this.store.catchUp();
    const running = this.store.running();
    await this.redispatch(running);
    log.info('workflow state rebuilt from the event log', {
      ms: Date.now() - started, workflows: this.store.size, eventsApplied: this.store.eventsApplied, running: running.length,
    });
    this.subscription = await consume(this.bus, {
      groupId: 'flotilla-coordinator',
      partitionsConcurrently: 6,
      logger: log,
      handlers: [
        on(Topics.intake, (m) => this.onIntake(m)),
        on(Topics.stepResults, (m) => this.onStepResult(m)),
      ],
    });
    await this.subscription.ready;
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.subscription?.stop();
    await this.store.stop();
  }

  /**
   * Workflow pins: what a workflow started now uses for its whole life — the prompt and plan
   * versions and the model chains of every tier — so a deploy in the middle changes nothing for it.
   */
  private pins(): Record<string, string> {
    const { routes } = resolveRouting(this.config);
    return {
      planVersion: `plan-${PROMPT_VERSION}`,
      promptVersion: PROMPT_VERSION,
      model: routes.complex[0] ?? 'local',
      modelRoutes: JSON.stringify(routes),
    };
  }

  private async onIntake(message: IntakeMessage): Promise<void> {
    const request = message.data;
    const workflowId = workflowIdFor(request.tenantId, request.requestId);
    await this.handle(workflowId, message.id, { type: 'StartWorkflow', data: { workflowId, request, pins: this.pins(), now: new Date().toISOString() } });
  }

  private async onStepResult(message: StepResultMessage): Promise<void> {
    const now = new Date().toISOString();
    const command: WorkflowCommand = message.type === 'StepSucceeded'
      ? { type: 'RecordStepSucceeded', data: { result: message.data, now } }
      : { type: 'RecordStepErrored', data: { result: message.data, now } };
    await this.handle(message.data.workflowId, message.id, command);
  }

  /** Serialises decisions per workflow within this process. */
  private async handle(workflowId: string, causationId: string, command: WorkflowCommand): Promise<void> {
    const previous = this.locks.get(workflowId) ?? Promise.resolve();
    const current = previous.then(() => this.decideAndAppend(workflowId, causationId, command));
    const settled = current.catch(() => undefined);
    this.locks.set(workflowId, settled);
    try {
      await current;
    } finally {
      if (this.locks.get(workflowId) === settled) this.locks.delete(workflowId);
    }
  }

  private async decideAndAppend(workflowId: string, causationId: string, command: WorkflowCommand): Promise<void> {
    let state = this.store.get(workflowId);
    let events = decide(command, state);
    if (events.length === 0 && command.type !== 'StartWorkflow' && this.mayBeBehind(state, command)) {
      // Another replica may have written this workflow's latest events: read the log up to now.
      await this.store.catchUp();
      state = this.store.get(workflowId);
      events = decide(command, state);
    }
    if (events.length === 0) {
      log.debug('nothing to decide (duplicate or stale input)', { workflowId, command: command.type });
      return;
    }
    const after: WorkflowState = fold(events, state);
    const tenantId = after.tenantId;
    await this.bus.publish([...eventMessages(events, state, workflowId, tenantId, causationId), ...followUps(events, after)]);
    this.store.set(workflowId, after);
    if (after.status !== 'running') log.info(`workflow ${after.status}`, { workflowId, events: after.version });
  }

  private mayBeBehind(state: WorkflowState, command: WorkflowCommand): boolean {
    if (command.type === 'StartWorkflow') return false;
    const result = command.data.result;
    const step = state.steps[result.stepId];
    return state.status === 'none' || !step || step.attempt < result.attempt;
  }

  private async redispatch(running: WorkflowState[]): Promise<void> {
    const tasks = running.flatMap((s) => Object.values(s.steps).filter((st) => st.status === 'scheduled').map((st) => taskMessage(s, st.id)));
    for (let i = 0; i < tasks.length; i += 500) await this.bus.publish(tasks.slice(i, i + 500));
    if (tasks.length) log.info('re-dispatched tasks of steps still awaited', { tasks: tasks.length });
  }
}
