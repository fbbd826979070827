import { ComposeFacts } from './prompts';

/*
 * The local model's answer templates. Every order id, date, carrier, tracking number, location and
 * status in an answer is copied from FACTS; anything missing is said to be missing, never filled in.
 * The only amounts mentioned are a refund's and an order's total, copied from the tool results.
 */

/** What the local model says it can help with, in every fallback reply. */
export const CAPABILITIES = 'I can help with your orders and their delivery, and with questions about returns and warranty.';
const UNAVAILABLE_RETRY = 'Please try again in a few minutes.';
/** Long passages are cut at a sentence boundary near this many characters. */
const MAX_PASSAGE_CHARS = 700;

type Fact = Record<string, unknown>;
type Kind = 'order' | 'shipment' | 'estimate' | 'passages' | 'orderList' | 'refund';

interface Sorted {
  order?: Fact;
  shipment?: Fact;
  estimate?: Fact;
  passages?: Fact;
  /** A customer's order list (customer.orders). */
  orderList?: Fact;
  /** What refund.request did: refunded, refused, or its failure. */
  refund?: Fact;
  /** Failed steps whose kind could not be told from their id. */
  unknownFailures: number;
}

/** Writes the answer for the FACTS of a compose request. */
export function composeAnswer(input: ComposeFacts): string {
  const intent = str(input.intent['intent']) ?? 'unknown';
  if (input.mode === 'safe') return `I'm sorry, I can't answer that reliably right now. ${CAPABILITIES} Please try asking again.`;
  const facts = sortFacts(input.facts);
  switch (intent) {
    case 'order_status':
      return orderStatus(input.intent, facts);
    case 'policy_question':
      return policy(facts) ?? `Our knowledge base has nothing on that, so I can't answer it reliably. ${CAPABILITIES}`;
    case 'refund_request':
      return refund(input.intent, facts);
    case 'product_search':
      return policy(facts) ?? `I can't search the product catalogue. ${CAPABILITIES}`;
    case 'smalltalk':
      return `Hello! I'm the shop's support assistant. ${CAPABILITIES} What can I do for you?`;
    default:
      return `I'm not sure I understood that. ${CAPABILITIES} Could you rephrase your question?`;
  }
}

/** "Your other orders": a customer's order list, each order with its status and date placed. */
function otherOrders(list: Fact): string {
  const orders = (Array.isArray(list['orders']) ? list['orders'] : []).map(rec).filter((o): o is Fact => o !== undefined);
  if (list['found'] === false) return 'I could not find your other orders. Could you tell me the order number you mean?';
  if (orders.length === 0) return 'I found no other orders on your account.';
  const parts = orders.map((o) => `order ${String(o['orderId'])} is ${String(o['status']).replace(/_/g, ' ')} (placed ${String(o['placedAt']).slice(0, 10)})`);
  return `Your other ${orders.length === 1 ? 'order' : 'orders'}: ${parts.join('; ')}.`;
}

function orderStatus(intent: Fact, facts: Sorted): string {
  if (facts.orderList) return otherOrders(facts.orderList);
  const askedFor = str(intent['orderId']);
  if (!askedFor && !facts.order && !facts.shipment) {
    return 'Could you tell me your order number? It is on your confirmation email, and with it I can check where your order is and when it should arrive.';
  }
  const lines = orderLines(facts);
  if (facts.unknownFailures > 0) lines.push(`Some other information is unavailable right now. ${UNAVAILABLE_RETRY}`);
  return lines.join(' ');
}

/** Dollars as the shop writes them: "$5.00". */
const usd = (n: number): string => `$${n.toFixed(2)}`;

/**
 * The outcome of a refund the customer asked for and confirmed, in the tool's own figures: refunded
 * (with the refund id), refused (more than the order allows), or not done because the call failed.
 */
function refundOutcome(r: Fact, orderId: string | undefined): string {
  const on = orderId ? ` on order ${orderId}` : '';
  if (failed(r)) {
    const code = str(rec(r['error'])?.['code']);
    if (code === 'NOT_FOUND') return `I found no order${orderId ? ` ${orderId}` : ''}, so nothing was refunded. Please check the order number — it is on your confirmation email.`;
    return `The refund${on} could not be completed right now. ${UNAVAILABLE_RETRY}`;
  }
  const amount = typeof r['amount'] === 'number' ? r['amount'] : undefined;
  if (r['refunded'] === false) {
    const refundable = typeof r['refundable'] === 'number' ? r['refundable'] : undefined;
    const what = amount !== undefined ? `${usd(amount)}${on}` : `that amount${on}`;
    return refundable !== undefined
      ? `I could not refund ${what}: at most ${usd(refundable)} can still be refunded on that order. Nothing was refunded.`
      : `I could not refund ${what}: it is more than the order allows. Nothing was refunded.`;
  }
  const id = str(r['refundId']);
  const status = str(r['status']);
  return `I refunded ${amount !== undefined ? usd(amount) : 'the amount'}${on}${id ? `, refund id ${id}` : ''}${status ? ` (${status})` : ''}.`;
}

