import { ErrorCode, FlotillaError } from '@flotilla/common';
import { CircuitBreaker } from './breaker';
import { createDefaultTools, ToolNames } from './default-tools';
import { HttpConnector } from './http';
import { ToolRegistry } from './registry';
import { StubServer } from './testing/stub-server';

async function failure(promise: Promise<unknown>): Promise<FlotillaError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof FlotillaError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

const SHIPMENT = {
  orderId: '1001', carrier: 'UPS', service: 'ground', trackingNumber: '1Z4F7W390312345678', status: 'in_transit',
  shippedAt: '2025-03-11T16:05:00.000Z', lastScan: { location: 'Indianapolis, IN', at: '2025-03-11T23:48:00.000Z', description: 'Departed from facility' },
  origin: { city: 'Columbus', region: 'OH', postalCode: '43219' }, destination: { city: 'Seattle', region: 'WA', postalCode: '98101' },
};

describe('default tools over HTTP', () => {
  let stub: StubServer;
  let tools: ToolRegistry;
  const key = { idempotencyKey: 'wf_1:step_1' };

  beforeEach(async () => {
    stub = new StubServer();
    await stub.start();
    tools = createDefaultTools(stub.url, { random: () => 0.5 });
  });
  afterEach(async () => {
    tools.close();
    await stub.stop();
  });

  it('publishes each tool with its schema and whether it has side effects', () => {
    const listed = tools.list();
    expect(listed.map((t) => [t.name, t.sideEffect])).toEqual([
      ['order.lookup', false], ['customer.orders', false], ['shipment.track', false], ['delivery.estimate', false], ['refund.request', true], ['product.search', false],
    ]);
    expect(listed[0].argsSchema).toMatchObject({ type: 'object', required: ['orderId'], properties: { orderId: { type: 'string', pattern: '^[A-Za-z0-9-]{1,32}$' } } });
    expect(listed.every((t) => t.description.length > 20)).toBe(true);
  });

  it('rejects an unknown tool without retrying', async () => {
    const err = await failure(tools.execute('order.delete', {}, key));
    expect(err).toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false });
    expect(err.message).toContain('unknown tool "order.delete"');
  });

  describe('argument validation happens before any request', () => {
    it.each([
      [{ orderId: 1001 }, 'order.lookup: orderId must be a string', [{ field: 'orderId', reasons: ['must be a string'] }]],
      [{}, 'order.lookup: orderId is required', [{ field: 'orderId', reasons: ['is required'] }]],
      [{ orderId: '10 01' }, 'order.lookup: orderId must match ^[A-Za-z0-9-]{1,32}$', [{ field: 'orderId', reasons: ['must match ^[A-Za-z0-9-]{1,32}$'] }]],
      [{ orderId: '1001', customer: 'x' }, 'order.lookup: customer is not allowed', [{ field: 'customer', reasons: ['is not allowed'] }]],
    ])('%j → %s', async (args, message, fields) => {
      const err = await failure(tools.execute(ToolNames.OrderLookup, args, key));
      expect(err).toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false, message, fields });
      expect(stub.seen).toHaveLength(0);
    });

    it('checks refund amounts and dates too', async () => {
      const refund = await failure(tools.execute(ToolNames.RefundRequest, { orderId: '1001', amount: 0, reason: '' }, key));
      expect(refund.fields).toEqual([{ field: 'amount', reasons: ['must be > 0'] }, { field: 'reason', reasons: ['must be at least 1 characters'] }]);
      const estimate = await failure(tools.execute(ToolNames.DeliveryEstimate, { orderId: '1001', shipment: null, today: '2025-02-30', deadline: 'tomorrow' }, key));
      expect(estimate.fields.map((f) => f.field).sort()).toEqual(['deadline', 'today']);
      expect(stub.seen).toHaveLength(0);
    });
  });

  describe('order.lookup and shipment.track', () => {
    it('returns the order when found and a fact when not', async () => {
      const order = { orderId: '1001', status: 'in_transit', total: 166.99 };
      stub.answer = (req) => (req.path === '/orders/1001' ? { status: 200, body: order } : { status: 404, body: { error: 'order_not_found' } });
      expect(await tools.execute(ToolNames.OrderLookup, { orderId: '1001' }, key)).toEqual({ found: true, order });
      expect(await tools.execute(ToolNames.OrderLookup, { orderId: '9999' }, key)).toEqual({ found: false, orderId: '9999' });
      expect(stub.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /orders/1001', 'GET /orders/9999']);
    });

    it('tracks a shipment, or says there is none', async () => {
      stub.answer = (req) => (req.path === '/orders/1001/shipment' ? { status: 200, body: SHIPMENT } : { status: 404, body: { error: 'shipment_not_found' } });
      expect(await tools.execute(ToolNames.ShipmentTrack, { orderId: '1001' }, key)).toEqual({ found: true, shipment: SHIPMENT });
      expect(await tools.execute(ToolNames.ShipmentTrack, { orderId: '1003' }, key)).toEqual({ found: false, orderId: '1003' });
    });

    it('reuses one pooled keep-alive connection for sequential calls', async () => {
      stub.answer = () => ({ status: 200, body: { orderId: '1001' } });
      for (let i = 0; i < 5; i++) await tools.execute(ToolNames.OrderLookup, { orderId: '1001' }, key);
      expect(stub.seen).toHaveLength(5);
      expect(stub.connections).toBe(1);
    });
  });

  describe('failures and retries', () => {
    it('retries a 503 and succeeds, counting every request', async () => {
      stub.sequence({ status: 503, body: { error: 'unavailable' } }, { status: 503 }, { status: 200, body: { orderId: '1001' } });
      expect(await tools.execute(ToolNames.OrderLookup, { orderId: '1001' }, key)).toEqual({ found: true, order: { orderId: '1001' } });
      expect(stub.seen).toHaveLength(3);
    });

    it('retries a 429 as RateLimited', async () => {
      stub.sequence({ status: 429, body: { error: 'slow down' } }, { status: 200, body: { products: [] } });
      expect(await tools.execute(ToolNames.ProductSearch, { query: 'tent' }, key)).toEqual({ products: [] });
      expect(stub.seen).toHaveLength(2);
    });

    it('gives up after the policy attempts with a retryable DependencyUnavailable', async () => {
      stub.sequence({ status: 503, body: { error: 'unavailable', reason: 'maintenance' } });
      const err = await failure(tools.execute(ToolNames.OrderLookup, { orderId: '1001' }, key));
      expect(err).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
      expect(err.message).toContain('answered 503 (unavailable: maintenance)');
      expect(stub.seen).toHaveLength(3);
    });

    it('does not retry a 400: a non-retryable ToolFailed after one request', async () => {
      stub.sequence({ status: 400, body: { error: 'invalid_request', reason: 'origin must be a 5-digit postal code' } });
      const err = await failure(tools.execute(ToolNames.DeliveryEstimate, { orderId: '1001', shipment: SHIPMENT, today: '2025-03-12' }, key));
      expect(err).toMatchObject({ code: ErrorCode.ToolFailed, retryable: false });
      expect(err.message).toContain('origin must be a 5-digit postal code');
      expect(stub.seen).toHaveLength(1);
    });

    it('times out a dependency that does not answer, within the budget', async () => {
      stub.sequence('hang');
      const started = Date.now();
      const err = await failure(tools.execute(ToolNames.OrderLookup, { orderId: '1001' }, { ...key, timeoutMs: 200 }));
      expect(err).toMatchObject({ code: ErrorCode.Timeout, retryable: true, message: 'order.lookup timed out after 200 ms' });
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(stub.seen).toHaveLength(1);
    });

    it('maps a refused connection to a retryable DependencyUnavailable', async () => {
      const port = Number(new URL(stub.url).port);
      await stub.stop();
      const closed = createDefaultTools(`http://127.0.0.1:${port}`, { random: () => 0 });
      try {
        const err = await failure(closed.execute(ToolNames.OrderLookup, { orderId: '1001' }, key));
        expect(err).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
        expect(err.message).toContain('ECONNREFUSED');
      } finally {
        closed.close();
        await stub.start();
      }
    });

    it('runs every request through the circuit-breaker seam, which can refuse calls', async () => {
      const events: string[] = [];
      let open = false;
      const breaker: CircuitBreaker = {
        execute: async (name, request) => {
          if (open) throw new FlotillaError(ErrorCode.DependencyUnavailable, `${name}: circuit open`, { retryable: true });
          try {
            const result = await request();
            events.push(`ok:${name}`);
            return result;
          } catch (err) {
            events.push(`fail:${name}:${(err as FlotillaError).code}`);
            throw err;
          }
        },
        status: () => ({ state: open ? 'open' : 'closed', refused: 0, opened: 0 }),
      };
      const guarded = createDefaultTools(stub.url, { random: () => 0, circuitBreaker: breaker });
      try {
        stub.sequence({ status: 503 }, { status: 200, body: { orderId: '1001' } });
        await guarded.execute(ToolNames.OrderLookup, { orderId: '1001' }, key);
        expect(events).toEqual(['fail:business:DEPENDENCY_UNAVAILABLE', 'ok:business']);
        open = true;
        expect(await failure(guarded.execute(ToolNames.OrderLookup, { orderId: '1001' }, key))).toMatchObject({ message: 'business: circuit open' });
        expect(stub.seen).toHaveLength(2);
      } finally {
        guarded.close();
      }
    });
  });

  describe('refund.request', () => {
    it('sends the idempotency key on every attempt and reports a replay', async () => {
      const refund = { refundId: 'rf_1', orderId: '1002', amount: 20, currency: 'USD', reason: 'late', status: 'approved', createdAt: '2025-03-12T15:00:00.000Z' };
      stub.sequence({ status: 502 }, { status: 201, body: { ...refund, replayed: false } }, { status: 200, body: { ...refund, replayed: true } });
      const args = { orderId: '1002', amount: 20, reason: 'late' };
      const first = await tools.execute(ToolNames.RefundRequest, args, { idempotencyKey: 'refund-key-1' });
      expect(first).toEqual({ refunded: true, refundId: 'rf_1', orderId: '1002', amount: 20, status: 'approved', replayed: false });
      expect(await tools.execute(ToolNames.RefundRequest, args, { idempotencyKey: 'refund-key-1' })).toEqual({ ...first, replayed: true });
      expect(stub.seen.map((s) => [s.method, s.path, s.headers['idempotency-key']])).toEqual([
        ['POST', '/refunds', 'refund-key-1'], ['POST', '/refunds', 'refund-key-1'], ['POST', '/refunds', 'refund-key-1'],
      ]);
      expect(stub.seen[0].body).toEqual(args);
    });

    it('refuses to run without an idempotency key', async () => {
      const err = await failure(tools.execute(ToolNames.RefundRequest, { orderId: '1002', amount: 1, reason: 'x' }, { idempotencyKey: '' }));
      expect(err).toMatchObject({ code: ErrorCode.ValidationFailed, retryable: false, fields: [{ field: 'idempotencyKey', reasons: ['is required for a side-effecting tool'] }] });
      expect(stub.seen).toHaveLength(0);
    });

    it('turns an unknown order into NotFound and an excessive amount into a refusal the answer can explain', async () => {
      stub.sequence(
        { status: 404, body: { error: 'order_not_found', orderId: '9999' } },
        { status: 422, body: { error: 'amount_exceeds_refundable', orderId: '1001', amount: 500, refundable: 166.99, reason: 'amount exceeds the refundable 166.99 USD' } },
        { status: 422, body: { error: 'something_else' } },
      );
      expect(await failure(tools.execute(ToolNames.RefundRequest, { orderId: '9999', amount: 1, reason: 'x' }, key))).toMatchObject({ code: ErrorCode.NotFound, retryable: false });
      expect(await tools.execute(ToolNames.RefundRequest, { orderId: '1001', amount: 500, reason: 'x' }, key)).toEqual({
        refunded: false, orderId: '1001', amount: 500, refusal: 'amount_exceeds_refundable', refundable: 166.99, message: 'amount exceeds the refundable 166.99 USD',
      });
      // Any other 422 is still a failure nobody can retry.
      expect(await failure(tools.execute(ToolNames.RefundRequest, { orderId: '1001', amount: 5, reason: 'x' }, key))).toMatchObject({ code: ErrorCode.ToolFailed, retryable: false });
      expect(stub.seen).toHaveLength(3);
    });
  });

  describe('delivery.estimate', () => {
    beforeEach(() => {
      stub.answer = (req) => (req.path === '/carriers/UPS/eta' ? { status: 200, body: { carrier: 'UPS', service: 'ground', transitBusinessDays: 4 } } : { status: 404, body: { error: 'carrier_not_found' } });
    });

    it('says not shipped yet for a null shipment, without calling anything', async () => {
      expect(await tools.execute(ToolNames.DeliveryEstimate, { orderId: '1003', shipment: null, today: '2025-03-12' }, key)).toEqual({ available: false, reason: 'not shipped yet' });
      expect(stub.seen).toHaveLength(0);
    });

    it('asks the carrier ETA and adds business days to the ship date: shipped Tue + 4 = Mon, not by tomorrow', async () => {
      const out = await tools.execute(ToolNames.DeliveryEstimate, { orderId: '1001', shipment: SHIPMENT, deadline: '2025-03-13', today: '2025-03-12' }, key);
      expect(out).toEqual({ available: true, carrier: 'UPS', service: 'ground', transitBusinessDays: 4, estimatedDelivery: '2025-03-17', deadline: '2025-03-13', meetsDeadline: false });
      expect(stub.seen).toHaveLength(1);
      expect(stub.seen[0].path).toBe('/carriers/UPS/eta');
      expect(Object.fromEntries(stub.seen[0].query)).toEqual({ service: 'ground', origin: '43219', destination: '98101' });
    });

    it('meets a later deadline, and omits the deadline keys without one', async () => {
      expect(await tools.execute(ToolNames.DeliveryEstimate, { orderId: '1001', shipment: SHIPMENT, deadline: '2025-03-17', today: '2025-03-12' }, key)).toMatchObject({ meetsDeadline: true });
      expect(await tools.execute(ToolNames.DeliveryEstimate, { orderId: '1001', shipment: SHIPMENT, deadline: null, today: '2025-03-12' }, key)).toEqual({
        available: true, carrier: 'UPS', service: 'ground', transitBusinessDays: 4, estimatedDelivery: '2025-03-17',
      });
    });

    it('never estimates a past date for a parcel still in transit', async () => {
      const out = await tools.execute(ToolNames.DeliveryEstimate, { orderId: '1001', shipment: SHIPMENT, today: '2025-03-21' }, key);
      expect(out['estimatedDelivery']).toBe('2025-03-24');
    });

    it('uses the delivery date of a delivered shipment without calling the carrier', async () => {
      const delivered = { ...SHIPMENT, status: 'delivered', deliveredAt: '2025-03-09T15:42:00.000Z' };
      expect(await tools.execute(ToolNames.DeliveryEstimate, { orderId: '1001', shipment: delivered, deadline: '2025-03-10', today: '2025-03-12' }, key)).toEqual({
        available: true, carrier: 'UPS', service: 'ground', transitBusinessDays: 0, estimatedDelivery: '2025-03-09', deadline: '2025-03-10', meetsDeadline: true,
      });
      expect(stub.seen).toHaveLength(0);
    });

    it('reports an unknown carrier as unavailable, and refuses a shipment of another order', async () => {
      expect(await tools.execute(ToolNames.DeliveryEstimate, { orderId: '1001', shipment: { ...SHIPMENT, carrier: 'DHL' }, today: '2025-03-12' }, key)).toEqual({
        available: false, reason: 'no transit times for carrier DHL',
      });
      expect(await failure(tools.execute(ToolNames.DeliveryEstimate, { orderId: '1004', shipment: SHIPMENT, today: '2025-03-12' }, key))).toMatchObject({
        code: ErrorCode.ValidationFailed, fields: [{ field: 'shipment.orderId', reasons: ['must be 1004'] }],
      });
    });
  });

  it('product.search passes the query and returns the products', async () => {
    stub.answer = () => ({ status: 200, body: { products: [{ sku: 'SKU-TP-800' }] } });
    expect(await tools.execute(ToolNames.ProductSearch, { query: 'two person tent' }, key)).toEqual({ products: [{ sku: 'SKU-TP-800' }] });
    expect(stub.seen[0].query.get('q')).toBe('two person tent');
  });
});

