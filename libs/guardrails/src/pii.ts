import { luhn } from '@flotilla/common';
/**
 * PII guard: another customer's personal data never appears in an answer.
 *
 * The rule (see `checkPii`): personal data in an answer must belong to the requester — it must be
 * found in the requester's own record in the evidence. The requester is the workflow's `userId`
 * when the caller gave one (the shop's customer id, e.g. `C-100`); otherwise the customer of the
 * order the workflow looked up (`order.customerId` in a found `order.lookup` output), since only
 * that order's owner could have quoted its number. Anything else — personal data of another
 * customer, of nobody in the evidence, or of an unknown requester — is rejected. Card numbers and
 * national id numbers are rejected even when they are the requester's own: an answer never needs them.
 */

export type PiiKind = 'email' | 'phone' | 'card_number' | 'national_id' | 'street_address' | 'name';

export interface PiiMatch {
  kind: PiiKind;
  value: string;
  index: number;
}

const EMAIL = /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b/g;
/** North American numbers with separators, or any number written with a leading +. Bare digit runs are not phones (they are order and tracking numbers). */
const PHONE = /(?<![\w+])(?:(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}|\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5})(?![\w-])/g;
const CARD = /(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])/g;
const NATIONAL_ID = /\b\d{3}-\d{2}-\d{4}\b/g;
const STREET_SUFFIX = 'Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Trl|Alley|Row|Crescent';
const STREET = new RegExp(
  String.raw`\b\d{1,6}[A-Za-z]?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?(?:[A-Z][\w'.-]*\s+){1,4}(?:${STREET_SUFFIX})\b\.?(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|#)\.?\s*[\w-]+)?|\bP\.?\s?O\.?\s+Box\s+\d+\b`,
  'g',
);


const digitsOf = (s: string): string => s.replace(/\D/g, '');

/** Personal data found by its shape: emails, phone numbers, card numbers (Luhn-checked), US SSNs, street addresses. */
export function findPii(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  const taken: [number, number][] = [];
  const add = (kind: PiiKind, m: RegExpMatchArray): void => {
    const start = m.index!;
    const end = start + m[0].length;
    if (taken.some(([a, b]) => start < b && end > a)) return;
    taken.push([start, end]);
    out.push({ kind, value: m[0], index: start });
  };
  for (const m of text.matchAll(EMAIL)) add('email', m);
  for (const m of text.matchAll(NATIONAL_ID)) add('national_id', m);
  for (const m of text.matchAll(CARD)) {
    const d = digitsOf(m[0]);
    if (d.length >= 13 && d.length <= 19 && luhn(d)) add('card_number', m);
  }
  for (const m of text.matchAll(PHONE)) if (digitsOf(m[0]).length >= 10) add('phone', m);
  for (const m of text.matchAll(STREET)) add('street_address', m);
  return out.sort((a, b) => a.index - b.index);
}

const PLACEHOLDER: Record<PiiKind, string> = {
  email: '[email]', phone: '[phone]', card_number: '[card]', national_id: '[id]', street_address: '[address]', name: '[name]',
};

/**
 * Masks personal data for logs and error reasons: emails, phone numbers, card numbers, SSNs and
 * street addresses by shape, plus any `names` given (e.g. the customers in the evidence).
 */
