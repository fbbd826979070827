import { ErrorCode, FlotillaError, waitFor } from '@flotilla/common';
import { CircuitBreakers, CircuitOpenError } from './breaker';
import { createDefaultTools, ToolNames } from './default-tools';
import { HttpConnector } from './http';
import { ToolDefinition, ToolRegistry } from './registry';
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

/** Resolves once the open circuit of `connector` lets its next call through as a probe. */
async function untilProbeDue(connector: HttpConnector): Promise<void> {
  await waitFor(() => connector.status().circuit.state === 'open' && connector.status().circuit.probeInMs === 0, 5_000, 'the circuit to be due a probe', 10);
}

const HALF_OPEN_AFTER_MS = 150;

describe('CircuitBreakers (cockatiel), one circuit per integration', () => {
  let stub: StubServer;
  let connector: HttpConnector;

  beforeEach(async () => {
    stub = new StubServer();
    await stub.start();
    connector = new HttpConnector({
      baseUrl: stub.url, integration: 'business',
      circuitBreaker: new CircuitBreakers({ halfOpenAfterMs: HALF_OPEN_AFTER_MS, strategy: { kind: 'consecutive', failures: 3 } }),
    });
  });
  afterEach(async () => {
    connector.close();
    await stub.stop();
  });

  it('opens after consecutive retryable failures, then fails fast without calling the service', async () => {
    stub.sequence({ status: 503, body: { error: 'unavailable' } });
    for (let i = 0; i < 3; i++) expect(await failure(connector.get('/orders/1001'))).toMatchObject({ code: ErrorCode.DependencyUnavailable });
    expect(stub.seen).toHaveLength(3);

    const started = Date.now();
    const refused = await failure(connector.get('/orders/1001'));
    expect(Date.now() - started).toBeLessThan(100);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true, integration: 'business' });
    expect(refused.message).toMatch(/^circuit open for business: calls are refused for \d+ ms more \(last failure: business GET \/orders\/1001 answered 503/);
    expect(stub.seen).toHaveLength(3);
    expect(connector.status()).toEqual({
      integration: 'business', baseUrl: `${stub.url}/`,
      circuit: { state: 'open', openedAt: expect.any(String), probeInMs: expect.any(Number), lastFailure: expect.stringContaining('answered 503'), refused: 1, opened: 1 },
    });
  });

  it('does not count answers that are the caller\'s fault: a 400 or 404 shows the dependency is up', async () => {
    stub.sequence({ status: 503 }, { status: 503 }, { status: 400, body: { error: 'invalid_request' } }, { status: 503 }, { status: 503 }, { status: 404, body: { error: 'order_not_found' } }, { status: 503 });
    for (let i = 0; i < 7; i++) await connector.get('/orders/1001').catch(() => undefined);
    expect(stub.seen).toHaveLength(7);
    expect(connector.status().circuit).toMatchObject({ state: 'closed', opened: 0 });
  });

  it('recovers: after halfOpenAfter one probe goes through, and its success closes the circuit', async () => {
    stub.sequence({ status: 503 });
    for (let i = 0; i < 3; i++) await connector.get('/orders/1001').catch(() => undefined);
    expect(await failure(connector.get('/orders/1001'))).toBeInstanceOf(CircuitOpenError);

    await untilProbeDue(connector);
    stub.sequence({ status: 200, body: { orderId: '1001' } });
    expect(await connector.get('/orders/1001')).toEqual({ status: 200, body: { orderId: '1001' } });
    expect(connector.status().circuit).toMatchObject({ state: 'closed', opened: 1 });
    expect(await connector.get('/orders/1001')).toMatchObject({ status: 200 });
    expect(stub.seen).toHaveLength(5);
  });

  it('a failed probe opens the circuit again for another halfOpenAfter', async () => {
    stub.sequence({ status: 503 });
    for (let i = 0; i < 3; i++) await connector.get('/orders/1001').catch(() => undefined);
    await untilProbeDue(connector);
    const probe = await failure(connector.get('/orders/1001'));
    expect(probe).not.toBeInstanceOf(CircuitOpenError);
    expect(probe.message).toContain('answered 503');
    expect(connector.status().circuit).toMatchObject({ state: 'open', opened: 2 });
    expect(await failure(connector.get('/orders/1001'))).toBeInstanceOf(CircuitOpenError);
    expect(stub.seen).toHaveLength(4);
  });

  it('refuses other calls while the probe is in flight instead of queueing them behind it', async () => {
    stub.sequence({ status: 503 });
    for (let i = 0; i < 3; i++) await connector.get('/orders/1001').catch(() => undefined);
    await untilProbeDue(connector);
    stub.sequence('hang');
    const probe = failure(connector.get('/orders/1001', { timeoutMs: 300 }));
    await waitFor(() => stub.seen.length === 4, 2_000, 'the probe to reach the service');
    expect(connector.status().circuit.state).toBe('half-open');

    const started = Date.now();
    const refused = await failure(connector.get('/orders/1002'));
    expect(Date.now() - started).toBeLessThan(100);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused.message).toBe('circuit open for business: a probe call is in flight');

    // The probe times out (retryable), so the circuit opens again.
    expect(await probe).toMatchObject({ code: ErrorCode.Timeout });
    expect(connector.status().circuit).toMatchObject({ state: 'open', opened: 2 });
    expect(stub.seen).toHaveLength(4);
  });

  it('can open on a failure rate over a time window instead (SamplingBreaker)', async () => {
    const sampled = new HttpConnector({
      baseUrl: stub.url, integration: 'sampled',
      circuitBreaker: new CircuitBreakers({ halfOpenAfterMs: HALF_OPEN_AFTER_MS, strategy: { kind: 'sampling', threshold: 0.5, durationMs: 10_000, minimumRps: 0.5 } }),
    });
    try {
      stub.sequence({ status: 200, body: {} }, { status: 503 }, { status: 200, body: {} }, { status: 503 }, { status: 503 });
      for (let i = 0; i < 5; i++) await sampled.get('/x').catch(() => undefined);
      expect(sampled.status().circuit.state).toBe('open');
      expect(await failure(sampled.get('/x'))).toBeInstanceOf(CircuitOpenError);
      expect(stub.seen).toHaveLength(5);
    } finally {
      sampled.close();
    }
  });

  it('refuses nonsensical settings at construction', () => {
    expect(() => new CircuitBreakers({ halfOpenAfterMs: -1 })).toThrow(/halfOpenAfterMs/);
    expect(() => new CircuitBreakers({ strategy: { kind: 'consecutive', failures: 0 } })).toThrow(/failures/);
    expect(() => new CircuitBreakers({ strategy: { kind: 'sampling', threshold: 1.5, durationMs: 1000 } })).toThrow(/threshold/);
  });
});

