import { ErrorCode, FlotillaError, Logger } from '@flotilla/common';
import type { FlotillaConfig } from '@flotilla/config';
import { estimateDeliveryDate, judgeDeadline, utcDate } from './delivery';
import { CircuitBreaker, CircuitBreakerOptions, CircuitBreakers } from './breaker';
import { HttpConnector, HttpResult } from './http';
import { ToolDefinition, ToolRegistry } from './registry';
import { isRecord, JsonSchema } from './schema';

/** Tool names, defined once for planners, prompts and tests. */
export const ToolNames = {
  OrderLookup: 'order.lookup',
  ShipmentTrack: 'shipment.track',
  DeliveryEstimate: 'delivery.estimate',
  RefundRequest: 'refund.request',
  ProductSearch: 'product.search',
  CustomerOrders: 'customer.orders',
} as const;
export type ToolName = (typeof ToolNames)[keyof typeof ToolNames];

const ORDER_ID: JsonSchema = { type: 'string', pattern: '^[A-Za-z0-9-]{1,32}$', description: 'The order number, e.g. "1001".' };
const DATE: JsonSchema = { type: 'string', format: 'date', pattern: '^\\d{4}-\\d{2}-\\d{2}$' };
const PLACE: JsonSchema = {
  type: 'object',
  properties: { city: { type: 'string' }, region: { type: 'string' }, postalCode: { type: 'string', pattern: '^\\d{5}$' } },
  required: ['postalCode'],
};
const SHIPMENT: JsonSchema = {
  type: ['object', 'null'],
  description: 'The `shipment` from shipment.track, or null when the order has not shipped.',
  properties: {
    orderId: { type: 'string' },
    carrier: { type: 'string', minLength: 1 },
    service: { type: 'string', enum: ['ground', 'express', 'overnight'] },
    status: { type: 'string', enum: ['label_created', 'in_transit', 'out_for_delivery', 'delivered'] },
    shippedAt: { type: 'string', format: 'date-time' },
    deliveredAt: { type: 'string', format: 'date-time' },
    origin: PLACE,
    destination: PLACE,
  },
  required: ['carrier', 'service', 'status', 'shippedAt', 'origin', 'destination'],
};

const READ_RETRY = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 };

function objectBody(res: HttpResult, label: string): Record<string, unknown> {
  if (!isRecord(res.body)) throw new FlotillaError(ErrorCode.ToolFailed, `${label}: the service answered ${res.status} without a JSON object`, { retryable: false });
  return res.body;
}

type OrderArgs = { orderId: string };
type EstimateArgs = {
  orderId: string;
  shipment: {
    orderId?: string; carrier: string; service: string; status: string; shippedAt: string; deliveredAt?: string;
    origin: { postalCode: string }; destination: { postalCode: string };
  } | null;
  deadline?: string | null;
  today: string;
};
type RefundArgs = { orderId: string; amount: number; reason: string };
type SearchArgs = { query: string };

const orderLookup: ToolDefinition<OrderArgs> = {
  name: ToolNames.OrderLookup,
  description: "Looks up an order by its number: status, items, total, shipping method and destination. Returns found: false when there is no such order.",
  argsSchema: { type: 'object', properties: { orderId: ORDER_ID }, required: ['orderId'], additionalProperties: false },
  timeoutMs: 5_000,
  retry: READ_RETRY,
  sideEffect: false,
  async execute({ orderId }, { http, signal }) {
    const res = await http.get(`/orders/${encodeURIComponent(orderId)}`, { signal });
    if (res.status === 404) return { found: false, orderId };
    return { found: true, order: objectBody(res, ToolNames.OrderLookup) };
  },
};

type CustomerOrdersArgs = {
  customerId: string;
  excludeOrderId?: string | null;
};

const customerOrders: ToolDefinition<CustomerOrdersArgs> = {
  name: ToolNames.CustomerOrders,
  description: "Lists a customer's orders (number, status, date placed, total), newest first, optionally leaving one order out — for \"my other orders\". Returns found: false for an unknown customer.",
  argsSchema: {
    type: 'object',
    properties: {
      customerId: { type: 'string', pattern: '^[A-Za-z0-9-]{1,32}$', description: 'The customer id, e.g. "C-100".' },
      excludeOrderId: { type: ['string', 'null'], pattern: '^[A-Za-z0-9-]{1,32}$', description: 'An order to leave out (the one already discussed).' },
    },
    required: ['customerId'],
    additionalProperties: false,
  },
  timeoutMs: 5_000,
  retry: READ_RETRY,
  sideEffect: false,
  async execute({ customerId, excludeOrderId }, { http, signal }) {
    const res = await http.get(`/customers/${encodeURIComponent(customerId)}/orders`, { signal });
    if (res.status === 404) return { found: false, customerId };
    const body = objectBody(res, ToolNames.CustomerOrders);
    const orders = Array.isArray(body['orders']) ? (body['orders'] as { orderId?: unknown }[]).filter((o) => o.orderId !== excludeOrderId) : [];
    return { found: true, customerId, orders };
  },
};

