import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { Authenticator, authenticatorFrom, INTAKE_API_KEY_HEADER, verifyIntakePublisher } from '@flotilla/auth';
import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { ALL_TOPICS, BatchWorkflowCommandMessage, ConsumerGroups, IntakeMessage, Lane, laneOf, StepKind, StepResultMessage, Topics, WorkflowCommandMessage } from '@flotilla/contracts';
import { decodeRoutesPin, LOCAL_MODEL_NAME, PROMPT_VERSION, resolveRouting } from '@flotilla/llm';
import { ApiKeyStore, createApiKeyStore } from '@flotilla/memory';
import { consume, DeferDelivery, IncomingMessage, MessageBus, offsetAfter, on, startDelayForwarder, Subscription, withLane } from '@flotilla/messaging';
import { BUS, CONFIG, INSTANCE_ID, Readiness, workflowSnapshotsFromConfig } from '@flotilla/platform';
import { sideEffectToolNames } from '@flotilla/tools';
import { confirmToolsPin, decide, DEFAULT_STEP_POLICY, fold, policyPins, StepPolicy, WorkflowCommand, workflowIdFor, WorkflowState } from '@flotilla/workflow';
import { BatchLimit } from './batch-limit';
import { BatchPacer } from './batch-pacer';
import { eventMessages, followUps } from './dispatch';
import { WorkflowStore } from './workflow-store';

const log = createLogger({ service: 'coordinator' });

const COORDINATOR_GROUP = ConsumerGroups.coordinator;
const COORDINATOR_BATCH_GROUP = ConsumerGroups.coordinatorBatch;
/** How long after its last chat input the coordinator still counts as serving chat (a chat's steps are spread over ~1 s). */
const INTERACTIVE_QUIET_MS = 1_000;
/**
 * Strict priority: how long a batch input waits in its handler for chat to go still before its
 * partition is deferred instead (well inside the consumer's session timeout).
 */
const BATCH_HOLD_MS = 3_000;
/** The adaptive batch bound never goes below this (the lane keeps moving, and keeps learning). */
const BATCH_LIMIT_MIN = 2;

/**
 * Owns workflows. For each input — a request, a step result, a cancellation, an elapsed timer — it
 * loads the workflow's state (a fold of its log), decides, and in ONE transaction appends the
 * resulting events, dispatches the tasks, timers and results they imply, and commits the input's
 * offset (publishAndCommit: Kafka transactions with sendOffsets; one SQLite transaction embedded).
 * A crash before the commit leaves no trace and the input is redelivered; after it, the input is
 * never seen again — transitions happen exactly once (docs/adr/0007). A task that is lost or an
 * agent that dies is caught by the attempt's timeout timer, so no restart is needed to recover.
 */
