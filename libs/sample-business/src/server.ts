import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { deriveId } from '@flotilla/common';
import { findCarrier, isService, POSTAL_CODE, SERVICES, transitBusinessDays } from './eta';
import { createSeed, Order, toCents } from './seed';

export interface SampleBusinessOptions {
  /** 0 picks a free port. */
  port: number;
  /** Interface to bind; tests use the default 127.0.0.1. */
  host?: string;
  /** The clock the seed data and refunds are dated by. */
  now?: () => Date;
}

export interface SampleBusinessStats {
  /** Refunds actually created (replays of an idempotency key are not counted). */
  refundsCreated: number;
  /** Requests per route, keyed `METHOD /template` (e.g. `GET /orders/:id`), including injected failures. */
  requests: Record<string, number>;
}

export interface SampleBusiness {
  url: string;
  port: number;
  close(): Promise<void>;
  stats(): SampleBusinessStats;
}

export interface Refund {
  refundId: string;
  orderId: string;
  amount: number;
  currency: 'USD';
  reason: string;
  status: 'approved';
  createdAt: string;
}

interface Fault {
  route?: string;
  status?: number;
  delayMs?: number;
  remaining: number;
}

interface Reply {
  status: number;
  body: unknown;
}

interface RequestContext {
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  template: string;
  /** Test-control routes are neither counted nor subject to faults. */
  control?: boolean;
  handle(ctx: RequestContext): Reply | Promise<Reply>;
}

const MAX_BODY_BYTES = 64 * 1024;

class BadRequest extends Error {}

function reply(status: number, body: unknown): Reply {
  return { status, body };
}

