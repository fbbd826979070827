import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { ExecuteStepV1, Messages, SourceV1, Topics } from '@flotilla/contracts';
import { guardUntrustedText } from '@flotilla/guardrails';
import {
  CompletionRequest, composeRequest, ConversationMemory, createLanguageModel, decodeRoutesPin, ModelRouter, parsePlanArguments, PlanTool, planRequest,
  PROMPT_VERSION, SUBMIT_PLAN_TOOL, sumUsage,
} from '@flotilla/llm';
import { ConversationStore, createConversationStore, createCounterStore, ManagedCounterStore } from '@flotilla/memory';
import { MessageBus, outgoing, Subscription, withLane } from '@flotilla/messaging';
import { BUS, CONFIG, Readiness, startAgentWorker, StepOutcome } from '@flotilla/platform';
import { createDefaultTools } from '@flotilla/tools';

const log = createLogger({ service: 'planner' });

/** Tokens wait for a batch of at least this many (or the end, or a publish in flight to return): fewer broker round trips, still a live stream. */
const TOKEN_BATCH = 6;
/** Conversation context given to the planner for follow-up questions. */
const MEMORY_TOKENS = 1500;
/** A model call must leave this much of the workflow's time for the steps after it. */
const STEP_DEADLINE_MS = 30_000;

/**
 * The planner agent: plans (`plan` steps) through structured output — a forced `submit_plan` call
 * validated against the step schema, retried once with the problems, then left to the coordinator's
 * safe plan — and composes the final answer, streaming it token by token (`compose` steps). Every
 * model call goes through the router (tiers, fallback, breakers, shared budgets, cache, accounting).
 * Untrusted text — the question and retrieved passages — is neutralised before a model sees it.
 */
