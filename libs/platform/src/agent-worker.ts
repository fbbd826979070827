import { createLogger, FlotillaError, Logger } from '@flotilla/common';
import { Agent, ExecuteStepMessage, ExecuteStepV1, Messages, ModelInfoV1, TASK_TOPICS, Topics, TokenUsageV1 } from '@flotilla/contracts';
import { consume, MessageBus, on, outgoing, Subscription } from '@flotilla/messaging';

export interface StepOutcome {
  output: Record<string, unknown>;
  model?: ModelInfoV1;
  usage?: TokenUsageV1;
}

export interface AgentWorkerOptions {
  agent: Agent;
  execute(task: ExecuteStepV1, message: ExecuteStepMessage): Promise<StepOutcome>;
  logger?: Logger;
  partitionsConcurrently?: number;
}

/**
 * The loop every agent runs: take a step from its task topic, execute it, report the outcome on the
 * step-results topic. A failed step is reported, with whether retrying can help, for the
 * coordinator to decide on — the agent neither swallows it nor retries on its own. Only a failure
 * to report is thrown, so the task is redelivered rather than lost.
 */
export async function startAgentWorker(bus: MessageBus, options: AgentWorkerOptions): Promise<Subscription> {
  const logger = options.logger ?? createLogger({ service: options.agent });
  return consume(bus, {
    groupId: `flotilla-${options.agent}`,
    partitionsConcurrently: options.partitionsConcurrently ?? 6,
    logger,
    handlers: [
      on(TASK_TOPICS[options.agent], async (message) => {
        const task = message.data;
        const meta = { tenantId: task.tenantId, workflowId: task.workflowId, causationId: message.id, traceparent: message.metadata.traceparent };
        const started = Date.now();
        try {
          const outcome = await options.execute(task, message);
          await bus.publish([outgoing(Topics.stepResults, Messages.StepSucceeded, task.workflowId, {
            workflowId: task.workflowId, stepId: task.stepId, taskId: task.taskId, attempt: task.attempt,
            output: outcome.output, model: outcome.model, usage: outcome.usage,
          }, meta, `res_${task.taskId}`)]);
          logger.info('step succeeded', { workflowId: task.workflowId, stepId: task.stepId, kind: task.kind, ms: Date.now() - started });
        } catch (err) {
          const error = FlotillaError.from(err);
          logger.warn('step errored', { workflowId: task.workflowId, stepId: task.stepId, code: error.code, retryable: error.retryable, err: error });
          await bus.publish([outgoing(Topics.stepResults, Messages.StepErrored, task.workflowId, {
            workflowId: task.workflowId, stepId: task.stepId, taskId: task.taskId, attempt: task.attempt,
            error: { code: error.code, message: error.message.slice(0, 2000), retryable: error.retryable },
          }, meta, `res_${task.taskId}`)]);
        }
      }),
    ],
  });
}
