import { IntentArguments, PolicyTopic } from './prompts';

/*
 * The local model's intent rules: keyword and pattern matching, deterministic, reading nothing but
 * the question and the date the prompt gives as today. Order of the checks matters and is the
 * decision list documented on `classifyIntent`.
 */

const ORDER_ID = [
  // "order 1001", "order #1001", "order number 1001", "order no. 1001", "order id: 1001", "order number is 1001"
  /\border(?:\s+(?:number|num|no\.?|id))?(?:\s+is)?\s*[:#]?\s*#?\s*(\d{3,12})\b/i,
  // "#1001" anywhere
  /#\s?(\d{3,12})\b/,
];

const WORDS = {
  refund: /\b(refund|refunded|return|send (?:it|this|them) back|money back)\b/i,
  policyAsk: /\b(polic(?:y|ies)|how long|how many days|how does|how do|what is your|what's your|what are your|can i|do you)\b/i,
  policy: /\b(polic(?:y|ies)|returns?|returning|refunds?|warrant(?:y|ies)|guarantee|exchanges?|how long|how many days)\b|\bshipping (?:costs?|fees?|times?|options?|rates?)\b|\bfree shipping\b|\bdo you ship\b|\bship (?:to|internationally|abroad|overseas)\b/i,
  refundAsk: /\b(?:refund (?:my|me|this|it|the)|(?:i want|i'd like|i would like|i need|can i get|could i get|please give me|give me) (?:a |my )?refund|return (?:my|this|it|the) (?:order|item|purchase|product))\b/i,
  orderNoun: /\b(?:my|the|an?|our|this) (?:order|package|parcel|shipment|delivery)\b|\borders?\b/i,
  status: /\b(where|track(?:ing)?|status|arriv(?:e|es|ing|al)|deliver(?:y|ed|s)?|ship(?:ped|ping)?|when|eta|late|delayed|coming|get here|update)\b/i,
  product: /\b(do you (?:sell|have|carry|stock|offer)|looking for|searching for|products?|in stock|recommend|buy|catalog(?:ue)?)\b/i,
  greeting: /^\s*(hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening)|thanks|thank you|cheers|how are you)\b/i,
};

const TOPICS: [PolicyTopic, RegExp][] = [
  ['warranty', /\b(warrant(?:y|ies)|guarantee|defect(?:ive)?|broken|repair)\b/i],
  ['returns', /\b(returns?|returning|refunds?|exchanges?|money back|send (?:it|this|them) back)\b/i],
  ['shipping', /\b(ship(?:ping|ped|s)?|deliver(?:y|ies)?|postage|courier|carrier)\b/i],
];

/**
 * Classifies a customer question. Decision list, first match wins:
 * 1. an order number with refund words and no policy-style question → `refund_request`;
 *    an order number with policy words and no status words → `policy_question` (keeping the number);
 *    any other order number → `order_status`;
 * 2. an explicit ask for a refund ("refund my …", "I want a refund") → `refund_request`;
 * 3. "my order/package …" with status words, or without policy words → `order_status`;
 * 4. policy words → `policy_question` with a topic;
 * 5. product words → `product_search`; 6. a greeting → `smalltalk`; 7. `unknown`.
 * A deadline is attached whenever one is stated; a refund request's dollar amount, when one is stated.
 */
export function classifyIntent(question: string, today: string | undefined): IntentArguments {
  const q = question.replace(/\s+/g, ' ').trim();
  const orderId = findOrderId(q);
  const deadline = today ? findDeadline(q, today) : undefined;
  const amount = findAmount(q);
  const withExtras = (base: IntentArguments): IntentArguments => ({
    ...base,
    ...(base.intent === 'refund_request' && amount !== undefined ? { amount } : {}),
    ...(base.orderId === undefined && orderId !== undefined ? { orderId } : {}),
    ...(deadline !== undefined ? { deadline } : {}),
  });

  if (orderId !== undefined) {
    if (WORDS.refund.test(q) && (WORDS.refundAsk.test(q) || !WORDS.policyAsk.test(q))) return withExtras({ intent: 'refund_request' });
    if (WORDS.policy.test(q) && !WORDS.status.test(q)) return withExtras({ intent: 'policy_question', topic: topicOf(q) });
    return withExtras({ intent: 'order_status' });
  }
  if (WORDS.refundAsk.test(q)) return withExtras({ intent: 'refund_request' });
  if (WORDS.orderNoun.test(q) && (WORDS.status.test(q) || !WORDS.policy.test(q)) && !WORDS.product.test(q)) return withExtras({ intent: 'order_status' });
  if (WORDS.policy.test(q)) return withExtras({ intent: 'policy_question', topic: topicOf(q) });
  if (WORDS.product.test(q)) return withExtras({ intent: 'product_search' });
  if (WORDS.greeting.test(q)) return withExtras({ intent: 'smalltalk' });
  return withExtras({ intent: 'unknown' });
}

/** A stated dollar amount: "$5", "$12.50", "5 dollars", "12.50 USD". Never an order number. */
export function findAmount(q: string): number | undefined {
  const m = /\$\s?(\d{1,7}(?:\.\d{1,2})?)(?![\d.])|\b(\d{1,7}(?:\.\d{1,2})?)\s?(?:dollars?|usd)\b|\busd\s?(\d{1,7}(?:\.\d{1,2})?)(?![\d.])/i.exec(q);
  const text = m?.[1] ?? m?.[2] ?? m?.[3];
  const amount = text === undefined ? undefined : Number(text);
  return amount !== undefined && amount > 0 ? amount : undefined;
}

function findOrderId(q: string): string | undefined {
  for (const re of ORDER_ID) {
    const m = re.exec(q);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

function topicOf(q: string): PolicyTopic {
  for (const [topic, re] of TOPICS) if (re.test(q)) return topic;
  return 'general';
}

const DAY_MS = 86_400_000;
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH = '(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)';
const NUMBER_WORDS: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10 };

/** The deadline the question states, resolved against `today` (UTC), as `YYYY-MM-DD`. */
export function findDeadline(q: string, today: string): string | undefined {
  const base = Date.parse(`${today}T00:00:00Z`);
  if (Number.isNaN(base)) return undefined;
  const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
  const lower = q.toLowerCase();

  const iso = /\b(\d{4}-\d{2}-\d{2})\b/.exec(lower)?.[1];
  // Date.parse rolls 2026-02-30 over to March; a date that does not survive the round trip is not one.
  if (iso && !Number.isNaN(Date.parse(`${iso}T00:00:00Z`)) && day(Date.parse(`${iso}T00:00:00Z`)) === iso) return iso;

  if (/\bday after tomorrow\b/.test(lower)) return day(base + 2 * DAY_MS);
  if (/\btomorrow\b/.test(lower)) return day(base + DAY_MS);
  if (/\b(today|tonight)\b/.test(lower)) return today;

  const inN = /\b(?:in|within) (\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten) (days?|weeks?)\b/.exec(lower);
  if (inN) {
    const [, count = '', unit = ''] = inN;
    const n = /^\d+$/.test(count) ? Number(count) : (NUMBER_WORDS[count] ?? 0);
    return day(base + n * (unit.startsWith('week') ? 7 : 1) * DAY_MS);
  }

  const monthDay = new RegExp(`\\b${MONTH}\\.? (\\d{1,2})(?:st|nd|rd|th)?\\b|\\b(\\d{1,2})(?:st|nd|rd|th)? (?:of )?${MONTH}\\b`).exec(lower);
  if (monthDay) {
    const monthName = monthDay[1] ?? monthDay[4] ?? '';
    const dom = Number(monthDay[2] ?? monthDay[3]);
    const month = MONTHS.indexOf(monthName.slice(0, 3));
    const year = new Date(base).getUTCFullYear();
    let candidate = Date.UTC(year, month, dom);
    if (new Date(candidate).getUTCDate() === dom) {
      if (candidate < base) candidate = Date.UTC(year + 1, month, dom);
      return day(candidate);
    }
  }

  const weekday = /\b(sunday|monday|tuesday|wednesday|thursday|friday|saturday)\b/.exec(lower)?.[1];
  if (weekday) {
    const target = WEEKDAYS.indexOf(weekday);
    const current = new Date(base).getUTCDay();
    // The next occurrence after today: "by Saturday" on a Saturday means a week from now.
    const ahead = ((target - current + 7) % 7) || 7;
    return day(base + ahead * DAY_MS);
  }
  return undefined;
}