function invalid(reason: string): Reply {
  return reply(400, { error: 'invalid_request', reason });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function compile(template: string): RegExp {
  const source = template.split('/').map((seg) => (seg.startsWith(':') ? `(?<${seg.slice(1)}>[^/]+)` : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
  return new RegExp(`^${source}$`);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest(`body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new BadRequest('body is not valid JSON');
  }
}

/**
 * Starts the sample business service: a small JSON API standing in for a shop's order, shipping,
 * refund and catalogue systems, with seeded data dated relative to `now()` and fault knobs for tests.
 */
export async function startSampleBusiness(options: SampleBusinessOptions): Promise<SampleBusiness> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? ((): Date => new Date());
  const seed = createSeed(now());
  const orders = new Map(seed.orders.map((o) => [o.orderId, o]));
  const shipments = new Map(seed.shipments.map((s) => [s.orderId, s]));
  const refundsByKey = new Map<string, { fingerprint: string; refund: Refund }>();
  const refundedCents = new Map<string, number>();
  const counts: Record<string, number> = {};
  let refundsCreated = 0;
  /** Per Idempotency-Key: refund requests received and refunds created (test control: GET /_refunds). */
  const refundKeys = new Map<string, { requests: number; created: number }>();
  let faults: Fault[] = [];
  const pendingDelays = new Set<NodeJS.Timeout>();

  const stats = (): SampleBusinessStats => ({ refundsCreated, requests: { ...counts } });

  const routes: Route[] = [
    { method: 'GET', template: '/healthz', handle: () => reply(200, { status: 'ok' }) },
    {
      method: 'GET', template: '/orders/:id',
      handle: ({ params }) => {
        const order = orders.get(params['id']);
        return order ? reply(200, order) : reply(404, { error: 'order_not_found', orderId: params['id'] });
      },
    },
    {
      // A customer's orders as summaries (no personal data), newest first.
      method: 'GET', template: '/customers/:id/orders',
      handle: ({ params }) => {
        const mine = [...orders.values()].filter((o) => o.customerId === params['id'])
          .sort((a, b) => b.placedAt.localeCompare(a.placedAt))
          .map((o) => ({ orderId: o.orderId, status: o.status, placedAt: o.placedAt, total: o.total, currency: o.currency }));
        return mine.length ? reply(200, { customerId: params['id'], orders: mine }) : reply(404, { error: 'customer_not_found', customerId: params['id'] });
      },
    },
    {
      method: 'GET', template: '/orders/:id/shipment',
      handle: ({ params }) => {
        const shipment = shipments.get(params['id']);
        return shipment ? reply(200, shipment) : reply(404, { error: 'shipment_not_found', orderId: params['id'] });
      },
    },
    {
      method: 'GET', template: '/carriers/:carrier/eta',
      handle: ({ params, query }) => {
        const carrier = findCarrier(params['carrier']);
        if (!carrier) return reply(404, { error: 'carrier_not_found', carrier: params['carrier'] });
        const service = query.get('service');
        const origin = query.get('origin');
        const destination = query.get('destination');
        if (!service) return invalid(`service is required (one of ${SERVICES.join(', ')})`);
        if (!isService(service)) return invalid(`unknown service "${service}" (expected one of ${SERVICES.join(', ')})`);
        if (!origin) return invalid('origin postal code is required');
        if (!destination) return invalid('destination postal code is required');
        if (!POSTAL_CODE.test(origin)) return invalid('origin must be a 5-digit postal code');
        if (!POSTAL_CODE.test(destination)) return invalid('destination must be a 5-digit postal code');
        return reply(200, { carrier, service, transitBusinessDays: transitBusinessDays(carrier, service, origin, destination) });
      },
    },
    {
      method: 'POST', template: '/refunds',
      handle: ({ headers, body }) => {
        const key = headers['idempotency-key'];
        if (typeof key !== 'string' || key.trim() === '') return reply(400, { error: 'idempotency_key_required', reason: 'the Idempotency-Key header is required' });
        const perKey = refundKeys.get(key) ?? { requests: 0, created: 0 };
        perKey.requests += 1;
        refundKeys.set(key, perKey);
        if (!isRecord(body)) return invalid('body must be a JSON object { orderId, amount, reason }');
        const { orderId, amount, reason } = body;
        if (typeof orderId !== 'string' || orderId === '') return invalid('orderId must be a non-empty string');
        if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0) return invalid('amount must be a positive number');
        if (Math.abs(amount * 100 - toCents(amount)) > 1e-6) return invalid('amount must have at most 2 decimal places');
        if (typeof reason !== 'string' || reason.trim() === '') return invalid('reason must be a non-empty string');

        const fingerprint = JSON.stringify([orderId, toCents(amount), reason]);
        const previous = refundsByKey.get(key);
        if (previous) {
          if (previous.fingerprint !== fingerprint) return reply(409, { error: 'idempotency_key_conflict', reason: 'this Idempotency-Key was used for a different refund' });
          return reply(200, { ...previous.refund, replayed: true });
        }

        const order: Order | undefined = orders.get(orderId);
        if (!order) return reply(404, { error: 'order_not_found', orderId });
        const refundable = toCents(order.total) - (refundedCents.get(orderId) ?? 0);
        if (toCents(amount) > refundable) {
          return reply(422, { error: 'amount_exceeds_refundable', orderId, amount, refundable: refundable / 100, reason: `amount exceeds the refundable ${(refundable / 100).toFixed(2)} USD` });
        }
        const refund: Refund = {
          refundId: deriveId('rf', key), orderId, amount: toCents(amount) / 100, currency: 'USD', reason, status: 'approved', createdAt: now().toISOString(),
        };
        refundsByKey.set(key, { fingerprint, refund });
        refundedCents.set(orderId, (refundedCents.get(orderId) ?? 0) + toCents(amount));
        refundsCreated += 1;
        perKey.created += 1;
        return reply(201, { ...refund, replayed: false });
      },
    },
    {
      method: 'GET', template: '/products',
      handle: ({ query }) => {
        const words = (query.get('q') ?? '').toLowerCase().split(/\s+/).filter(Boolean);
        const products = seed.products.filter((p) => {
          const text = `${p.sku} ${p.name} ${p.description} ${p.category}`.toLowerCase();
          return words.every((w) => text.includes(w));
        });
        return reply(200, { products });
      },
    },
    { method: 'GET', template: '/_stats', control: true, handle: () => reply(200, stats()) },
    {
      // Refunds per Idempotency-Key (requests received, refunds created): the fault suites check created <= 1 per key.
      method: 'GET', template: '/_refunds', control: true,
      handle: () => reply(200, { refundsCreated, keys: Object.fromEntries(refundKeys) }),
    },
    {
      method: 'POST', template: '/_faults', control: true,
      handle: ({ body }) => {
        if (!isRecord(body)) return invalid('body must be a JSON object { route?, status?, delayMs?, count? }');
        const { route, status, delayMs, count = 1 } = body;
        if (route !== undefined && (typeof route !== 'string' || !knownRoute(route))) {
          return invalid(`route must be one of: ${businessRoutes().join(', ')} (the method may be omitted)`);
        }
        if (status !== undefined && (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 599)) return invalid('status must be an HTTP status code');
        if (delayMs !== undefined && (!Number.isInteger(delayMs) || (delayMs as number) < 0 || (delayMs as number) > 60_000)) return invalid('delayMs must be an integer from 0 to 60000');
        if (!Number.isInteger(count) || (count as number) < 1) return invalid('count must be a positive integer');
        if (status === undefined && delayMs === undefined) return invalid('give a status, a delayMs, or both');
        const fault: Fault = { route: route as string | undefined, status: status as number | undefined, delayMs: delayMs as number | undefined, remaining: count as number };
        faults.push(fault);
        return reply(201, { faults: faults.map(({ remaining, ...f }) => ({ ...f, count: remaining })) });
      },
    },
    {
      method: 'DELETE', template: '/_faults', control: true,
      handle: () => {
        const cleared = faults.length;
        faults = [];
        return reply(200, { cleared });
      },
    },
  ];
  const compiled = routes.map((r) => ({ route: r, key: `${r.method} ${r.template}`, pattern: compile(r.template) }));

  function businessRoutes(): string[] {
    return compiled.filter((c) => !c.route.control).map((c) => c.key);
  }
  function knownRoute(route: string): boolean {
    return compiled.some((c) => !c.route.control && (c.key === route || c.route.template === route));
  }

  /** The first fault that matches this route, consumed once. */
  function takeFault(key: string, template: string): Fault | undefined {
    const fault = faults.find((f) => f.remaining > 0 && (f.route === undefined || f.route === key || f.route === template));
    if (!fault) return undefined;
    fault.remaining -= 1;
    faults = faults.filter((f) => f.remaining > 0);
    return fault;
  }

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pendingDelays.delete(timer);
        resolve();
      }, ms);
      pendingDelays.add(timer);
    });
  }

  async function dispatch(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://sample.invalid');
    const method = req.method ?? 'GET';
    let path: string;
    try {
      path = decodeURI(url.pathname);
    } catch {
      return invalid('malformed path');
    }
    const match = compiled.find((c) => c.route.method === method && c.pattern.test(path));
    if (!match) return reply(404, { error: 'route_not_found', method, path });
    const params = { ...(match.pattern.exec(path)?.groups ?? {}) };

    let body: unknown;
    try {
      body = await readBody(req);
    } catch (err) {
      return invalid(err instanceof BadRequest ? err.message : 'unreadable body');
    }

    if (!match.route.control) {
      counts[match.key] = (counts[match.key] ?? 0) + 1;
      const fault = takeFault(match.key, match.route.template);
      if (fault?.delayMs) await delay(fault.delayMs);
      if (fault?.status !== undefined) return reply(fault.status, { error: 'injected_fault', status: fault.status });
    }
    return match.route.handle({ params, query: url.searchParams, headers: req.headers, body });
  }

  function send(res: ServerResponse, { status, body }: Reply): void {
    if (res.destroyed) return;
    const payload = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  }

  const server = createServer((req, res) => {
    dispatch(req).then(
      (r) => send(res, r),
      () => send(res, reply(500, { error: 'internal_error' })),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const timer of pendingDelays) clearTimeout(timer);
        pendingDelays.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