function refund(intent: Fact, facts: Sorted): string {
  const orderId = str(intent['orderId']);
  if (facts.refund) return refundOutcome(facts.refund, str(rec(facts.refund)?.['orderId']) ?? orderId);
  if (orderId && facts.order?.['found'] === true && intent['amount'] === undefined && !facts.passages) {
    const total = rec(facts.order['order'])?.['total'];
    const upTo = typeof total === 'number' ? ` (up to the order total of ${usd(total)})` : '';
    return `How much should I refund on order ${orderId}? Tell me the amount in dollars${upTo}, and I will ask you to confirm before anything is done.`;
  }
  if (!orderId && intent['amount'] === undefined && !facts.passages) {
    return 'To request a refund, tell me the order number and the amount, and I will ask you to confirm before anything is done.';
  }
  const known: string[] = [];
  if (str(intent['orderId']) || facts.order || facts.shipment) known.push(...orderLines(facts, { withEstimate: false }));
  const quoted = policy(facts);
  if (quoted) known.push(quoted);
  if (known.length === 0) return 'I can\'t issue refunds myself. Please contact customer service to request the refund.';
  return ['I can\'t issue refunds myself, but here is what I know.', ...known].join(' ');
}

/** The sentences about one order: its status, its shipment, and the delivery estimate. */
function orderLines(facts: Sorted, options: { withEstimate: boolean } = { withEstimate: true }): string[] {
  const { order: lookup, shipment: tracking, estimate } = facts;
  if (lookup && failed(lookup)) {
    // Without the order record nothing else can be trusted to belong to it.
    return [`I can't look up that order right now, so its status is unavailable. ${UNAVAILABLE_RETRY}`];
  }
  if (lookup && lookup['found'] === false) {
    const id = str(lookup['orderId']);
    return [id
      ? `I found no order ${id}. Please check the order number — it is on your confirmation email.`
      : 'I found no such order. Please check the order number — it is on your confirmation email.'];
  }
  const order = lookup ? rec(lookup['order']) : undefined;
  const shipment = tracking && tracking['found'] === true ? rec(tracking['shipment']) : undefined;
  const id = str(order?.['orderId']) ?? str(shipment?.['orderId']);
  if (!order && !shipment) {
    return [`The details of that order are unavailable right now. ${UNAVAILABLE_RETRY}`];
  }
  const name = id ? `Order ${id}` : 'Your order';
  const orderStatusValue = str(order?.['status']);
  const lines: string[] = [];

  if (orderStatusValue === 'cancelled') return [`${name} was cancelled.`];

  if (shipment) {
    const shipLines = shipmentLines(name, shipment);
    lines.push(...shipLines.lines);
    if (shipLines.delivered) return lines;
  } else if (orderStatusValue) {
    lines.push(orderOnlyLine(name, orderStatusValue, tracking));
    if (orderStatusValue === 'delivered') return lines;
  } else {
    lines.push(`The status of ${id ? `order ${id}` : 'your order'} is unavailable right now.`);
  }
  if (options.withEstimate && estimate) lines.push(estimateLine(estimate));
  return lines;
}

function shipmentLines(name: string, s: Fact): { lines: string[]; delivered: boolean } {
  const carrier = str(s['carrier']);
  const tracking = str(s['trackingNumber']);
  const via = carrier ? ` with ${carrier}` : '';
  const trackingNote = tracking ? ` (tracking ${tracking})` : '';
  const status = str(s['status']) ?? '';
  const scan = rec(s['lastScan']);
  const scanLocation = str(scan?.['location']);
  const scanDate = dateOf(scan?.['at']);
  const scanLine = scanLocation && scanDate
    ? `Its last scan was in ${scanLocation} on ${scanDate}.`
    : scanLocation ? `Its last scan was in ${scanLocation}.` : scanDate ? `Its last scan was on ${scanDate}.` : undefined;

  switch (status) {
    case 'delivered': {
      const when = dateOf(s['deliveredAt']) ?? scanDate;
      const where = scanLocation ? ` in ${scanLocation}` : '';
      return { lines: [`${name} was delivered${where}${when ? ` on ${when}` : ''}${carrier ? ` by ${carrier}` : ''}${trackingNote}.`], delivered: true };
    }
    case 'label_created':
      return { lines: [`${name} has a shipping label${via}${trackingNote}, but the carrier has not scanned the parcel yet.`], delivered: false };
    case 'out_for_delivery':
      return { lines: [`${name} is out for delivery${via}${trackingNote}.`, ...(scanLine ? [scanLine] : [])], delivered: false };
    case 'in_transit':
      return { lines: [`${name} is in transit${via}${trackingNote}.`, ...(scanLine ? [scanLine] : [])], delivered: false };
    default: {
      const said = status ? `${name} has the carrier status "${words(status)}"${via}${trackingNote}.` : `${name} is with the carrier${via}${trackingNote}.`;
      return { lines: [said, ...(scanLine ? [scanLine] : [])], delivered: false };
    }
  }
}

