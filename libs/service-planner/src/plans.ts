import { PlanStepV1 } from '@flotilla/contracts';
import { IntentArguments } from '@flotilla/llm';

export const PLAN_VERSION = 'plan-v1';

const compose = (dependsOn: string[]): PlanStepV1 => ({ id: 'compose', kind: 'compose', input: {}, dependsOn });
const validate: PlanStepV1 = { id: 'validate', kind: 'validate', input: { answer: '${steps.compose.output.answer}' }, dependsOn: ['compose'] };

/**
 * The plan (a DAG of steps) for a detected intent. Independent steps have no edge between them, so
 * the coordinator runs them in parallel: an order's lookup and its shipment tracking start together,
 * and the delivery-estimate analysis waits for both.
 */
export function planFor(intent: IntentArguments, today: string): PlanStepV1[] {
  switch (intent.intent) {
    case 'order_status': {
      if (!intent.orderId) return [compose([]), validate];
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
        validate,
      ];
    }
    case 'policy_question':
      return [
        { id: 'retrieve', kind: 'retrieve', input: { query: '${steps.plan.output.question}', topK: 3 }, dependsOn: [] },
        compose(['retrieve']),
        validate,
      ];
    case 'product_search':
      return [
        { id: 'search-products', kind: 'tool', input: { tool: 'product.search', args: { query: '${steps.plan.output.question}' } }, dependsOn: [] },
        compose(['search-products']),
        validate,
      ];
    case 'refund_request':
    case 'smalltalk':
    case 'unknown':
      return [compose([]), validate];
  }
}