export function redactPii(text: string, options: { names?: readonly string[] } = {}): string {
  let out = text;
  for (const m of findPii(text).reverse()) out = out.slice(0, m.index) + PLACEHOLDER[m.kind] + out.slice(m.index + m.value.length);
  for (const name of options.names ?? []) {
    if (name.trim().length < 3) continue;
    out = out.replace(new RegExp(`\\b${escapeRegExp(name.trim()).replace(/\s+/g, '\\s+')}\\b`, 'gi'), PLACEHOLDER.name);
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// --- Whose data is in the evidence -------------------------------------------------------------

/** One piece of personal data found in the evidence, and whose it is (`undefined`: nobody known). */
export interface PersonalDatum {
  kind: PiiKind;
  value: string;
  owner?: string;
}

const PERSON_KEYS = new Set(['customer', 'contact', 'recipient', 'shipTo', 'billTo', 'buyer', 'owner']);
const STREET_KEYS = new Set(['line1', 'line2', 'street', 'streetAddress', 'address1', 'address2']);
const ADDRESS_KEYS = new Set(['destination', 'address', 'shippingAddress', 'billingAddress', 'shipTo', 'billTo', 'deliveryAddress']);
/** Identifiers that look like phone or card numbers but are not personal. */
const NON_PERSONAL_ID_KEYS = new Set(['orderId', 'trackingNumber', 'refundId', 'sku', 'taskId', 'workflowId']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every order id → customer id the evidence shows, so a shipment of an order belongs to its customer. */
function orderOwners(value: unknown, out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) value.forEach((v) => orderOwners(v, out));
  else if (isRecord(value)) {
    if (typeof value['orderId'] === 'string' && typeof value['customerId'] === 'string') out.set(value['orderId'], value['customerId']);
    Object.values(value).forEach((v) => orderOwners(v, out));
  }
  return out;
}

/** Personal data in the evidence with its owner, and the identifiers that only look personal. */
export function personalDataIn(evidence: Record<string, unknown>): { data: PersonalDatum[]; identifiers: Set<string> } {
  const owners = orderOwners(evidence);
  const data: PersonalDatum[] = [];
  const identifiers = new Set<string>();
  const walk = (value: unknown, key: string, owner: string | undefined, inAddress: boolean, inPerson: boolean): void => {
    if (Array.isArray(value)) {
      value.forEach((v) => walk(v, key, owner, inAddress, inPerson));
      return;
    }
    if (isRecord(value)) {
      const own = typeof value['customerId'] === 'string' ? value['customerId'] : typeof value['orderId'] === 'string' ? owners.get(value['orderId']) ?? owner : owner;
      const person = inPerson || PERSON_KEYS.has(key) || 'email' in value || 'phone' in value;
      for (const [k, v] of Object.entries(value)) walk(v, k, own, ADDRESS_KEYS.has(k) || (inAddress && isRecord(v)), person && !Array.isArray(v) && k !== 'items');
      return;
    }
    if (typeof value !== 'string') return;
    if (NON_PERSONAL_ID_KEYS.has(key)) {
      identifiers.add(digitsOf(value) || value);
      return;
    }
    if (key === 'name' && inPerson) data.push({ kind: 'name', value, owner });
    else if (key === 'email' || key.endsWith('Email')) data.push({ kind: 'email', value, owner });
    else if (key === 'phone' || key.endsWith('Phone')) data.push({ kind: 'phone', value, owner });
    else if (STREET_KEYS.has(key) || (inAddress && key === 'street')) data.push({ kind: 'street_address', value, owner });
    for (const m of findPii(value)) {
      if (!data.some((d) => d.value === m.value)) data.push({ kind: m.kind, value: m.value, owner });
    }
  };
  for (const [stepId, output] of Object.entries(evidence)) walk(output, stepId, undefined, false, false);
  return { data, identifiers };
}

/** The requester: the given user id, else the customer of the first order the workflow found. */
export function requesterOf(evidence: Record<string, unknown>, userId?: string): string | undefined {
  if (userId) return userId;
  for (const output of Object.values(evidence)) {
    if (!isRecord(output) || output['found'] !== true || !isRecord(output['order'])) continue;
    const customerId = output['order']['customerId'];
    if (typeof customerId === 'string') return customerId;
  }
  return undefined;
}

// --- The check ---------------------------------------------------------------------------------

export interface PiiVerdict {
  verdict: 'approved' | 'rejected';
  /** Say what kind of data and whose, never the data itself. */
  reasons: string[];
  /** Whom the answer was checked for; undefined when no requester could be established. */
  requester?: string;
  /** Personal data items found in the answer. */
  found: number;
}

/** Business contact points published for everyone are not personal data. */
const ROLE_MAILBOX = /^(?:support|help|helpdesk|service|customerservice|care|info|contact|hello|returns?|orders?|shipping|warranty|sales|billing|noreply|no-reply|do-not-reply|team)@/i;
const TOLL_FREE = /^1?8(?:00|33|44|55|66|77|88)\d{7}$/;

const KIND_TEXT: Record<PiiKind, string> = {
  email: 'an email address', phone: 'a phone number', card_number: 'a card number', national_id: 'a national id number', street_address: 'a street address', name: 'a name',
};

function comparable(kind: PiiKind, value: string): string {
  switch (kind) {
    case 'phone': {
      const d = digitsOf(value);
      return d.length === 11 && d.startsWith('1') ? d.slice(1) : d;
    }
    case 'card_number':
    case 'national_id':
      return digitsOf(value);
    case 'email':
    case 'name':
    case 'street_address':
      return value.toLowerCase().replace(/[.,]/g, '').replace(/\s+/g, ' ').trim();
  }
}

/**
 * Rejects an answer that contains personal data not belonging to the requester: any email, phone
 * number or street address not in the requester's own record, any name of another customer the
 * evidence knows, and any card or national id number at all.
 */
export function checkPii(answer: string, evidence: Record<string, unknown>, options: { userId?: string } = {}): PiiVerdict {
  const requester = requesterOf(evidence, options.userId);
  const { data, identifiers } = personalDataIn(evidence);
  const mine = new Set(data.filter((d) => requester !== undefined && d.owner === requester).map((d) => `${d.kind}:${comparable(d.kind, d.value)}`));
  const whose = (d: { owner?: string }): string => (d.owner === undefined ? 'someone other than the requester' : `another customer (${d.owner})`);
  const reasons: string[] = [];
  let found = 0;

  for (const m of findPii(answer)) {
    if (identifiers.has(digitsOf(m.value)) && (m.kind === 'phone' || m.kind === 'card_number')) continue;
    found++;
    if (m.kind === 'card_number' || m.kind === 'national_id') {
      reasons.push(`answer contains ${KIND_TEXT[m.kind]}, which an answer never shows`);
      continue;
    }
    if (m.kind === 'email' && ROLE_MAILBOX.test(m.value)) continue;
    if (m.kind === 'phone' && TOLL_FREE.test(digitsOf(m.value))) continue;
    if (mine.has(`${m.kind}:${comparable(m.kind, m.value)}`)) continue;
    const known = data.find((d) => d.kind === m.kind && comparable(d.kind, d.value) === comparable(m.kind, m.value));
    reasons.push(known
      ? `answer contains ${KIND_TEXT[m.kind]} of ${whose(known)}`
      : `answer contains ${KIND_TEXT[m.kind]} that is not in the requester's own record${requester === undefined ? ' (no requester could be established)' : ''}`);
  }

  // Known personal values of others, whatever their shape (a name, an address written differently).
  const text = ` ${comparable('name', answer)} `;
  for (const d of data) {
    if (requester !== undefined && d.owner === requester) continue;
    if (d.kind !== 'name' && d.kind !== 'street_address') continue;
    const value = comparable(d.kind, d.value);
    if (value.length < 3 || !new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(value)}(?![\\p{L}\\p{N}])`, 'u').test(text)) continue;
    const reason = `answer contains ${KIND_TEXT[d.kind]} of ${whose(d)}`;
    if (reasons.includes(reason)) continue;
    found++;
    reasons.push(reason);
  }
  const unique = [...new Set(reasons)];
  return { verdict: unique.length === 0 ? 'approved' : 'rejected', reasons: unique, ...(requester === undefined ? {} : { requester }), found };
}