const shipmentTrack: ToolDefinition<OrderArgs> = {
  name: ToolNames.ShipmentTrack,
  description: "Tracks an order's shipment: carrier, service, tracking number, status, ship and delivery times, last scan. Returns found: false when the order does not exist or has not shipped.",
  argsSchema: { type: 'object', properties: { orderId: ORDER_ID }, required: ['orderId'], additionalProperties: false },
  timeoutMs: 5_000,
  retry: READ_RETRY,
  sideEffect: false,
  async execute({ orderId }, { http, signal }) {
    const res = await http.get(`/orders/${encodeURIComponent(orderId)}/shipment`, { signal });
    if (res.status === 404) return { found: false, orderId };
    return { found: true, shipment: objectBody(res, ToolNames.ShipmentTrack) };
  },
};

const deliveryEstimate: ToolDefinition<EstimateArgs> = {
  name: ToolNames.DeliveryEstimate,
  description:
    'Estimates the delivery date of a shipment (ship date plus the carrier\'s transit business days, Monday to Friday, never before today) and, given a deadline, whether it arrives by then. Pass the shipment from shipment.track, or null if not shipped.',
  argsSchema: {
    type: 'object',
    properties: {
      orderId: ORDER_ID,
      shipment: SHIPMENT,
      deadline: { ...DATE, type: ['string', 'null'], description: 'The date the customer needs it by, YYYY-MM-DD (inclusive).' },
      today: { ...DATE, description: "Today's date, YYYY-MM-DD (UTC)." },
    },
    required: ['orderId', 'shipment', 'today'],
    additionalProperties: false,
  },
  timeoutMs: 5_000,
  retry: READ_RETRY,
  sideEffect: false,
  async execute({ orderId, shipment, deadline, today }, { http, signal }) {
    if (shipment === null) return { available: false, reason: 'not shipped yet' };
    if (shipment.orderId !== undefined && shipment.orderId !== orderId) {
      throw new FlotillaError(ErrorCode.ValidationFailed, `${ToolNames.DeliveryEstimate}: shipment.orderId ${shipment.orderId} is not order ${orderId}`, {
        retryable: false,
        fields: [{ field: 'shipment.orderId', reasons: [`must be ${orderId}`] }],
      });
    }
    const { carrier, service } = shipment;
    if (shipment.status === 'delivered') {
      if (shipment.deliveredAt === undefined) {
        throw new FlotillaError(ErrorCode.ValidationFailed, `${ToolNames.DeliveryEstimate}: shipment.deliveredAt is required when status is delivered`, {
          retryable: false,
          fields: [{ field: 'shipment.deliveredAt', reasons: ['is required when status is delivered'] }],
        });
      }
      return { ...judgeDeadline({ available: true, carrier, service, transitBusinessDays: 0, estimatedDelivery: utcDate(shipment.deliveredAt) }, deadline) };
    }
    const res = await http.get(`/carriers/${encodeURIComponent(carrier)}/eta`, {
      signal,
      query: { service, origin: shipment.origin.postalCode, destination: shipment.destination.postalCode },
    });
    if (res.status === 404) return { available: false, reason: `no transit times for carrier ${carrier}` };
    const transit = objectBody(res, ToolNames.DeliveryEstimate)['transitBusinessDays'];
    if (typeof transit !== 'number' || !Number.isInteger(transit) || transit < 0) {
      throw new FlotillaError(ErrorCode.ToolFailed, `${ToolNames.DeliveryEstimate}: the carrier ETA had no valid transitBusinessDays`, { retryable: false });
    }
    const estimatedDelivery = estimateDeliveryDate({ shippedOn: utcDate(shipment.shippedAt), transitBusinessDays: transit, today });
    return { ...judgeDeadline({ available: true, carrier, service, transitBusinessDays: transit, estimatedDelivery }, deadline) };
  },
};

