import { checkGrounding } from './grounding';

const evidence = {
  'lookup-order': { found: true, order: { orderId: '1001', status: 'in_transit', total: 166.99 } },
  'track-shipment': { found: true, shipment: { carrier: 'UPS', trackingNumber: '1Z4F7W390312345678', lastScan: { location: 'Indianapolis, IN', at: '2026-11-20T23:48:00Z' } } },
  'estimate-delivery': { available: true, estimatedDelivery: '2026-11-26', deadline: '2026-11-22', meetsDeadline: false },
};
const question = 'Where is my order 1001 and can I get delivery by tomorrow?';

describe('checkGrounding', () => {
  it('approves an answer whose every fact is in the evidence', () => {
    const v = checkGrounding('Order 1001 is in transit with UPS (tracking 1Z4F7W390312345678). Its last scan was on 2026-11-20. The carrier estimates delivery on 2026-11-26, after your deadline of 2026-11-22.', evidence, question);
    expect(v).toEqual({ verdict: 'approved', reasons: [], claimsChecked: expect.any(Number) });
    expect(v.claimsChecked).toBeGreaterThanOrEqual(6);
  });

  it.each([
    ['an invented date', 'Order 1001 arrives on 2026-11-23.', /unsupported date: "2026-11-23"/],
    ['an invented status', 'Order 1001 has been delivered.', /unsupported status: "delivered"/],
    ['another order number', 'Order 2002 is in transit.', /unsupported number: "2002"/],
    ['an invented tracking number', 'Tracking 1Z999AA10123456784.', /unsupported identifier/],
    ['an invented amount', 'You will be refunded $50.00.', /unsupported amount/],
  ])('rejects %s, saying which claim', (_name, answer, reason) => {
    const v = checkGrounding(answer, evidence, question);
    expect(v.verdict).toBe('rejected');
    expect(v.reasons.join('\n')).toMatch(reason);
  });

  it('checks a refund against the tool result: its amount as a figure, and that one was made at all', () => {
    const refunded = { 'request-refund': { tool: 'refund.request', refunded: true, refundId: 'rf_0123abcd', orderId: '1001', amount: 5, status: 'approved' } };
    const q = 'Please refund $5 on order 1001';
    expect(checkGrounding('I refunded $5.00 on order 1001, refund id rf_0123abcd (approved).', refunded, q).verdict).toBe('approved');
    expect(checkGrounding('I refunded $50.00 on order 1001.', refunded, q).reasons.join()).toMatch(/unsupported amount: "\$50.00"/);
    // The question's "$5" is not a refund: claiming one without a tool result that made it is rejected.
    expect(checkGrounding('I refunded $5.00 on order 1001.', { 'lookup-order': evidence['lookup-order'] }, q).reasons.join()).toMatch(/no refund in the tool results/);
    const refused = { 'request-refund': { tool: 'refund.request', refunded: false, orderId: '1001', amount: 500, refundable: 166.99 } };
    expect(checkGrounding('I could not refund $500.00 on order 1001: at most $166.99 can still be refunded on that order. Nothing was refunded.', refused, q).verdict).toBe('approved');
    expect(checkGrounding('I refunded $500.00 on order 1001.', refused, q).reasons.join()).toMatch(/no refund in the tool results/);
  });

  it('requires cited sentences to come from the cited passages', () => {
    const kb = { retrieve: { passages: [{ text: 'You can return most items within 30 days of delivery for a full refund. Final-sale items cannot be returned.' }] } };
    expect(checkGrounding('You can return most items within 30 days of delivery for a full refund. [1]', kb, 'returns?').verdict).toBe('approved');
    const paraphrase = checkGrounding('Returns are accepted for 90 days. [1]', kb, 'returns?');
    expect(paraphrase.verdict).toBe('rejected');
    expect(checkGrounding('You can return most items within 30 days of delivery for a full refund. [2]', kb, 'returns?').reasons.join()).toMatch(/citation \[2\]/);
  });
});