/** The order's own status, when there is no shipment to describe. */
function orderOnlyLine(name: string, status: string, tracking: Fact | undefined): string {
  const trackingNote = tracking && failed(tracking) ? ' Its tracking details are unavailable right now.' : '';
  switch (status) {
    case 'processing':
      return `${name} is processing and has not shipped yet.${trackingNote}`;
    case 'shipped':
      return `${name} has shipped.${trackingNote || (tracking ? ' I have no tracking details for it yet.' : '')}`;
    case 'in_transit':
      return `${name} is in transit.${trackingNote}`;
    case 'delivered':
      return `${name} was delivered.`;
    default:
      return `${name} has the status "${words(status)}".${trackingNote}`;
  }
}

function estimateLine(e: Fact): string {
  if (failed(e)) return 'A delivery estimate is unavailable right now.';
  if (e['available'] === false) {
    const reason = str(e['reason']);
    return reason ? `I have no delivery estimate for it: ${sentence(reason)}` : 'I have no delivery estimate for it.';
  }
  const date = str(e['estimatedDelivery']);
  if (!date) return 'A delivery estimate is unavailable right now.';
  const deadline = str(e['deadline']);
  const meets = e['meetsDeadline'];
  let line = `The carrier estimates delivery on ${date}`;
  if (deadline && meets === true) line += `, so it is expected by your deadline of ${deadline}`;
  else if (deadline && meets === false) line += `, so it is not expected by your deadline of ${deadline}`;
  return `${line}.`;
}

/** The top one or two passages, quoted verbatim with [n] markers, or undefined when there are none. */
function policy(facts: Sorted): string | undefined {
  const step = facts.passages;
  if (!step) return undefined;
  if (failed(step)) return `Our knowledge base is unavailable right now, so I can't answer that reliably. ${UNAVAILABLE_RETRY}`;
  const passages = Array.isArray(step['passages']) ? step['passages'].map(rec) : [];
  const quoted: string[] = [];
  const topScore = num(passages[0]?.['score']);
  for (const [i, p] of passages.slice(0, 2).entries()) {
    const text = str(p?.['text'])?.trim();
    if (!text) continue;
    // A second passage is quoted only when it is nearly as relevant as the first.
    if (i === 1 && topScore !== undefined && (num(p?.['score']) ?? 0) < topScore * 0.5) continue;
    quoted.push(`${excerpt(text)} [${i + 1}]`);
  }
  if (quoted.length === 0) return undefined;
  return `Here is what our help center says: ${quoted.join(' ')}`;
}

/** The passage, or its leading whole sentences when it is long; always copied, never reworded. */
function excerpt(text: string): string {
  if (text.length <= MAX_PASSAGE_CHARS) return text;
  const sentences = text.match(/[^.!?]+(?:[.!?]+["')\]]*\s*|$)/g) ?? [text];
  let out = '';
  for (const s of sentences) {
    if (out && out.length + s.length > MAX_PASSAGE_CHARS) break;
    out += s;
  }
  return out.trim();
}

function sortFacts(facts: Record<string, unknown>): Sorted {
  const out: Sorted = { unknownFailures: 0 };
  for (const [id, value] of Object.entries(facts)) {
    const fact = rec(value);
    if (!fact) continue;
    const kind = kindOf(id, fact);
    if (!kind) {
      if (failed(fact)) out.unknownFailures++;
      continue;
    }
    out[kind] ??= fact;
  }
  return out;
}

/** Tells a fact's kind by its shape, falling back to its step id for failures and `found: false`. */
function kindOf(id: string, fact: Fact): Kind | undefined {
  if ('orders' in fact || (fact['found'] === false && 'customerId' in fact)) return 'orderList';
  if ('refunded' in fact || 'refundId' in fact || fact['tool'] === 'refund.request') return 'refund';
  if ('order' in fact) return 'order';
  if ('shipment' in fact) return 'shipment';
  if ('passages' in fact) return 'passages';
  if ('estimatedDelivery' in fact || 'transitBusinessDays' in fact || 'available' in fact) return 'estimate';
  const name = id.toLowerCase();
  if (/refund/.test(name)) return 'refund';
  if (/estimate/.test(name)) return 'estimate';
  if (/track|shipment/.test(name)) return 'shipment';
  if (/retriev|search|passage|knowledge|policy|kb/.test(name)) return 'passages';
  if (/order|lookup/.test(name)) return 'order';
  if (fact['found'] === false && 'orderId' in fact) return 'order';
  return undefined;
}

function failed(fact: Fact): boolean {
  return 'error' in fact && fact['error'] !== undefined && fact['error'] !== null;
}

function rec(value: unknown): Fact | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fact) : undefined;
}

function str(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The calendar date of an ISO timestamp, as written in the facts. */
function dateOf(value: unknown): string | undefined {
  const s = str(value);
  const m = s ? /^(\d{4}-\d{2}-\d{2})/.exec(s) : null;
  return m ? m[1] : undefined;
}

function words(status: string): string {
  return status.replace(/_/g, ' ');
}

function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
