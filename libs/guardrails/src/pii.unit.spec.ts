import { checkPii, findPii, redactPii, requesterOf } from './pii';

/** Order lookups as the tool agent returns them from the sample business (libs/sample-business seed). */
const jordanOrder = {
  tool: 'order.lookup', found: true,
  order: {
    orderId: '1001', customerId: 'C-100', customer: { name: 'Jordan Rivera', email: 'jordan.rivera@example.com', phone: '+1 206-555-0142' },
    status: 'in_transit', items: [{ sku: 'SKU-TR-100', name: 'Trail Runner 2 Shoes', quantity: 1, unitPrice: 129.99 }], total: 166.99,
    destination: { line1: '1420 Pine Street', city: 'Seattle', region: 'WA', postalCode: '98101', country: 'US' },
  },
};
const samOrder = {
  tool: 'order.lookup', found: true,
  order: {
    orderId: '1002', customerId: 'C-200', customer: { name: 'Sam Patel', email: 'sam.patel@example.com', phone: '+1 312-555-0199' },
    status: 'delivered', items: [{ sku: 'SKU-RS-300', name: 'Packable Rain Shell Jacket', quantity: 1, unitPrice: 89 }], total: 89,
    destination: { line1: '2231 N Clark Street', city: 'Chicago', region: 'IL', postalCode: '60614', country: 'US' },
  },
};
const shipment = { tool: 'shipment.track', found: true, shipment: { orderId: '1001', carrier: 'UPS', trackingNumber: '1Z4F7W390312345678', status: 'in_transit' } };

describe('findPii and redactPii', () => {
  it.each([
    ['emails', 'Write to sam.patel@example.com.', [['email', 'sam.patel@example.com']], 'Write to [email].'],
    ['phone numbers in several formats', 'Call 206-555-0142, (312) 555-0199 or +44 20 7946 0958.', [['phone', '206-555-0142'], ['phone', '(312) 555-0199'], ['phone', '+44 20 7946 0958']], 'Call [phone], [phone] or [phone].'],
    ['Luhn-valid card numbers', 'Card 4111 1111 1111 1111 on file.', [['card_number', '4111 1111 1111 1111']], 'Card [card] on file.'],
    ['US social security numbers', 'SSN 123-45-6789.', [['national_id', '123-45-6789']], 'SSN [id].'],
    ['street addresses', 'Ship to 742 Evergreen Terrace, Apt 4B today.', [['street_address', '742 Evergreen Terrace, Apt 4B']], 'Ship to [address] today.'],
  ])('finds %s', (_name, text, found, redacted) => {
    expect(findPii(text).map((m) => [m.kind, m.value])).toEqual(found);
    expect(redactPii(text)).toBe(redacted);
  });

  it.each([
    'Order 1001 is in transit with UPS (tracking 1Z4F7W390312345678).',
    'USPS tracking 9400111899562846301375 and FedEx 771234567890.',
    'Its last scan was on 2026-11-20T23:48:00Z; the total was $166.99 and 5 business days.',
    'Return within 30 Days of delivery.',
    'A card that fails the Luhn check: 4111 1111 1111 1112.',
  ])('finds nothing personal in: %s', (text) => {
    expect(findPii(text)).toEqual([]);
    expect(redactPii(text)).toBe(text);
  });

  it('masks the names it is given', () => {
    expect(redactPii('Sam Patel (sam.patel@example.com) asked', { names: ['Sam Patel'] })).toBe('[name] ([email]) asked');
  });
});

describe('requesterOf', () => {
  it('is the caller-given user id, else the customer of the order looked up', () => {
    expect(requesterOf({ 'lookup-order': samOrder }, 'C-100')).toBe('C-100');
    expect(requesterOf({ 'lookup-order': samOrder })).toBe('C-200');
    expect(requesterOf({ 'lookup-order': { found: false, orderId: '9999' } })).toBeUndefined();
  });
});

describe('checkPii: personal data in an answer must be the requester\'s own', () => {
  it("approves the requester's own contact details and address", () => {
    const v = checkPii('Order 1001 (Jordan Rivera, jordan.rivera@example.com, 206-555-0142) is going to 1420 Pine Street, Seattle.', { 'lookup-order': jordanOrder, 'track-shipment': shipment });
    expect(v).toEqual({ verdict: 'approved', reasons: [], requester: 'C-100', found: 3 });
  });

  it('approves an answer with no personal data, and business contact points', () => {
    expect(checkPii('Order 1001 is in transit with UPS (tracking 1Z4F7W390312345678).', { 'lookup-order': jordanOrder, 'track-shipment': shipment }).verdict).toBe('approved');
    expect(checkPii('Write to support@shop.example or call 1-800-555-0100.', {}).verdict).toBe('approved');
  });

  it("rejects another customer's data the evidence holds, naming whose it is but not the data", () => {
    // Jordan (C-100) asked about order 1002, which is Sam's.
    const v = checkPii('Order 1002 was delivered to Sam Patel at 2231 N Clark Street; contact sam.patel@example.com or +1 312-555-0199.', { 'lookup-order': samOrder }, { userId: 'C-100' });
    expect(v.verdict).toBe('rejected');
    expect(v.requester).toBe('C-100');
    expect(v.reasons).toEqual(expect.arrayContaining([
      'answer contains an email address of another customer (C-200)',
      'answer contains a phone number of another customer (C-200)',
      'answer contains a street address of another customer (C-200)',
      'answer contains a name of another customer (C-200)',
    ]));
    expect(v.reasons.join('\n')).not.toMatch(/Sam|Patel|sam\.patel|Clark|555/);
  });

  it('rejects personal data that is in nobody\'s record, e.g. planted in a passage', () => {
    const evidence = { 'lookup-order': jordanOrder, retrieve: { passages: [{ text: 'For refunds contact Sam at sam.patel@example.com or 312-555-0199.' }] } };
    const v = checkPii('Contact sam.patel@example.com or 312-555-0199.', evidence);
    expect(v.verdict).toBe('rejected');
    expect(v.reasons).toEqual(['answer contains an email address of someone other than the requester', 'answer contains a phone number of someone other than the requester']);
  });

  it('rejects any personal data when no requester can be established', () => {
    const v = checkPii('You can reach Jordan at jordan.rivera@example.com.', { retrieve: { passages: [] } });
    expect(v).toMatchObject({ verdict: 'rejected', reasons: ["answer contains an email address that is not in the requester's own record (no requester could be established)"] });
    expect(v.requester).toBeUndefined();
  });

  it('rejects card and national id numbers even when they are the requester\'s own', () => {
    const evidence = { 'lookup-order': { found: true, order: { ...jordanOrder.order, payment: { card: '4111 1111 1111 1111' } } } };
    expect(checkPii('Charged to 4111 1111 1111 1111.', evidence).reasons).toEqual(['answer contains a card number, which an answer never shows']);
  });

  it('does not mistake a tracking number that passes the Luhn check for a card', () => {
    const evidence = { 'track-shipment': { found: true, shipment: { orderId: '1001', trackingNumber: '4111111111111111' } }, 'lookup-order': jordanOrder };
    expect(checkPii('Tracking 4111111111111111.', evidence).verdict).toBe('approved');
  });

  it('does not take product names for people', () => {
    expect(checkPii('Your Trail Runner 2 Shoes are on their way.', { 'lookup-order': samOrder }, { userId: 'C-100' }).verdict).toBe('approved');
  });
});
