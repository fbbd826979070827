import { ErrorCode, FlotillaError } from '@flotilla/common';
import { composeAnswer } from './local-compose';
import { classifyIntent } from './local-intent';
import { localPlanFor } from './local-plans';
import { CompletionRequest, CompletionResult, LanguageModel, ModelInfo } from './port';
import { parseCustomer, parseFacts, parseLastOrder, parsePlanTools, RECORD_INTENT_TOOL, SUBMIT_PLAN_TOOL } from './prompts';

export const LOCAL_MODEL_INFO: ModelInfo = Object.freeze({
  provider: 'local',
  model: 'flotilla-local-v1',
  label: 'Flotilla built-in deterministic model (rule-based, not an LLM)',
});

/**
 * The built-in deterministic model, used when no LLM is configured. It is rules and templates, not
 * an LLM, and says so in its label. It reads only the request's messages — the prompts from
 * `prompts.ts` — so it exercises the same path a real model does: `intent` requests get a
 * `record_intent` tool call, `plan` requests a `submit_plan` call with the intent and its template
 * plan (over the tools the prompt offers), `compose` requests an answer built only from the FACTS block.
 */
export class LocalModel implements LanguageModel {
  readonly info: ModelInfo = LOCAL_MODEL_INFO;

  complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.stream(request, () => undefined);
  }

  async stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult> {
    checkNotAborted(request);
    const promptTokens = countTokens(request.messages.map((m) => m.content).join(' '));
    switch (request.purpose) {
      case 'intent': {
        if (request.toolChoice?.name !== RECORD_INTENT_TOOL) {
          throw new FlotillaError(ErrorCode.ModelFailed, `local model answers 'intent' only with a forced ${RECORD_INTENT_TOOL} call`, { retryable: false });
        }
        const question = lastContent(request, 'user');
        const today = /\bToday is (\d{4}-\d{2}-\d{2})\./.exec(lastContent(request, 'system'))?.[1];
        const args = { ...classifyIntent(question, today) };
        return {
          text: '',
          toolCalls: [{ name: RECORD_INTENT_TOOL, arguments: args }],
          model: this.info,
          usage: { promptTokens, completionTokens: countTokens(JSON.stringify(args).replace(/[{}",:]/g, ' ')) },
          finishReason: 'tool_calls',
        };
      }
      case 'plan': {
        if (request.toolChoice?.name !== SUBMIT_PLAN_TOOL) {
          throw new FlotillaError(ErrorCode.ModelFailed, `local model answers 'plan' only with a forced ${SUBMIT_PLAN_TOOL} call`, { retryable: false });
        }
        const system = lastContent(request, 'system');
        const today = /\bToday is (\d{4}-\d{2}-\d{2})\./.exec(system)?.[1];
        if (!today) throw new FlotillaError(ErrorCode.ModelFailed, 'local model needs "Today is YYYY-MM-DD." in a plan request', { retryable: false });
        const question = lastContent(request, 'user');
        const classified = classifyIntent(question, today);
        // A follow-up about "it" / "that order" with no number refers to the order discussed last.
        const lastOrder = parseLastOrder(system);
        const refersBack = /\b(it|its|that|this|the|same|my)\s*(order|package|parcel|one)?\b/i.test(question);
        const intent = !classified.orderId && lastOrder && refersBack && (classified.intent === 'order_status' || classified.intent === 'unknown')
          ? { ...classified, intent: 'order_status' as const, orderId: lastOrder }
          : classified;
        const tools = parsePlanTools(system);
        const customerId = parseCustomer(system);
        // "And my other orders?": the customer's orders, leaving out the one already discussed.
        const otherOrders = customerId && !classified.orderId && /\bother\s+orders?\b/i.test(question) && tools.includes('customer.orders');
        const args = otherOrders
          ? {
            intent: { intent: 'order_status' as const },
            steps: [
              { id: 'customer-orders', kind: 'tool' as const, input: { tool: 'customer.orders', args: { customerId, excludeOrderId: lastOrder ?? null } }, dependsOn: [] },
              { id: 'compose', kind: 'compose' as const, input: {}, dependsOn: ['customer-orders'] },
              { id: 'validate', kind: 'validate' as const, input: { answer: '${steps.compose.output.answer}' }, dependsOn: ['compose'] },
            ],
          }
          : { intent: { ...intent }, steps: localPlanFor(intent, today, tools) };
        return {
          text: '',
          toolCalls: [{ name: SUBMIT_PLAN_TOOL, arguments: args }],
          model: this.info,
          usage: { promptTokens, completionTokens: countTokens(JSON.stringify(args).replace(/[{}[\]",:]/g, ' ')) },
          finishReason: 'tool_calls',
        };
      }
      case 'compose': {
        const text = composeAnswer(parseFacts(lastContent(request, 'user')));
        for (const token of tokenize(text)) {
          checkNotAborted(request);
          await onToken(token);
        }
        return { text, toolCalls: [], model: this.info, usage: { promptTokens, completionTokens: countTokens(text) }, finishReason: 'stop' };
      }
      default:
        throw new FlotillaError(ErrorCode.ModelFailed, `local model does not support purpose ${request.purpose}`, { retryable: false });
    }
  }
}

/** Word-sized pieces whose concatenation is exactly `text`. */
export function tokenize(text: string): string[] {
  return text.match(/^\s+|\S+\s*/g) ?? [];
}

function countTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function lastContent(request: CompletionRequest, role: 'system' | 'user'): string {
  return request.messages.findLast((m) => m.role === role)?.content ?? '';
}

function checkNotAborted(request: CompletionRequest): void {
  if (request.signal?.aborted) throw new FlotillaError(ErrorCode.Timeout, 'model call aborted', { retryable: true, cause: request.signal.reason });
}