const refundRequest: ToolDefinition<RefundArgs> = {
  name: ToolNames.RefundRequest,
  description: 'Requests a refund of `amount` USD on an order. Changes state: each call with the same idempotency key creates at most one refund.',
  argsSchema: {
    type: 'object',
    properties: {
      orderId: ORDER_ID,
      amount: { type: 'number', exclusiveMinimum: 0, multipleOf: 0.01, description: 'USD, at most 2 decimals; no more than the order total.' },
      reason: { type: 'string', minLength: 1, maxLength: 500 },
    },
    required: ['orderId', 'amount', 'reason'],
    additionalProperties: false,
  },
  timeoutMs: 8_000,
  retry: { attempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 },
  sideEffect: true,
  async execute({ orderId, amount, reason }, { http, signal, idempotencyKey }) {
    let res: HttpResult;
    try {
      res = await http.post('/refunds', { orderId, amount, reason }, { signal, headers: { 'Idempotency-Key': idempotencyKey } });
    } catch (err) {
      // More than the order allows is the shop's answer, not a failure: the customer is told what can be refunded.
      const refused = refusalOf(err);
      if (refused) return { refunded: false, orderId, amount, refusal: 'amount_exceeds_refundable', refundable: refused.refundable, message: refused.message };
      throw err;
    }
    if (res.status === 404) {
      throw new FlotillaError(ErrorCode.NotFound, `${ToolNames.RefundRequest}: order ${orderId} not found`, { retryable: false });
    }
    const body = objectBody(res, ToolNames.RefundRequest);
    return { refunded: true, refundId: body['refundId'], orderId: body['orderId'], amount: body['amount'], status: body['status'], replayed: body['replayed'] === true };
  },
};

/** The business service's 422 `amount_exceeds_refundable`, read from a connector error's cause. */
function refusalOf(err: unknown): { refundable: number; message: string } | undefined {
  const cause = err instanceof FlotillaError ? (err.cause as { status?: unknown; body?: unknown } | undefined) : undefined;
  if (cause?.status !== 422 || !isRecord(cause.body) || cause.body['error'] !== 'amount_exceeds_refundable') return undefined;
  const refundable = cause.body['refundable'];
  if (typeof refundable !== 'number') return undefined;
  return { refundable, message: typeof cause.body['reason'] === 'string' ? cause.body['reason'] : `amount exceeds the refundable ${refundable.toFixed(2)} USD` };
}

const productSearch: ToolDefinition<SearchArgs> = {
  name: ToolNames.ProductSearch,
  description: 'Searches the product catalogue by words in the name, description or category; returns price and stock.',
  argsSchema: { type: 'object', properties: { query: { type: 'string', maxLength: 200 } }, required: ['query'], additionalProperties: false },
  timeoutMs: 5_000,
  retry: READ_RETRY,
  sideEffect: false,
  async execute({ query }, { http, signal }) {
    const res = await http.get('/products', { signal, query: { q: query } });
    const products = res.status === 404 ? [] : objectBody(res, ToolNames.ProductSearch)['products'];
    if (!Array.isArray(products)) throw new FlotillaError(ErrorCode.ToolFailed, `${ToolNames.ProductSearch}: the service answered without a products list`, { retryable: false });
    return { products };
  },
};

/**
 * The names of the default tools that change state: a workflow step calling one waits for the
 * user's confirmation, and the tool agent runs it only with that confirmation.
 */
export function sideEffectToolNames(): string[] {
  return [orderLookup, customerOrders, shipmentTrack, deliveryEstimate, refundRequest, productSearch].filter((t) => t.sideEffect).map((t) => t.name);
}

export interface DefaultToolsOptions {
  maxSockets?: number;
  /** Replaces the default breaker (cockatiel, one circuit per integration, configured by `breaker`). */
  circuitBreaker?: CircuitBreaker;
  /** Settings of the default breaker: when it opens and how soon it probes again. */
  breaker?: CircuitBreakerOptions;
  logger?: Logger;
  /** Jitter source for backoff; tests pass `() => 0`. */
  random?: () => number;
}

/**
 * The five business tools, over one pooled connector to `baseUrl` (the sample business by default),
 * guarded by a circuit breaker: when the business service keeps failing, tool calls fail fast with a
 * retryable "circuit open for business" until a probe call succeeds.
 */
export function createDefaultTools(baseUrl: string, options: DefaultToolsOptions = {}): ToolRegistry {
  const circuitBreaker = options.circuitBreaker ?? new CircuitBreakers({ logger: options.logger, ...options.breaker });
  const http = new HttpConnector({ baseUrl, integration: 'business', maxSockets: options.maxSockets, circuitBreaker });
  return new ToolRegistry({ http, logger: options.logger, random: options.random })
    .register(orderLookup)
    .register(customerOrders)
    .register(shipmentTrack)
    .register(deliveryEstimate)
    .register(refundRequest)
    .register(productSearch);
}

/** `createDefaultTools` against the configured `TOOLS_BASE_URL`. */
export function createDefaultToolsFromConfig(config: Pick<FlotillaConfig, 'TOOLS_BASE_URL'>, options: DefaultToolsOptions = {}): ToolRegistry {
  return createDefaultTools(config.TOOLS_BASE_URL, options);
}

