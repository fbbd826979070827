import { SampleBusiness, startSampleBusiness } from './server';

// Wednesday 12 March 2025, mid-afternoon UTC.
const NOW = new Date('2025-03-12T15:00:00.000Z');

interface Res {
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

describe('sample business service', () => {
  let svc: SampleBusiness;

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
    const started = Date.now();
    const res = await fetch(`${svc.url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, ms: Date.now() - started };
  }
  const get = (path: string): Promise<Res> => call('GET', path);
  const refund = (body: unknown, key?: string): Promise<Res> => call('POST', '/refunds', body, key === undefined ? {} : { 'Idempotency-Key': key });

  beforeEach(async () => {
    svc = await startSampleBusiness({ port: 0, now: () => NOW });
  });
  afterEach(async () => {
    await svc.close();
  });

  it('listens on 127.0.0.1 and reports health', async () => {
    expect(svc.url).toBe(`http://127.0.0.1:${svc.port}`);
    expect(svc.port).toBeGreaterThan(0);
    expect(await get('/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  describe('orders', () => {
    it('returns order 1001 in transit with its items, total and destination', async () => {
      const { status, body } = await get('/orders/1001');
      expect(status).toBe(200);
      expect(body).toEqual({
        orderId: '1001',
        customerId: 'C-100',
        customer: { name: 'Jordan Rivera', email: 'jordan.rivera@example.com', phone: '+1 206-555-0142' },
        status: 'in_transit',
        placedAt: '2025-03-09T18:12:00.000Z',
        items: [
          { sku: 'SKU-TR-100', name: 'Trail Runner 2 Shoes', quantity: 1, unitPrice: 129.99 },
          { sku: 'SKU-MS-200', name: 'Merino Wool Hiking Socks', quantity: 2, unitPrice: 18.5 },
        ],
        total: 166.99,
        currency: 'USD',
        shippingMethod: 'ground',
        destination: { line1: '1420 Pine Street', city: 'Seattle', region: 'WA', postalCode: '98101', country: 'US' },
      });
    });

    it("carries each order's own customer's contact details and street address, never another's", async () => {
      const orders = await Promise.all(['1001', '1002', '1003', '1004', '1005'].map(async (id) => (await get(`/orders/${id}`)).body));
      const owners = orders.map((o) => [o['orderId'], o['customerId'], (o['customer'] as { email: string }).email, (o['destination'] as { line1: string }).line1]);
      expect(owners).toEqual([
        ['1001', 'C-100', 'jordan.rivera@example.com', '1420 Pine Street'],
        ['1002', 'C-200', 'sam.patel@example.com', '2231 N Clark Street'],
        ['1003', 'C-100', 'jordan.rivera@example.com', '1420 Pine Street'],
        ['1004', 'C-200', 'sam.patel@example.com', '2231 N Clark Street'],
        ['1005', 'C-100', 'jordan.rivera@example.com', '1420 Pine Street'],
      ]);
      // A shipment shows only where it is going, not to whom.
      const shipment = (await get('/orders/1002/shipment')).body;
      expect(JSON.stringify(shipment)).not.toMatch(/Sam|Patel|sam\.patel|Clark|555/);
    });

    it('seeds every documented status', async () => {
      const statuses = await Promise.all(['1001', '1002', '1003', '1004', '1005'].map(async (id) => (await get(`/orders/${id}`)).body['status']));
      expect(statuses).toEqual(['in_transit', 'delivered', 'processing', 'in_transit', 'cancelled']);
    });

    it('answers 404 with the order id for an unknown order', async () => {
      expect(await get('/orders/9999')).toMatchObject({ status: 404, body: { error: 'order_not_found', orderId: '9999' } });
    });
  });

  describe('shipments', () => {
    it('order 1001 shipped yesterday by UPS ground, last scanned yesterday in Indianapolis', async () => {
      const { status, body } = await get('/orders/1001/shipment');
      expect(status).toBe(200);
      expect(body).toMatchObject({
        orderId: '1001', carrier: 'UPS', service: 'ground', status: 'in_transit', trackingNumber: expect.stringMatching(/^1Z/),
        origin: { city: 'Columbus', region: 'OH', postalCode: '43219' },
        destination: { city: 'Seattle', region: 'WA', postalCode: '98101' },
        lastScan: { location: 'Indianapolis, IN', description: 'Departed from facility' },
      });
      expect(String(body['shippedAt']).slice(0, 10)).toBe('2025-03-11');
      const scan = body['lastScan'] as { at: string };
      expect(scan.at.slice(0, 10)).toBe('2025-03-11');
      expect(Date.parse(scan.at)).toBeGreaterThan(Date.parse(String(body['shippedAt'])));
      expect(Date.parse(scan.at)).toBeLessThan(NOW.getTime());
      expect(body).not.toHaveProperty('deliveredAt');
    });

    it('order 1002 was delivered three days ago', async () => {
      const { body } = await get('/orders/1002/shipment');
      expect(body).toMatchObject({ carrier: 'USPS', status: 'delivered', deliveredAt: '2025-03-09T15:42:00.000Z' });
    });

    it('order 1004 is in transit with FedEx express', async () => {
      expect((await get('/orders/1004/shipment')).body).toMatchObject({ carrier: 'FedEx', service: 'express', status: 'in_transit' });
    });

    it('answers 404 for an order that has not shipped and for an unknown order', async () => {
      expect(await get('/orders/1003/shipment')).toMatchObject({ status: 404, body: { error: 'shipment_not_found', orderId: '1003' } });
      expect(await get('/orders/nope/shipment')).toMatchObject({ status: 404, body: { error: 'shipment_not_found', orderId: 'nope' } });
    });

    it('dates the seed from now(): a different clock gives different dates', async () => {
      const later = await startSampleBusiness({ port: 0, now: () => new Date('2031-01-01T00:30:00Z') });
      try {
        const body = (await (await fetch(`${later.url}/orders/1001/shipment`)).json()) as { shippedAt: string; lastScan: { at: string } };
        expect(body.shippedAt).toBe('2030-12-31T16:05:00.000Z');
        // Even just after midnight the last scan is in the past.
        expect(Date.parse(body.lastScan.at)).toBeLessThan(Date.parse('2031-01-01T00:30:00Z'));
      } finally {
        await later.close();
      }
    });
  });

  describe('carrier ETAs', () => {
    it('looks up transit business days by carrier, service and distance zone', async () => {
      expect(await get('/carriers/UPS/eta?service=ground&origin=43219&destination=98101')).toMatchObject({
        status: 200, body: { carrier: 'UPS', service: 'ground', transitBusinessDays: 4 },
      });
      expect((await get('/carriers/fedex/eta?service=express&origin=43219&destination=60614')).body).toEqual({ carrier: 'FedEx', service: 'express', transitBusinessDays: 1 });
      expect((await get('/carriers/USPS/eta?service=ground&origin=43219&destination=43004')).body).toMatchObject({ transitBusinessDays: 2 });
      expect((await get('/carriers/UPS/eta?service=ground&origin=07114&destination=98101')).body).toMatchObject({ transitBusinessDays: 5 });
    });

    it('order 1001 cannot arrive by tomorrow on any weekday: shipped yesterday with at least 3 business days in transit', async () => {
      for (let day = 0; day < 7; day++) {
        const now = new Date(Date.UTC(2025, 2, 10 + day, 0, 5));
        const s = await startSampleBusiness({ port: 0, now: () => now });
        try {
          const ship = (await (await fetch(`${s.url}/orders/1001/shipment`)).json()) as { carrier: string; service: string; shippedAt: string; origin: { postalCode: string }; destination: { postalCode: string } };
          const eta = (await (await fetch(`${s.url}/carriers/${ship.carrier}/eta?service=${ship.service}&origin=${ship.origin.postalCode}&destination=${ship.destination.postalCode}`)).json()) as { transitBusinessDays: number };
          const yesterday = new Date(Date.UTC(2025, 2, 9 + day)).toISOString().slice(0, 10);
          expect(ship.shippedAt.slice(0, 10)).toBe(yesterday);
          // n business days after yesterday is at least n calendar days after it; 3 puts it past tomorrow.
          expect(eta.transitBusinessDays).toBeGreaterThanOrEqual(3);
        } finally {
          await s.close();
        }
      }
    });

    it('404s an unknown carrier and 400s missing or bad parameters with a reason', async () => {
      expect(await get('/carriers/DHL/eta?service=ground&origin=43219&destination=98101')).toMatchObject({ status: 404, body: { error: 'carrier_not_found', carrier: 'DHL' } });
      expect(await get('/carriers/UPS/eta?origin=43219&destination=98101')).toMatchObject({ status: 400, body: { error: 'invalid_request', reason: expect.stringContaining('service is required') } });
      expect(await get('/carriers/UPS/eta?service=teleport&origin=43219&destination=98101')).toMatchObject({ status: 400, body: { reason: expect.stringContaining('unknown service') } });
      expect(await get('/carriers/UPS/eta?service=ground&origin=43219')).toMatchObject({ status: 400, body: { reason: 'destination postal code is required' } });
      expect(await get('/carriers/UPS/eta?service=ground&origin=4321&destination=98101')).toMatchObject({ status: 400, body: { reason: 'origin must be a 5-digit postal code' } });
    });
  });

  describe('refunds', () => {
    it('creates a refund once per Idempotency-Key and replays it for a repeated key', async () => {
      const first = await refund({ orderId: '1002', amount: 20, reason: 'late delivery' }, 'key-1');
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ orderId: '1002', amount: 20, currency: 'USD', status: 'approved', replayed: false, createdAt: NOW.toISOString() });

      const again = await refund({ orderId: '1002', amount: 20, reason: 'late delivery' }, 'key-1');
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...first.body, replayed: true });

      expect((await get('/_stats')).body['refundsCreated']).toBe(1);
      expect(svc.stats()).toEqual({ refundsCreated: 1, requests: { 'POST /refunds': 2 } });

      const other = await refund({ orderId: '1002', amount: 20, reason: 'late delivery' }, 'key-2');
      expect(other.status).toBe(201);
      expect(other.body['refundId']).not.toBe(first.body['refundId']);
      expect(svc.stats().refundsCreated).toBe(2);
    });

    it('requires the Idempotency-Key header', async () => {
      expect(await refund({ orderId: '1002', amount: 1, reason: 'x' })).toMatchObject({ status: 400, body: { error: 'idempotency_key_required' } });
      expect(svc.stats().refundsCreated).toBe(0);
    });

    it('rejects an unknown order (404), an amount above the order total (422) and malformed bodies (400)', async () => {
      expect(await refund({ orderId: '9999', amount: 1, reason: 'x' }, 'k1')).toMatchObject({ status: 404, body: { error: 'order_not_found', orderId: '9999' } });
      expect(await refund({ orderId: '1001', amount: 167, reason: 'x' }, 'k2')).toMatchObject({ status: 422, body: { error: 'amount_exceeds_refundable', refundable: 166.99 } });
      expect(await refund({ orderId: '1001', amount: -5, reason: 'x' }, 'k3')).toMatchObject({ status: 400, body: { reason: 'amount must be a positive number' } });
      expect(await refund({ orderId: '1001', amount: 1.234, reason: 'x' }, 'k4')).toMatchObject({ status: 400, body: { reason: 'amount must have at most 2 decimal places' } });
      expect(await refund({ orderId: '1001', amount: 5 }, 'k5')).toMatchObject({ status: 400, body: { reason: 'reason must be a non-empty string' } });
      expect(svc.stats().refundsCreated).toBe(0);
    });

    it('allows the full total, then nothing more', async () => {
      expect((await refund({ orderId: '1001', amount: 166.99, reason: 'lost' }, 'a')).status).toBe(201);
      expect((await refund({ orderId: '1001', amount: 0.01, reason: 'lost' }, 'b')).status).toBe(422);
      expect(svc.stats().refundsCreated).toBe(1);
    });

    it('refuses to reuse a key for a different refund', async () => {
      await refund({ orderId: '1002', amount: 5, reason: 'x' }, 'same');
      expect(await refund({ orderId: '1002', amount: 6, reason: 'x' }, 'same')).toMatchObject({ status: 409, body: { error: 'idempotency_key_conflict' } });
      expect(svc.stats().refundsCreated).toBe(1);
    });
  });

  describe('products', () => {
    it('searches names, descriptions and categories with every word', async () => {
      const jackets = (await get('/products?q=jacket')).body['products'] as { sku: string }[];
      expect(jackets.map((p) => p.sku)).toEqual(['SKU-RS-300', 'SKU-DJ-700']);
      const rain = (await get('/products?q=RAIN%20jacket')).body['products'] as { sku: string; price: number }[];
      expect(rain).toEqual([expect.objectContaining({ sku: 'SKU-RS-300', price: 89, currency: 'USD' })]);
      expect((await get('/products?q=unicorn')).body).toEqual({ products: [] });
      expect(((await get('/products')).body['products'] as unknown[]).length).toBe(8);
    });
  });

  describe('fault knobs and stats', () => {
    it('fails the next `count` matching requests with the given status, counting each', async () => {
      expect((await call('POST', '/_faults', { route: 'GET /orders/:id', status: 503, count: 2 })).status).toBe(201);
      expect(await get('/orders/1001')).toMatchObject({ status: 503, body: { error: 'injected_fault' } });
      expect((await get('/orders/1001/shipment')).status).toBe(200);
      expect((await get('/orders/1001')).status).toBe(503);
      expect((await get('/orders/1001')).status).toBe(200);
      expect((await get('/_stats')).body).toEqual({ refundsCreated: 0, requests: { 'GET /orders/:id': 3, 'GET /orders/:id/shipment': 1 } });
    });

    it('a fault on the refund route has no side effect', async () => {
      await call('POST', '/_faults', { route: '/refunds', status: 500 });
      expect((await refund({ orderId: '1002', amount: 5, reason: 'x' }, 'k')).status).toBe(500);
      expect((await refund({ orderId: '1002', amount: 5, reason: 'x' }, 'k')).status).toBe(201);
      expect(svc.stats()).toEqual({ refundsCreated: 1, requests: { 'POST /refunds': 2 } });
    });

    it('delays matching requests', async () => {
      await call('POST', '/_faults', { delayMs: 250 });
      const slow = await get('/products?q=tent');
      expect(slow.status).toBe(200);
      expect(slow.ms).toBeGreaterThanOrEqual(200);
      expect((await get('/products?q=tent')).ms).toBeLessThan(200);
    });

    it('DELETE /_faults clears pending faults; unknown routes are rejected', async () => {
      await call('POST', '/_faults', { status: 500, count: 5 });
      expect(await call('DELETE', '/_faults')).toMatchObject({ status: 200, body: { cleared: 1 } });
      expect((await get('/orders/1001')).status).toBe(200);
      expect(await call('POST', '/_faults', { route: '/nope', status: 500 })).toMatchObject({ status: 400, body: { reason: expect.stringContaining('GET /orders/:id') } });
      expect((await call('POST', '/_faults', { route: '/refunds' })).status).toBe(400);
    });

    it('404s unknown routes and 400s a malformed JSON body', async () => {
      expect(await get('/nothing')).toMatchObject({ status: 404, body: { error: 'route_not_found' } });
      const res = await fetch(`${svc.url}/refunds`, { method: 'POST', headers: { 'Idempotency-Key': 'k', 'content-type': 'application/json' }, body: '{oops' });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ reason: 'body is not valid JSON' });
    });
  });

  it('close() stops listening', async () => {
    const url = svc.url;
    await svc.close();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    svc = await startSampleBusiness({ port: 0, now: () => NOW });
  });
});
