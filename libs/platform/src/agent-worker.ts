import { createLogger, ErrorCode, FlotillaError, Logger } from '@flotilla/common';
import { FlotillaConfig, loadConfig } from '@flotilla/config';
import { Agent, ExecuteStepMessage, ExecuteStepV1, Lane, Messages, ModelInfoV1, STEP_RESULT_TOPICS, TASK_TOPICS, TokenUsageV1 } from '@flotilla/contracts';
import { allSubscriptions, consume, DeferDelivery, MessageBus, on, outgoing, OutgoingMessage, Subscription, withLane } from '@flotilla/messaging';
import { injectTraceparent, withSpan } from '@flotilla/telemetry';
import { LaneGate, LaneGateOptions } from './lane-gate';
import { stepSpanAttributes } from './tracing';

export interface StepOutcome {
  output: Record<string, unknown>;
  model?: ModelInfoV1;
  usage?: TokenUsageV1;
}

export interface AgentWorkerOptions {
  agent: Agent;
  execute(task: ExecuteStepV1, message: ExecuteStepMessage): Promise<StepOutcome>;
  logger?: Logger;
  /** Interactive-lane partitions handled at once. */
  partitionsConcurrently?: number;
  /** The lanes' priority gate; default: the one this process shares ({@link sharedLaneGate}). */
  gate?: LaneGate;
  /** The lanes consumed; default: AGENT_LANES (both unless the process is an interactive- or batch-only replica). */
  lanes?: readonly Lane[];
}

/** The lanes this process's agents serve (AGENT_LANES, already validated at boot). */
export function configuredAgentLanes(config: Pick<FlotillaConfig, 'AGENT_LANES'> = loadConfig(process.env)): Lane[] {
  return [...new Set(config.AGENT_LANES.split(',') as Lane[])];
}

/** The consumer group of an agent's lane: the interactive lane keeps the agent's historical group. */
export function agentGroup(agent: Agent, lane: Lane): string {
  return lane === 'interactive' ? `flotilla-${agent}` : `flotilla-${agent}-batch`;
}

/**
 * How long a batch message waits for a slot before its partition is paused instead (and for how
 * long): a Kafka consumer whose handler never returns misses its heartbeats and is evicted, so a
 * batch task never sits in the gate for long — the message is simply fetched again.
 */
export const BATCH_SLOT_WAIT_MS = 3_000;
export const BATCH_DEFER_MS = 200;

/** How long after its last interactive task a process still counts as serving chat (the gaps between one workflow's steps). */
export const INTERACTIVE_QUIET_MS = 250;

export function laneGateOptions(config: Pick<FlotillaConfig, 'AGENT_INTERACTIVE_CONCURRENCY' | 'AGENT_BATCH_CONCURRENCY' | 'AGENT_BATCH_CONCURRENCY_WHILE_INTERACTIVE'>): LaneGateOptions {
  return {
    interactiveConcurrency: config.AGENT_INTERACTIVE_CONCURRENCY,
    batchConcurrency: config.AGENT_BATCH_CONCURRENCY,
    batchConcurrencyWhileInteractive: Math.min(config.AGENT_BATCH_CONCURRENCY_WHILE_INTERACTIVE, config.AGENT_BATCH_CONCURRENCY),
    interactiveQuietMs: INTERACTIVE_QUIET_MS,
  };
}

let shared: LaneGate | undefined;
/**
 * The gate every agent of this process shares (embedded mode runs all four in one process, on one
 * event loop and one SQLite file: one process, one capacity). Sized from AGENT_INTERACTIVE_CONCURRENCY,
 * AGENT_BATCH_CONCURRENCY and AGENT_BATCH_CONCURRENCY_WHILE_INTERACTIVE, already validated at boot.
 */
export function sharedLaneGate(): LaneGate {
  shared ??= new LaneGate(laneGateOptions(loadConfig(process.env)));
  return shared;
}

/**
 * Runs `handle` in a slot of `lane`. Interactive work waits for its slot; batch work that cannot get
 * one soon is deferred ({@link DeferDelivery}): its partition pauses, nothing is committed past it,
 * and the message comes again — no consumer is held and nothing is lost.
 */
export async function inLane<T>(gate: LaneGate, lane: Lane, handle: () => Promise<T>): Promise<T> {
  const release = await gate.acquire(lane, lane === 'batch' ? BATCH_SLOT_WAIT_MS : undefined);
  if (!release) throw new DeferDelivery(BATCH_DEFER_MS);
  try {
    return await handle();
  } finally {
    release();
  }
}

