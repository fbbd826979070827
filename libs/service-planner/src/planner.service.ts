import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { ExecuteStepV1, Messages, SourceV1, Topics } from '@flotilla/contracts';
import { composeRequest, createLanguageModel, intentRequest, LanguageModel, parseIntentArguments, PROMPT_VERSION, RECORD_INTENT_TOOL } from '@flotilla/llm';
import { MessageBus, outgoing, Subscription } from '@flotilla/messaging';
import { BUS, CONFIG, Readiness, startAgentWorker, StepOutcome } from '@flotilla/platform';
import { PLAN_VERSION, planFor } from './plans';

const log = createLogger({ service: 'planner' });

/** Tokens are published in small batches: fewer broker round trips, still a live stream. */
const TOKEN_BATCH = 6;

/**
 * The planner agent: detects intent and plans (`plan` steps), and composes the final answer,
 * streaming it token by token onto the answer stream (`compose` steps).
 */
@Injectable()
export class PlannerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: Subscription;
  private model!: LanguageModel;
  private ready = false;

  constructor(@Inject(BUS) private readonly bus: MessageBus, @Inject(CONFIG) private readonly config: FlotillaConfig, readiness: Readiness) {
    readiness.register({ name: 'planner', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.model = createLanguageModel(this.config);
    log.info('model selected', { model: this.model.info });
    this.subscription = await startAgentWorker(this.bus, { agent: 'planner', logger: log, execute: (task) => this.execute(task) });
    await this.subscription.ready;
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.subscription?.stop();
  }

  private async execute(task: ExecuteStepV1): Promise<StepOutcome> {
    const pinned = task.context.pins['promptVersion'];
    if (pinned && pinned !== PROMPT_VERSION) {
      throw new FlotillaError(ErrorCode.ConfigInvalid, `workflow pinned prompt ${pinned}, this planner serves ${PROMPT_VERSION}`, { retryable: false });
    }
    switch (task.kind) {
      case 'plan':
        return this.plan(task);
      case 'compose':
        return this.compose(task);
      case 'tool':
      case 'retrieve':
      case 'validate':
        throw new FlotillaError(ErrorCode.ValidationFailed, `planner cannot run ${task.kind} steps`, { retryable: false });
    }
  }

  private today(task: ExecuteStepV1): string {
    return task.context.startedAt.slice(0, 10);
  }

  private async plan(task: ExecuteStepV1): Promise<StepOutcome> {
    const result = await this.model.complete(intentRequest(task.context.question, this.today(task)));
    const call = result.toolCalls.find((c) => c.name === RECORD_INTENT_TOOL);
    if (!call) throw new FlotillaError(ErrorCode.ModelFailed, `model did not call ${RECORD_INTENT_TOOL}`, { retryable: true });
    const intent = parseIntentArguments(call.arguments);
    return {
      output: { intent: { ...intent }, planVersion: PLAN_VERSION, question: task.context.question, steps: planFor(intent, this.today(task)) },
      model: result.model,
      usage: result.usage,
    };
  }

  private async compose(task: ExecuteStepV1): Promise<StepOutcome> {
    const facts = Object.fromEntries(Object.entries(task.context.dependencies).filter(([id]) => id !== 'plan'));
    const request = composeRequest({
      question: task.context.question,
      intent: task.context.intent ?? {},
      facts,
      mode: task.input['mode'] === 'safe' ? 'safe' : 'normal',
      today: this.today(task),
    });
    let seq = 0;
    let pending: string[] = [];
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      await this.bus.publish(batch.map((text) => outgoing(Topics.answerStream, Messages.AnswerTokenStreamed, task.workflowId,
        { workflowId: task.workflowId, taskId: task.taskId, seq: seq++, text }, { tenantId: task.tenantId, workflowId: task.workflowId })));
    };
    const result = await this.model.stream(request, async (token) => {
      pending.push(token);
      if (pending.length >= TOKEN_BATCH) await flush();
    });
    await flush();
    return { output: { answer: result.text, sources: sourcesCited(result.text, facts), streamedTokens: seq }, model: result.model, usage: result.usage };
  }
}

/** The retrieved passages an answer cites as [n], as sources to show with it. */
function sourcesCited(answer: string, facts: Record<string, unknown>): SourceV1[] {
  const passages = Object.values(facts).flatMap((f) => {
    const p = typeof f === 'object' && f !== null ? (f as { passages?: unknown }).passages : undefined;
    return Array.isArray(p) ? (p as { id: string; docId: string; title: string; uri?: string }[]) : [];
  });
  const cited = new Set([...answer.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1])));
  return [...cited].sort((a, b) => a - b).flatMap((n) => {
    const p = passages[n - 1];
    return p ? [{ id: p.docId, title: p.title, uri: p.uri }] : [];
  });
}
