import { neutralise } from '@flotilla/guardrails';

/**
 * Grounding check: every factual claim in an answer — order and tracking numbers, dates, amounts,
 * order/shipment statuses, and cited policy sentences — must be found in the evidence (tool results,
 * retrieved passages, the question). Pure, so it is tested table-wise.
 */
export interface GroundingVerdict {
  verdict: 'approved' | 'rejected';
  reasons: string[];
  claimsChecked: number;
}

const STATUS_PHRASES = ['processing', 'shipped', 'in transit', 'out for delivery', 'delivered', 'cancelled', 'label created'];

const norm = (s: string): string => s.toLowerCase().replace(/_/g, ' ').replace(/\s+/g, ' ');

function collectStrings(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number' || typeof value === 'boolean') out.push(String(value));
  else if (Array.isArray(value)) value.forEach((v) => collectStrings(v, out));
  else if (typeof value === 'object' && value !== null) Object.values(value).forEach((v) => collectStrings(v, out));
}

function passagesOf(evidence: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const v of Object.values(evidence)) {
    const passages = typeof v === 'object' && v !== null ? (v as { passages?: unknown }).passages : undefined;
    if (Array.isArray(passages)) for (const p of passages) if (typeof (p as { text?: unknown }).text === 'string') out.push((p as { text: string }).text);
  }
  return out;
}

const MONEY_KEY = /amount|total|price|refundable|subtotal|cost/i;

/** Cents of the money figures in the evidence: numbers under money-named keys, and "$x" in any text. */
function moneyIn(value: unknown, texts: string[]): Set<number> {
  const out = new Set<number>();
  const walk = (v: unknown, key: string): void => {
    if (typeof v === 'number' && MONEY_KEY.test(key)) out.add(Math.round(v * 100));
    else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(value, '');
  for (const t of texts) for (const m of t.matchAll(/\$\s?(\d[\d,]*(?:\.\d{1,2})?)/g)) out.add(Math.round(Number(m[1]!.replace(/,/g, '')) * 100));
  return out;
}

/** Refunds the evidence shows as made (a refund.request result with a refund id and `refunded` not false). */
function refundsIn(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + refundsIn(v), 0);
  if (typeof value !== 'object' || value === null) return 0;
  const r = value as Record<string, unknown>;
  if (typeof r['refundId'] === 'string' && r['refunded'] !== false) return 1;
  return Object.values(r).reduce((n: number, v) => n + refundsIn(v), 0);
}

/** "I refunded …", "refund id …", "has been refunded": the answer says a refund was made. */
const REFUND_CLAIM = /\b(?:I|we) (?:have )?refunded\b|\brefund id\b|\b(?:has|have) been refunded\b|\bwas refunded\b|\brefund (?:was|has been) (?:issued|approved|made)\b/i;

export function checkGrounding(answer: string, evidence: Record<string, unknown>, question: string): GroundingVerdict {
  const strings: string[] = [question];
  collectStrings(evidence, strings);
  const haystack = norm(strings.join('\n'));
  const reasons: string[] = [];
  let checked = 0;
  const need = (claim: string, what: string): void => {
    checked++;
    if (!haystack.includes(norm(claim))) reasons.push(`unsupported ${what}: "${claim}"`);
  };
  // Remove citation markers before looking for numbers.
  const text = answer.replace(/\[\d+\]/g, '');
  for (const m of text.matchAll(/\b\d{4}-\d{2}-\d{2}\b/g)) need(m[0], 'date');
  // An amount is a figure, however written: "$5.00" in the answer is the refund's `amount: 5`.
  const money = moneyIn(evidence, strings);
  for (const m of text.matchAll(/\$\s?\d[\d,]*(?:\.\d{2})?/g)) {
    checked++;
    const cents = Math.round(Number(m[0].replace(/[$\s,]/g, '')) * 100);
    if (!money.has(cents)) reasons.push(`unsupported amount: "${m[0].replace(/\s/g, '')}"`);
  }
  // Saying a refund was made needs a tool result that made one: not the question, not a refusal.
  if (REFUND_CLAIM.test(text.replace(/\bnothing was refunded\b/gi, ''))) {
    checked++;
    if (refundsIn(evidence) === 0) reasons.push('unsupported claim that a refund was made: no refund in the tool results');
  }
  for (const m of text.matchAll(/\b(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{8,}\b/g)) need(m[0], 'identifier');
  const withoutDates = text.replace(/\b\d{4}-\d{2}-\d{2}\b/g, ' ').replace(/\$\s?\d[\d,]*(?:\.\d{2})?/g, ' ');
  for (const m of withoutDates.matchAll(/\b\d{3,}\b/g)) need(m[0], 'number');
  const lower = norm(text);
  for (const phrase of STATUS_PHRASES) {
    if (new RegExp(`\\b${phrase}\\b`).test(lower)) need(phrase, 'status');
  }
  // Text cited as [n] must be quoted from passage n, not paraphrased into new facts. An introduction
  // ending in a colon ("Here is what our help center says:") is the answer's own words.
  // A planner that neutralised a passage before composing quotes the neutralised text: accept either.
  const raw = passagesOf(evidence);
  const passages = raw.map(norm);
  const defanged = raw.map((p) => norm(neutralise(p)));
  const parts = answer.split(/((?:\s*\[\d+\])+)/);
  for (let i = 1; i < parts.length; i += 2) {
    const cited = [...parts[i]!.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
    const bad = cited.filter((n) => n < 1 || n > passages.length);
    for (const n of bad) reasons.push(`citation [${n}] refers to no retrieved passage`);
    if (bad.length) continue;
    const segment = parts[i - 1]!.trim().replace(/^[^:.!?]{0,80}:\s+/, '');
    for (const sentence of segment.split(/(?<=[.!?])\s+/)) {
      const body = norm(sentence).replace(/[.!?\s]+$/, '').trim();
      if (!body) continue;
      checked++;
      if (!cited.some((n) => passages[n - 1]!.includes(body) || defanged[n - 1]!.includes(body))) reasons.push(`cited text not found in passage ${cited.map((n) => `[${n}]`).join('')}: "${sentence.slice(0, 120)}"`);
    }
  }
  return { verdict: reasons.length === 0 ? 'approved' : 'rejected', reasons, claimsChecked: checked };
}
