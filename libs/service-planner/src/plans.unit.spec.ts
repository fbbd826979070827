import { checkPlan } from '@flotilla/workflow';
import { planFor } from './plans';

describe('planFor', () => {
  it('plans order lookup and tracking in parallel, then the estimate, compose and validation', () => {
    const plan = planFor({ intent: 'order_status', orderId: '1001', deadline: '2026-11-22' }, '2026-11-21');
    expect(checkPlan(plan).ok).toBe(true);
    const byId = Object.fromEntries(plan.map((s) => [s.id, s]));
    expect(byId['lookup-order']!.dependsOn).toEqual([]);
    expect(byId['track-shipment']!.dependsOn).toEqual([]);
    expect(byId['estimate-delivery']!.dependsOn.sort()).toEqual(['lookup-order', 'track-shipment']);
    expect(byId['estimate-delivery']!.input).toEqual({ tool: 'delivery.estimate', args: { orderId: '1001', shipment: '${steps.track-shipment.output.shipment}', deadline: '2026-11-22', today: '2026-11-21' } });
  });

  it.each(['policy_question', 'product_search', 'refund_request', 'smalltalk', 'unknown'] as const)('gives a valid plan for %s', (intent) => {
    expect(checkPlan(planFor({ intent }, '2026-11-21')).ok).toBe(true);
  });

  it('asks for the order number instead of looking anything up when none was given', () => {
    expect(planFor({ intent: 'order_status' }, '2026-11-21').map((s) => s.kind)).toEqual(['compose', 'validate']);
  });
});