@Injectable()
export class CoordinatorService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly store: WorkflowStore;
  private readonly subscriptions: Subscription[] = [];
  private readonly locks = new Map<string, Promise<void>>();
  private readonly policy: StepPolicy;
  private readonly apiKeys: ApiKeyStore;
  private readonly authenticator: Authenticator;
  private ready = false;
  /** When this coordinator last handled a chat (interactive-lane) input. */
  private lastInteractiveAt = Number.NEGATIVE_INFINITY;
  /** How many batch workflows may run at once, learned from their latency (at most COORDINATOR_MAX_ACTIVE_BATCH). */
  private readonly batchLimit: BatchLimit;
  /** Strict priority: how fast batch workflows may start while chat is served, learned from chat latency. */
  private readonly batchPacer?: BatchPacer;

  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(CONFIG) private readonly config: FlotillaConfig,
    @Inject(INSTANCE_ID) instanceId: string,
    readiness: Readiness,
  ) {
    this.store = new WorkflowStore(bus, instanceId, workflowSnapshotsFromConfig(config));
    this.batchLimit = new BatchLimit({ min: BATCH_LIMIT_MIN, max: config.COORDINATOR_MAX_ACTIVE_BATCH });
    this.store.onFinish((state) => {
      if (laneOf(state.channel) !== 'batch' || !state.endedAt) return;
      const startedAt = Date.parse(state.startedAt);
      const probing = this.batchLimit.probing;
      this.batchLimit.observe(Date.parse(state.endedAt) - startedAt, this.store.runningCount('batch') + 1, startedAt);
      if (probing && !this.batchLimit.probing) log.info('batch bound measured again', { baselineMs: this.batchLimit.baselineMs, bound: this.batchLimit.current });
    });
    if (config.COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE === 0) {
      const pacer = new BatchPacer({ batchMoving: () => this.store.movingCount('batch') });
      this.batchPacer = pacer;
      this.store.onFinish((state) => {
        if (laneOf(state.channel) !== 'interactive' || !state.endedAt || !paceSample(state)) return;
        const startedAt = Date.parse(state.startedAt);
        const [probing, rate] = [pacer.probing, pacer.perSecond];
        pacer.observeChat(Date.parse(state.endedAt) - startedAt, startedAt);
        if (probing && !pacer.probing) log.info('chat baseline measured for batch pacing', { baselineMs: pacer.baselineMs, batchPerSecond: pacer.perSecond });
        else if (rate !== pacer.perSecond) log.debug('batch pace while chatting', { batchPerSecond: pacer.perSecond, baselineMs: pacer.baselineMs });
      });
    }
    this.policy = stepPolicyFrom(config);
    this.apiKeys = createApiKeyStore(config);
    this.authenticator = authenticatorFrom(config, this.apiKeys);
    readiness.register({ name: 'coordinator', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    const started = Date.now();
    await this.apiKeys.init();
    await this.store.start();
    await this.store.catchUp();
    log.info('workflow state rebuilt from the event log', {
      ms: Date.now() - started, workflows: this.store.size, eventsApplied: this.store.eventsApplied, running: this.store.running().length,
    });
    this.subscriptions.push(await consume(this.bus, {
      groupId: COORDINATOR_GROUP,
      autoCommit: false,
      partitionsConcurrently: 12,
      logger: log,
      handlers: [
        on(Topics.interactiveIntake, (m, raw) => this.onIntake(m, raw, COORDINATOR_GROUP)),
        on(Topics.stepResults, (m, raw) => this.onStepResult(m, raw, COORDINATOR_GROUP)),
        on(Topics.workflowCommands, (m, raw) => this.onCommand(m, raw, COORDINATOR_GROUP)),
      ],
    }));
    // The batch lane in a group of its own — its intake and its step results — so a chat result is
    // never read behind a backlog's; in one process its messages also wait for their turn (LaneTurns).
    this.subscriptions.push(await consume(this.bus, {
      groupId: COORDINATOR_BATCH_GROUP,
      autoCommit: false,
      partitionsConcurrently: 12,
      // Intake held back by admission pauses its partition; each look fetches again from there.
      maxBytesPerPartition: 64 * 1024,
      lane: 'batch',
      logger: log,
      handlers: [
        on(Topics.intake, async (m, raw) => {
          await this.verifyPublisher(m, raw);
          await this.batchTurn();
          await this.onIntake(m, raw, COORDINATOR_BATCH_GROUP);
        }),
        on(Topics.apiIntake, this.held((m, raw) => this.onIntake(m, raw, COORDINATOR_BATCH_GROUP))),
        on(Topics.batchStepResults, this.held((m, raw) => this.onStepResult(m, raw, COORDINATOR_BATCH_GROUP))),
        on(Topics.batchWorkflowCommands, this.held((m, raw) => this.onCommand(m, raw, COORDINATOR_BATCH_GROUP))),
      ],
    }));
    this.subscriptions.push(await startDelayForwarder(this.bus, { topics: ALL_TOPICS.map((t) => t.name), logger: log }));
    await Promise.all(this.subscriptions.map((s) => s.ready));
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await Promise.allSettled(this.subscriptions.map((s) => s.stop()));
    await this.store.stop();
    await this.apiKeys.close();
  }

  /**
   * The public intake topic is written by outside systems: each message must carry an API key
   * (header `flotilla-api-key`) with role `intake:publish` for the tenant it names — required when
   * AUTH_REQUIRED is on, checked whenever one is present. A message that fails is dead-lettered with
   * the reason (a non-retryable error); it never starts work, least of all for another tenant.
   */
  private async verifyPublisher(message: IntakeMessage, raw: IncomingMessage): Promise<void> {
    if (raw.headers[INTAKE_API_KEY_HEADER] === undefined) {
      if (!this.config.AUTH_REQUIRED) return;
      throw new FlotillaError(ErrorCode.ValidationFailed, `intake publisher not allowed: no ${INTAKE_API_KEY_HEADER} header (an API key with role intake:publish for tenant ${message.data.tenantId})`, { retryable: false });
    }
    try {
      await verifyIntakePublisher(this.authenticator, raw.headers, message.data.tenantId);
    } catch (err) {
      const error = FlotillaError.from(err);
      if (error.retryable) throw error; // the key store is unreachable: try again, do not dead-letter
      throw new FlotillaError(ErrorCode.ValidationFailed, `intake publisher not allowed: ${error.message}`, { retryable: false, cause: err });
    }
  }

  /**
   * Workflow pins: what a workflow started now uses for its whole life — the prompt and plan
   * versions, the model chains of every tier, and its step timeouts, backoff and deadline — so a
   * deploy in the middle changes nothing for it.
   */
  private pins(): Record<string, string> {
    const { routes } = resolveRouting(this.config);
    return {
      planVersion: `plan-${PROMPT_VERSION}`,
      promptVersion: PROMPT_VERSION,
      model: routes.complex[0] ?? 'local',
      modelRoutes: JSON.stringify(routes),
      ...policyPins(this.policy),
      // Steps calling these wait for the user's confirmation (docs/adr/0012).
      ...confirmToolsPin(sideEffectToolNames()),
    };
  }

  /**
   * Strict priority (COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE=0): the whole batch lane — new
   * workflows, and the step results and timers of running ones — waits while any chat workflow is
   * moving anywhere (the view folds every replica's log). Holding only admissions left the batch
   * workflows already running to go on at full speed through every service, Kafka and the database
   * — for ~20 s after chat began, measured (docs/adr/0013). Held here, no batch transition, event,
   * task or read-model write is made while chat runs; the batch lane resumes when chat is still.
   * The wait is bounded; past it the partition is deferred (paused, then looked at again).
   */
  private async batchTurn(): Promise<void> {
    if (this.config.COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE !== 0) return;
    if (!(await this.store.untilStill('interactive', BATCH_HOLD_MS))) throw new DeferDelivery(250);
  }

  private chatSeen(): void {
    this.lastInteractiveAt = Date.now();
    this.batchPacer?.chatSeen();
  }

  /** A batch-group handler that first waits for its turn (batchTurn). */
  private held<M>(handler: (message: M, raw: IncomingMessage) => Promise<void>): (message: M, raw: IncomingMessage) => Promise<void> {
    return async (message, raw) => {
      await this.batchTurn();
      await handler(message, raw);
    };
  }

  private async onIntake(message: IntakeMessage, raw: IncomingMessage, groupId: string): Promise<void> {
    const request = message.data;
    const workflowId = workflowIdFor(request.tenantId, request.requestId);
    if (groupId === COORDINATOR_BATCH_GROUP && this.store.get(workflowId).status === 'none') {
      // Batch admission: past the bound, the intake partition waits (paused, not sleeping) while
      // running batch workflows finish, so a backlog of thousands never floods the agents' lanes.
      const bound = batchAdmissionBound(this.config, Date.now() - this.lastInteractiveAt, this.batchLimit.current);
      // Held back for chat: look again in a second (each look refetches the partition).
      // Strict priority, while chat is served: at most BATCH_LIMIT_MIN at once (what a chat arriving
      // can meet in flight), started at the rate chat's latency tolerates (BatchPacer).
      const max = this.batchPacer?.chatting ? Math.min(bound.max, BATCH_LIMIT_MIN) : bound.max;
      if (this.store.runningCount('batch') >= max) throw new DeferDelivery(bound.chatting ? 1_000 : 250);
      const pace = this.batchPacer?.pace();
      if (pace && !pace.admit) throw new DeferDelivery(pace.retryInMs);
      this.batchPacer?.admitted();
    }
    if (groupId === COORDINATOR_GROUP) this.chatSeen();
    await this.handle(workflowId, message.id, raw, groupId, { type: 'StartWorkflow', data: { workflowId, request, pins: this.pins(), now: new Date().toISOString() } });
  }

  private async onStepResult(message: StepResultMessage, raw: IncomingMessage, groupId: string): Promise<void> {
    if (groupId === COORDINATOR_GROUP) this.chatSeen();
    const now = new Date().toISOString();
    const command: WorkflowCommand = message.type === 'StepSucceeded'
      ? { type: 'RecordStepSucceeded', data: { result: message.data, now } }
      : { type: 'RecordStepErrored', data: { result: message.data, now } };
    await this.handle(message.data.workflowId, message.id, raw, groupId, command);
  }

  private async onCommand(message: WorkflowCommandMessage | BatchWorkflowCommandMessage, raw: IncomingMessage, groupId: string): Promise<void> {
    const now = new Date().toISOString();
    let command: WorkflowCommand;
    switch (message.type) {
      case 'CancelWorkflow':
        command = { type: 'CancelWorkflow', data: { cancel: message.data, now } };
        break;
      case 'ConfirmStep':
        command = { type: 'ConfirmStep', data: { confirm: message.data, now } };
        break;
      case 'WorkflowTimerElapsed':
        command = { type: 'TimerElapsed', data: { timer: message.data, now } };
        break;
    }
    await this.handle(message.data.workflowId, message.id, raw, groupId, command);
  }

  /** Serialises decisions per workflow within this process. */
  private async handle(workflowId: string, causationId: string, raw: IncomingMessage, groupId: string, command: WorkflowCommand): Promise<void> {
    const previous = this.locks.get(workflowId) ?? Promise.resolve();
    const current = previous.then(() => this.decideAndAppend(workflowId, causationId, raw, groupId, command));
    const settled = current.catch(() => undefined);
    this.locks.set(workflowId, settled);
    try {
      await current;
    } finally {
      if (this.locks.get(workflowId) === settled) this.locks.delete(workflowId);
    }
  }

  private async decideAndAppend(workflowId: string, causationId: string, raw: IncomingMessage, groupId: string, command: WorkflowCommand): Promise<void> {
    const consumed = offsetAfter(groupId, raw);
    let state = this.store.get(workflowId);
    let events = decide(command, state);
    if (events.length === 0 && this.mayBeBehind(state, command)) {
      // Another replica may have written this workflow's latest events: read the log up to now.
      await this.store.catchUp();
      state = this.store.get(workflowId);
      events = decide(command, state);
    }
    if (events.length === 0) {
      log.debug('nothing to decide (duplicate or stale input)', { workflowId, command: command.type });
      await this.bus.publishAndCommit([], [consumed], { lane: laneOfGroup(groupId) });
      return;
    }
    const after: WorkflowState = fold(events, state);
    const tenantId = after.tenantId;
    const out = [...eventMessages(events, state, workflowId, tenantId, causationId), ...followUps(events, after)];
    // A batch workflow's events, timers and results are marked as such: their consumers in one
    // process (the projector, live updates, this coordinator's tail) serve chat's first.
    const lane = laneOf(after.channel);
    // Committed in the lane of the group that consumed the input (one lane per group, so its offsets
    // only move forward): a chat transition has a transactional producer of its own (ADR 0013).
    await this.bus.publishAndCommit(lane === 'batch' ? out.map((m) => withLane(m, lane)) : out, [consumed], { lane: laneOfGroup(groupId) });
    this.store.set(workflowId, after);
    if (after.status !== 'running') log.info(`workflow ${after.status}`, { workflowId, events: after.version });
  }

  private mayBeBehind(state: WorkflowState, command: WorkflowCommand): boolean {
    switch (command.type) {
      case 'StartWorkflow':
        return false;
      case 'RecordStepSucceeded':
      case 'RecordStepErrored': {
        const result = command.data.result;
        const step = state.steps[result.stepId];
        return state.status === 'none' || !step || step.attempt < result.attempt;
      }
      case 'TimerElapsed':
      case 'CancelWorkflow':
      case 'ConfirmStep':
        return state.status === 'none';
    }
  }
}

/**
 * How many batch workflows may run at once now, given how long ago the last chat input was handled:
 * the bound learned from batch latency (`learned`, BatchLimit) within COORDINATOR_MAX_ACTIVE_BATCH,
 * or while chat is being served (an input in the last second) a smaller nonzero
 * COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE (0, strict priority, holds the lane in batchTurn instead).
 */
export function batchAdmissionBound(
  config: Pick<FlotillaConfig, 'COORDINATOR_MAX_ACTIVE_BATCH' | 'COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE'>,
  sinceChatMs: number,
  learned: number = config.COORDINATOR_MAX_ACTIVE_BATCH,
): { max: number; chatting: boolean } {
  const bound = Math.min(learned, config.COORDINATOR_MAX_ACTIVE_BATCH);
  const whileInteractive = config.COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE;
  // 0 is strict priority: the whole batch lane waits while chat moves (batchTurn), and is admitted in its gaps.
  const chatting = sinceChatMs < INTERACTIVE_QUIET_MS && whileInteractive > 0 && whileInteractive < bound;
  return { max: chatting ? whileInteractive : bound, chatting };
}

/**
 * Whether a finished chat workflow's latency says how loaded the pipeline was (a BatchPacer sample).
 * Not when it was cancelled, waited for a person's confirmation, retried a step (backoff and a
 * failed attempt's time), or was answered by the local fallback model where the routes name a remote
 * one first (the provider failed or was too slow: its latency is the provider's, not batch work's —
 * counting it would throttle the batch lane through every provider outage, and starve the breaker of
 * the calls that open it).
 */
export function paceSample(state: WorkflowState): boolean {
  if (state.status === 'cancelled') return false;
  const steps = Object.values(state.steps);
  if (steps.some((s) => s.confirmation || s.awaiting || s.attempt > 1)) return false;
  const routes = decodeRoutesPin(state.pins['modelRoutes']) ?? {};
  const localFirst = Object.values(routes).some((chain) => Array.isArray(chain) && chain[0] === LOCAL_MODEL_NAME);
  const fellBack = !localFirst && Object.keys(routes).length > 0 && [state.model, ...steps.map((s) => s.model)].some((m) => m?.provider === 'local');
  return !fellBack;
}

/** The lane a coordinator consumer group serves, and commits its transitions in. */
function laneOfGroup(groupId: string): Lane {
  return groupId === COORDINATOR_BATCH_GROUP ? 'batch' : 'interactive';
}

/** The step policy from configuration (pinned into each workflow at its start). */
export function stepPolicyFrom(config: FlotillaConfig): StepPolicy {
  const timeoutsMs = { ...DEFAULT_STEP_POLICY.timeoutsMs };
  for (const pair of (config.STEP_TIMEOUTS_MS ?? '').split(',')) {
    const [kind, ms] = pair.split('=').map((x) => x.trim());
    if (kind && ms && kind in timeoutsMs) timeoutsMs[kind as StepKind] = Number(ms);
  }
  return {
    timeoutsMs,
    backoff: { baseMs: config.RETRY_BACKOFF_BASE_MS, maxMs: Math.max(config.RETRY_BACKOFF_BASE_MS, config.RETRY_BACKOFF_MAX_MS) },
    deadlineMs: config.WORKFLOW_DEADLINE_MS,
    confirmationTimeoutMs: config.CONFIRMATION_TIMEOUT_MS,
  };
}