describe('ToolRegistry retry policy and budget', () => {
  const http = new HttpConnector({ baseUrl: 'http://127.0.0.1:9' });
  afterAll(() => http.close());
  const args = { type: 'object' as const, properties: {} };

  function registry(): ToolRegistry {
    return new ToolRegistry({ http, random: () => 1 - Number.EPSILON });
  }

  it('stops retrying when the next backoff would overrun the budget', async () => {
    let calls = 0;
    const reg = registry().register({
      name: 'flaky', description: 'always unavailable', argsSchema: args, timeoutMs: 250, sideEffect: false,
      retry: { attempts: 10, baseDelayMs: 100, maxDelayMs: 10_000 },
      execute: () => {
        calls += 1;
        return Promise.reject(new FlotillaError(ErrorCode.DependencyUnavailable, 'down'));
      },
    });
    const started = Date.now();
    const err = await failure(reg.execute('flaky', {}, { idempotencyKey: 'k' }));
    // Backoff ~100 ms, then ~200 ms would end past the 250 ms budget: give up with the real error.
    expect(err).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
    expect(calls).toBe(2);
    expect(Date.now() - started).toBeLessThan(250);
  });

  it('enforces the deadline on a tool that ignores its signal', async () => {
    const reg = registry().register({
      name: 'stuck', description: 'never answers', argsSchema: args, timeoutMs: 100, sideEffect: false, retry: { attempts: 1, baseDelayMs: 0 },
      execute: () => new Promise(() => undefined),
    });
    expect(await failure(reg.execute('stuck', {}, { idempotencyKey: 'k' }))).toMatchObject({ code: ErrorCode.Timeout, message: 'stuck timed out after 100 ms' });
  });

  it('treats a thrown non-Flotilla error as a non-retryable bug', async () => {
    let calls = 0;
    const reg = registry().register({
      name: 'buggy', description: 'throws', argsSchema: args, timeoutMs: 1_000, sideEffect: false, retry: { attempts: 3, baseDelayMs: 1 },
      execute: () => {
        calls += 1;
        return Promise.reject(new TypeError('cannot read x of undefined'));
      },
    });
    expect(await failure(reg.execute('buggy', {}, { idempotencyKey: 'k' }))).toMatchObject({ code: ErrorCode.ToolFailed, retryable: false, message: 'buggy: cannot read x of undefined' });
    expect(calls).toBe(1);
  });

  it('passes the same idempotency key to every attempt, and refuses a duplicate name', async () => {
    const keys: string[] = [];
    const def = {
      name: 'side', description: 'side effect', argsSchema: args, timeoutMs: 1_000, sideEffect: true, retry: { attempts: 3, baseDelayMs: 1 },
      execute: (_a: Record<string, unknown>, ctx: { idempotencyKey: string }) => {
        keys.push(ctx.idempotencyKey);
        return keys.length < 3 ? Promise.reject(new FlotillaError(ErrorCode.Timeout, 'slow')) : Promise.resolve({ ok: true });
      },
    };
    const reg = registry().register(def);
    expect(await reg.execute('side', {}, { idempotencyKey: 'wf_9:refund' })).toEqual({ ok: true });
    expect(keys).toEqual(['wf_9:refund', 'wf_9:refund', 'wf_9:refund']);
    expect(() => reg.register(def)).toThrow('already registered');
  });
});
