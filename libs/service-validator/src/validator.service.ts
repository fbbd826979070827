import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { ExecuteStepV1 } from '@flotilla/contracts';
import { MessageBus, Subscription } from '@flotilla/messaging';
import { BUS, Readiness, startAgentWorker, StepOutcome } from '@flotilla/platform';
import { validateAnswer } from './validate';

const log = createLogger({ service: 'validator' });

/**
 * Guardrails: checks a composed answer before it is final — prompt injection that succeeded,
 * personal data that is not the requester's, and claims the evidence does not support.
 */
@Injectable()
export class ValidatorService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: Subscription;
  private ready = false;

  constructor(@Inject(BUS) private readonly bus: MessageBus, readiness: Readiness) {
    readiness.register({ name: 'validator', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.subscription = await startAgentWorker(this.bus, { agent: 'validator', logger: log, execute: async (task) => this.execute(task) });
    await this.subscription.ready;
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.subscription?.stop();
  }

  private execute(task: ExecuteStepV1): StepOutcome {
    if (task.kind !== 'validate') throw new FlotillaError(ErrorCode.ValidationFailed, `validator cannot run ${task.kind} steps`, { retryable: false });
    const compose = Object.values(task.context.dependencies).find((o) => typeof (o as { answer?: unknown })?.answer === 'string') as { answer: string } | undefined;
    const answer = typeof task.input['answer'] === 'string' ? task.input['answer'] : compose?.answer;
    if (typeof answer !== 'string') return { output: { verdict: 'rejected', reasons: ['no answer to validate'], claimsChecked: 0 } };
    // Evidence is what the tools and the retriever returned — never the answer itself.
    const evidence = Object.fromEntries(Object.entries(task.context.dependencies).filter(([, o]) => o !== compose));
    const verdict = validateAnswer({ answer, question: task.context.question, evidence, userId: task.context.userId });
    // Reasons are already free of personal data; the answer itself is never logged.
    if (verdict.verdict === 'rejected') log.warn('answer rejected', { workflowId: task.workflowId, checks: verdict.checks, reasons: verdict.reasons });
    return { output: { ...verdict } };
  }
}