describe('the tool registry behind breakers', () => {
  let stub: StubServer;
  const key = { idempotencyKey: 'wf_1:step_1' };

  beforeEach(async () => {
    stub = new StubServer();
    await stub.start();
  });
  afterEach(async () => {
    await stub.stop();
  });

  it('default tools guard the business service: once it is down, every tool fails fast and status shows it', async () => {
    const tools = createDefaultTools(stub.url, { random: () => 0, breaker: { halfOpenAfterMs: 60_000, strategy: { kind: 'consecutive', failures: 2 } } });
    try {
      stub.sequence({ status: 503, body: { error: 'unavailable' } });
      // Attempts 1 and 2 fail and open the circuit; attempt 3 is refused, so the call ends at once.
      const first = await failure(tools.execute(ToolNames.OrderLookup, { orderId: '1001' }, key));
      expect(first).toBeInstanceOf(CircuitOpenError);
      expect(first.message).toMatch(/^circuit open for business/);
      expect(stub.seen).toHaveLength(2);

      const started = Date.now();
      const other = await failure(tools.execute(ToolNames.ShipmentTrack, { orderId: '1001' }, key));
      expect(Date.now() - started).toBeLessThan(100);
      expect(other).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
      expect(other.message).toMatch(/^circuit open for business/);
      expect(stub.seen).toHaveLength(2);

      expect(tools.status()).toEqual([{
        integration: 'business', baseUrl: `${stub.url}/`,
        circuit: expect.objectContaining({ state: 'open', opened: 1, refused: 2 }),
        tools: ['order.lookup', 'customer.orders', 'shipment.track', 'delivery.estimate', 'refund.request', 'product.search'],
      }]);
    } finally {
      tools.close();
    }
  });

  it('keeps exponential backoff with jitter for failures while the circuit is still closed', async () => {
    const tools = createDefaultTools(stub.url, { random: () => 0.5 });
    try {
      stub.sequence({ status: 503 }, { status: 503 }, { status: 200, body: { orderId: '1001' } });
      const started = Date.now();
      expect(await tools.execute(ToolNames.OrderLookup, { orderId: '1001' }, key)).toEqual({ found: true, order: { orderId: '1001' } });
      // Backoff 0.5 · 100 ms, then 0.5 · 200 ms.
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(tools.status()[0]!.circuit).toMatchObject({ state: 'closed' });
    } finally {
      tools.close();
    }
  });

  it('an integration that is down does not hold up tools that call another one', async () => {
    const healthy = new StubServer();
    await healthy.start();
    const breakers = new CircuitBreakers({ halfOpenAfterMs: 60_000, strategy: { kind: 'consecutive', failures: 2 } });
    const registry = new ToolRegistry({
      http: [new HttpConnector({ baseUrl: stub.url, integration: 'crm', circuitBreaker: breakers }), new HttpConnector({ baseUrl: healthy.url, integration: 'shop', circuitBreaker: breakers })],
      random: () => 0,
    });
    const tool = (name: string, integration: string): ToolDefinition => ({
      name, description: `reads from ${integration}`, argsSchema: { type: 'object', properties: {} }, timeoutMs: 2_000, sideEffect: false, integration,
      retry: { attempts: 1, baseDelayMs: 1 },
      execute: async (_args, { http, signal }) => ({ status: (await http.get('/ping', { signal })).status }),
    });
    registry.register(tool('crm.read', 'crm')).register(tool('shop.read', 'shop'));
    try {
      stub.sequence('hang');
      healthy.sequence({ status: 200, body: {} });
      // The CRM hangs until each call's own timeout; two timeouts open its circuit.
      for (let i = 0; i < 2; i++) expect(await failure(registry.execute('crm.read', {}, { ...key, timeoutMs: 100 }))).toMatchObject({ code: ErrorCode.Timeout });
      // The registry gives up at its deadline; the connector records the aborted request a moment later.
      await waitFor(() => registry.status()[0]!.circuit.state === 'open', 2_000, 'the CRM circuit to open');

      const started = Date.now();
      const [crm, shop] = await Promise.allSettled([registry.execute('crm.read', {}, key), registry.execute('shop.read', {}, key)]);
      expect(Date.now() - started).toBeLessThan(200);
      expect(crm).toMatchObject({ status: 'rejected', reason: expect.any(CircuitOpenError) });
      expect(shop).toEqual({ status: 'fulfilled', value: { status: 200 } });
      expect(stub.seen).toHaveLength(2);
      expect(registry.status().map((s) => [s.integration, s.circuit.state, s.tools])).toEqual([['crm', 'open', ['crm.read']], ['shop', 'closed', ['shop.read']]]);
    } finally {
      registry.close();
      await healthy.stop();
    }
  });

  it('refuses a tool bound to an integration it has no connector for', () => {
    const registry = new ToolRegistry({ http: new HttpConnector({ baseUrl: stub.url, integration: 'shop' }) });
    try {
      expect(() => registry.register({
        name: 'x.read', description: 'x', argsSchema: { type: 'object', properties: {} }, timeoutMs: 100, sideEffect: false, integration: 'crm',
        retry: { attempts: 1, baseDelayMs: 1 }, execute: () => Promise.resolve({}),
      })).toThrow('x.read: no connector for integration crm (known: shop)');
    } finally {
      registry.close();
    }
  });
});
