import { IntentArguments, PlanStep } from './prompts';

/*
 * The local model's plan templates: one fixed DAG per intent. They were the planner's `plans.ts`;
 * they live here so that the planner only ever asks a model for a plan (`planRequest`), and the
 * local model answers that request the way an LLM would.
 */

/** The version of these templates, reported with each plan they produce. */
export const LOCAL_PLAN_VERSION = 'plan-v2';

/** The tools the templates call. */
export const LOCAL_PLAN_TOOLS = ['order.lookup', 'shipment.track', 'delivery.estimate', 'product.search', 'customer.orders', 'refund.request'] as const;

/** The reason sent with a refund the customer asked for in so many words. */
export const REFUND_REASON = 'requested by the customer';

const compose = (dependsOn: string[]): PlanStep => ({ id: 'compose', kind: 'compose', input: {}, dependsOn });
const validate = (): PlanStep => ({ id: 'validate', kind: 'validate', input: { answer: '${steps.compose.output.answer}' }, dependsOn: ['compose'] });

/**
 * The plan (a DAG of steps) for a detected intent. Independent steps have no edge between them, so
 * the coordinator runs them in parallel: an order's lookup and its shipment tracking start together,
 * and the delivery-estimate analysis waits for both.
 *
 * With `tools` (the tools the request offers), a template that needs a tool not offered falls back
 * to compose and validate only — the answer then says what it cannot look up — rather than
 * planning a call that cannot run.
 */
export function localPlanFor(intent: IntentArguments, today: string, tools?: readonly string[]): PlanStep[] {
  const plan = template(intent, today);
  const missing = tools ? plan.filter((s) => s.kind === 'tool' && !tools.includes(String(s.input['tool']))) : [];
  return missing.length ? [compose([]), validate()] : plan;
}

function template(intent: IntentArguments, today: string): PlanStep[] {
  switch (intent.intent) {
    case 'order_status': {
      if (!intent.orderId) return [compose([]), validate()];
      const orderId = intent.orderId;
      return [
        { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId } }, dependsOn: [] },
        { id: 'track-shipment', kind: 'tool', input: { tool: 'shipment.track', args: { orderId } }, dependsOn: [] },
        {
          id: 'estimate-delivery', kind: 'tool',
          input: { tool: 'delivery.estimate', args: { orderId, shipment: '${steps.track-shipment.output.shipment}', deadline: intent.deadline ?? null, today } },
          dependsOn: ['lookup-order', 'track-shipment'],
        },
        compose(['lookup-order', 'track-shipment', 'estimate-delivery']),
        validate(),
      ];
    }
    case 'policy_question':
      return [
        { id: 'retrieve', kind: 'retrieve', input: { query: '${steps.plan.output.question}', topK: 3 }, dependsOn: [] },
        compose(['retrieve']),
        validate(),
      ];
    case 'product_search':
      return [
        { id: 'search-products', kind: 'tool', input: { tool: 'product.search', args: { query: '${steps.plan.output.question}' } }, dependsOn: [] },
        compose(['search-products']),
        validate(),
      ];
    case 'refund_request': {
      // The refund itself only with the order and the amount stated: the customer confirms it before
      // it runs (docs/adr/0012). Without an amount, the order is looked up and the answer asks for one.
      if (!intent.orderId) return [compose([]), validate()];
      const orderId = intent.orderId;
      const lookup: PlanStep = { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId } }, dependsOn: [] };
      if (intent.amount === undefined) return [lookup, compose(['lookup-order']), validate()];
      return [
        lookup,
        { id: 'request-refund', kind: 'tool', input: { tool: 'refund.request', args: { orderId, amount: intent.amount, reason: REFUND_REASON } }, dependsOn: [] },
        compose(['lookup-order', 'request-refund']),
        validate(),
      ];
    }
    case 'smalltalk':
    case 'unknown':
      return [compose([]), validate()];
  }
}