/**
 * The execution, unless the attempt's deadline passes first: then STEP_TIMEOUT (retryable) is
 * reported and the partition moves on. The abandoned execution may still finish; its result is
 * dropped, and side-effecting tools are idempotent per step (the coordinator's retry reuses the key).
 */
export async function withinDeadline<T>(execution: Promise<T>, task: Pick<ExecuteStepV1, 'deadline' | 'kind' | 'stepId' | 'attempt'>, now = Date.now()): Promise<T> {
  if (!task.deadline) return execution;
  const left = Date.parse(task.deadline) - now;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FlotillaError(ErrorCode.StepTimeout, `${task.kind} step "${task.stepId}" attempt ${task.attempt} ran past its deadline ${task.deadline}`, { retryable: true })), Math.max(0, left));
  });
  execution.catch(() => undefined); // an abandoned execution's late failure is not unhandled
  try {
    return await Promise.race([execution, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The loop every agent runs: take a step from its task topics, execute it, report the outcome on the
 * step-results topic of its lane. A failed step is reported, with whether retrying can help, for the
 * coordinator to decide on — the agent neither swallows it nor retries on its own. Only a failure
 * to report is thrown, so the task is redelivered rather than lost.
 *
 * Each lane topic has its own consumer group ({@link agentGroup}), so a batch backlog never holds a
 * partition slot or a fetch the interactive lane needs; both share the process's {@link LaneGate},
 * where interactive work goes first and batch work is bounded.
 */
export async function startAgentWorker(bus: MessageBus, options: AgentWorkerOptions): Promise<Subscription> {
  const logger = options.logger ?? createLogger({ service: options.agent });
  const gate = options.gate ?? sharedLaneGate();

  const handler = (lane: Lane) => on(TASK_TOPICS[options.agent][lane], async (message) => inLane(gate, lane, () => withSpan(`step ${message.data.kind}`, stepSpanAttributes(options.agent, message.data, lane), async (span) => {
    const task = message.data;
    // The result's parent is this step's span (docs/adr/0011); the task's own context without tracing.
    const meta = { tenantId: task.tenantId, workflowId: task.workflowId, causationId: message.id, traceparent: injectTraceparent() ?? message.metadata.traceparent };
    const started = Date.now();
    // The result goes back on the lane it came from: the coordinator reads each lane's results in its own group.
    const report = (result: OutgoingMessage): Promise<void> => bus.publish([withLane(result, lane)]);
    try {
      const outcome = await withinDeadline(options.execute(task, message), task);
      await report(outgoing(STEP_RESULT_TOPICS[lane], Messages.StepSucceeded, task.workflowId, {
        workflowId: task.workflowId, stepId: task.stepId, taskId: task.taskId, attempt: task.attempt,
        output: outcome.output, model: outcome.model, usage: outcome.usage,
      }, meta, `res_${task.taskId}`));
      logger.info('step succeeded', { workflowId: task.workflowId, stepId: task.stepId, kind: task.kind, lane, ms: Date.now() - started });
      span.setAttribute('flotilla.step.outcome', 'succeeded');
    } catch (err) {
      const error = FlotillaError.from(err);
      span.setAttribute('flotilla.step.outcome', 'errored');
      span.setAttribute('flotilla.error.code', error.code);
      span.fail(error.code);
      logger.warn('step errored', { workflowId: task.workflowId, stepId: task.stepId, lane, code: error.code, retryable: error.retryable, err: error });
      await report(outgoing(STEP_RESULT_TOPICS[lane], Messages.StepErrored, task.workflowId, {
        workflowId: task.workflowId, stepId: task.stepId, taskId: task.taskId, attempt: task.attempt,
        error: { code: error.code, message: error.message.slice(0, 2000), retryable: error.retryable },
      }, meta, `res_${task.taskId}`));
    }
  })));

  const subscriptions: Subscription[] = [];
  try {
    for (const lane of options.lanes ?? configuredAgentLanes()) {
      subscriptions.push(await consume(bus, lane === 'interactive' ? {
        groupId: agentGroup(options.agent, 'interactive'),
        partitionsConcurrently: options.partitionsConcurrently ?? 6,
        logger,
        handlers: [handler('interactive')],
      } : {
        groupId: agentGroup(options.agent, 'batch'),
        // More partitions than batch slots would only wait in the gate.
        partitionsConcurrently: Math.min(6, gate.stats().batch.limit),
        lane: 'batch',
        logger,
        handlers: [handler('batch')],
      }));
    }
  } catch (err) {
    await Promise.all(subscriptions.map((s) => s.stop()));
    throw err;
  }
  return allSubscriptions(subscriptions);
}
