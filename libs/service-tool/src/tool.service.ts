import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger, deriveId, ErrorCode, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { ExecuteStepV1 } from '@flotilla/contracts';
import { MessageBus, Subscription } from '@flotilla/messaging';
import { BUS, CONFIG, Readiness, startAgentWorker, StepOutcome } from '@flotilla/platform';
import { createDefaultTools, ToolRegistry } from '@flotilla/tools';

const log = createLogger({ service: 'tool' });

/**
 * The tool agent: runs `tool` steps through the registry (argument validation, pooled HTTP,
 * retries within the tool's budget). Side-effecting tools run only for a task carrying the user's
 * confirmation, with an idempotency key derived from the workflow and step, so a redelivered or
 * retried task never repeats the side effect.
 */
@Injectable()
export class ToolService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: Subscription;
  private registry!: ToolRegistry;
  private ready = false;

  constructor(@Inject(BUS) private readonly bus: MessageBus, @Inject(CONFIG) private readonly config: FlotillaConfig, readiness: Readiness) {
    readiness.register({ name: 'tool', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.registry = createDefaultTools(this.config.TOOLS_BASE_URL);
    log.info('tools registered', { tools: this.registry.list().map((t) => t.name), baseUrl: this.config.TOOLS_BASE_URL });
    this.subscription = await startAgentWorker(this.bus, { agent: 'tool', logger: log, execute: (task) => this.execute(task) });
    await this.subscription.ready;
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.subscription?.stop();
  }

  private async execute(task: ExecuteStepV1): Promise<StepOutcome> {
    if (task.kind !== 'tool') throw new FlotillaError(ErrorCode.ValidationFailed, `tool agent cannot run ${task.kind} steps`, { retryable: false });
    const name = task.input['tool'];
    const args = task.input['args'];
    if (typeof name !== 'string') throw new FlotillaError(ErrorCode.ValidationFailed, 'tool step input.tool must be a tool name', { retryable: false });
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new FlotillaError(ErrorCode.ValidationFailed, 'tool step input.args must be an object', { retryable: false });
    // A state change happens only with the user's confirmation on the task (docs/adr/0012): whatever
    // planned or wrote the task, an unconfirmed refund is refused, and retrying cannot change that.
    if (this.registry.list().some((t) => t.name === name && t.sideEffect) && !task.confirmation) {
      throw new FlotillaError(ErrorCode.ValidationFailed, `${name} changes state and runs only after the user confirmed it; this task carries no confirmation`, { retryable: false });
    }
    const output = await this.registry.execute(name, args as Record<string, unknown>, { idempotencyKey: deriveId('idem', task.workflowId, task.stepId) });
    return { output: { tool: name, ...output } };
  }
}