@Injectable()
export class PlannerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: Subscription;
  private model!: ModelRouter;
  private memory!: ConversationStore;
  private counters!: ManagedCounterStore;
  private tools: PlanTool[] = [];
  private ready = false;

  constructor(@Inject(BUS) private readonly bus: MessageBus, @Inject(CONFIG) private readonly config: FlotillaConfig, readiness: Readiness) {
    readiness.register({ name: 'planner', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    // Budgets and the tenant's token allowance are shared by every replica through the counter store.
    this.counters = createCounterStore(this.config);
    this.model = createLanguageModel(this.config, { counters: this.counters, logger: log });
    this.memory = createConversationStore(this.config);
    await this.memory.init();
    const registry = createDefaultTools(this.config.TOOLS_BASE_URL);
    // Side-effecting tools are offered marked as such: a step calling one never runs until the user
    // confirms exactly that call (the coordinator pauses before it; docs/adr/0012).
    this.tools = registry.list().map((t) => ({ name: t.name, description: t.description, argsSchema: t.argsSchema, sideEffect: t.sideEffect }));
    registry.close();
    log.info('models routed', { status: this.model.status() });
    this.subscription = await startAgentWorker(this.bus, { agent: 'planner', logger: log, execute: (task) => this.execute(task) });
    await this.subscription.ready;
    this.ready = true;
  }

  /** Breaker state, limits and queues of every routed model (GET /v1/models). */
  modelStatus(): ReturnType<ModelRouter['status']> {
    return this.model ? this.model.status() : [];
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.subscription?.stop();
    await this.memory?.close();
    await this.counters?.close();
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

  /**
   * Routing fields every call of a task carries: lane, tenant (for its token budget) and deadline —
   * never past the attempt's own, so the router's fallback answers before the step times out.
   */
  private routed(task: ExecuteStepV1, request: CompletionRequest): CompletionRequest {
    const stepDeadline = task.deadline ? Date.parse(task.deadline) : Infinity;
    const deadlineMs = Math.min(Date.now() + STEP_DEADLINE_MS, stepDeadline);
    return { ...request, lane: task.context.lane ?? 'batch', tenantId: task.tenantId, deadlineMs, routes: pinnedRoutes(task) };
  }

  private async recall(task: ExecuteStepV1): Promise<ConversationMemory | undefined> {
    if (!task.context.sessionId) return undefined;
    const context = await this.memory.recentContext(task.tenantId, task.context.sessionId, { maxTokens: MEMORY_TOKENS });
    const newestFirst = [...context.turns].reverse();
    const lastOrderId = newestFirst.map((t) => t.facts?.['orderId']).find((o): o is string => typeof o === 'string');
    const customerId = newestFirst.map((t) => t.facts?.['customerId']).find((c): c is string => typeof c === 'string');
    return { summary: context.summary, turns: context.turns.map((t) => ({ role: t.role, text: guardUntrustedText(t.text).text })), lastOrderId, customerId };
  }

  private async plan(task: ExecuteStepV1): Promise<StepOutcome> {
    const question = guardUntrustedText(task.context.question);
    const memory = await this.recall(task);
    const base = planRequest(question.text, this.today(task), this.tools, memory);
    const results = [];
    let problem = '';
    for (let attempt = 1; attempt <= 2; attempt++) {
      const request: CompletionRequest = attempt === 1 ? base : {
        ...base,
        messages: [...base.messages, { role: 'user', content: `Your previous plan was rejected: ${problem}. Call ${SUBMIT_PLAN_TOOL} again with a corrected plan.` }],
        cache: false,
      };
      const result = await this.model.complete(this.routed(task, request));
      results.push(result);
      const call = result.toolCalls.find((c) => c.name === SUBMIT_PLAN_TOOL);
      try {
        if (!call) throw new FlotillaError(ErrorCode.ModelFailed, `model did not call ${SUBMIT_PLAN_TOOL}`, { retryable: false });
        const plan = parsePlanArguments(call.arguments, this.tools.map((t) => t.name));
        return {
          output: {
            intent: { ...plan.intent }, planVersion: `plan-${PROMPT_VERSION}`, question: task.context.question, steps: plan.steps,
            ...(question.report.flagged ? { inputGuard: { flagged: true, reasons: question.report.reasons } } : {}),
            ...(memory?.lastOrderId ? { resolvedFromMemory: { lastOrderId: memory.lastOrderId } } : {}),
          },
          model: result.model,
          usage: sumUsage(results),
        };
      } catch (err) {
        problem = err instanceof Error ? err.message : String(err);
        log.warn('invalid plan from model', { workflowId: task.workflowId, attempt, problem });
      }
    }
    // Twice invalid: no steps, and the coordinator replaces the plan with the safe one, saying why.
    return { output: { intent: { intent: 'unknown' }, planVersion: 'invalid', question: task.context.question, steps: [], planError: problem }, usage: sumUsage(results) };
  }

  private async compose(task: ExecuteStepV1): Promise<StepOutcome> {
    const facts = Object.fromEntries(Object.entries(task.context.dependencies).filter(([id]) => id !== 'plan').map(([id, out]) => [id, guardPassages(out)]));
    const revision = typeof task.input['revision'] === 'number' ? task.input['revision'] : undefined;
    // The user's preferences (language, contact channel, ...) travel with the intent to the composer.
    const preferences = task.context.userId ? await this.memory.getPreferences(task.tenantId, task.context.userId) : {};
    const request = composeRequest({
      question: guardUntrustedText(task.context.question).text,
      intent: Object.keys(preferences).length ? { ...(task.context.intent ?? {}), preferences } : (task.context.intent ?? {}),
      facts,
      mode: task.input['mode'] === 'safe' ? 'safe' : 'normal',
      today: this.today(task),
      revision,
      rejectedReasons: Array.isArray(task.input['rejectedReasons']) ? (task.input['rejectedReasons'] as unknown[]).map(String) : undefined,
    });
    if (task.context.lane === 'batch') {
      // Nobody watches a batch answer being written (it is read whole: the result topic, GET, a
      // resumed stream's answer frame), so it is not streamed: no token messages, no stored tokens,
      // no broadcast to every gateway — work the shared broker, database and gateways would otherwise
      // do beside chat's (ADR 0013).
      const whole = await this.model.complete(this.routed(task, request));
      return {
        output: { answer: whole.text, sources: sourcesCited(whole.text, facts), streamedTokens: 0 },
        model: whole.model,
        usage: sumUsage([whole]),
      };
    }
    // At most one publish in flight; tokens that arrive meanwhile wait and go out together when it
    // returns. The model's stream never waits for the broker, a slow broker gets bigger batches
    // instead of a queue of round trips, and order is kept (one sender, batches in sequence).
    let seq = 0;
    let pending: string[] = [];
    let sending: Promise<void> | undefined;
    let failed: unknown;
    const send = async (): Promise<void> => {
      while (pending.length > 0) {
        const batch = pending;
        pending = [];
        // A batch workflow's tokens are marked so that, in one process, chat tokens go first (LaneTurns).
        await this.bus.publish(batch.map((text) => withLane(outgoing(Topics.answerStream, Messages.AnswerTokenStreamed, task.workflowId,
          { workflowId: task.workflowId, taskId: task.taskId, seq: seq++, text }, { tenantId: task.tenantId, workflowId: task.workflowId }), task.context.lane ?? 'interactive')));
      }
    };
    const kick = (): void => {
      sending ??= send().catch((err: unknown) => {
        failed ??= err;
      }).finally(() => {
        sending = undefined;
      });
    };
    const result = await this.model.stream(this.routed(task, request), (token) => {
      if (failed) throw failed;
      pending.push(token);
      if (pending.length >= TOKEN_BATCH) kick();
      return Promise.resolve();
    });
    // A send that was just finishing when the last tokens came may have left them behind: go again.
    do {
      kick();
      while (sending) await sending;
    } while (pending.length > 0 && !failed);
    if (failed) throw failed;
    return {
      output: { answer: result.text, sources: sourcesCited(result.text, facts), streamedTokens: seq },
      model: result.model,
      usage: sumUsage([result]),
    };
  }
}

/** The model chains pinned at workflow start (absent for workflows started before pins existed). */
function pinnedRoutes(task: ExecuteStepV1): CompletionRequest['routes'] {
  const raw = task.context.pins['modelRoutes'];
  const routes = decodeRoutesPin(raw);
  if (raw && !routes) log.warn('unreadable modelRoutes pin ignored', { workflowId: task.workflowId });
  return routes;
}

/** Retrieved passages are untrusted text: neutralise any instructions hidden in them. */
function guardPassages(output: unknown): unknown {
  const passages = typeof output === 'object' && output !== null ? (output as { passages?: unknown }).passages : undefined;
  if (!Array.isArray(passages)) return output;
  return {
    ...(output as Record<string, unknown>),
    passages: passages.map((p: Record<string, unknown>) => (typeof p['text'] === 'string' ? { ...p, text: guardUntrustedText(p['text']).text } : p)),
  };
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
