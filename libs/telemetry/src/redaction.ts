import type { Attributes, AttributeValue, Context, Link } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { redactText, redactValue } from '@flotilla/common';

/**
 * Attribute keys whose values are free text written by users or models (a question, an answer, a
 * prompt, a message body): no pattern can find every piece of personal data in them, so the
 * attribute is dropped, whatever its value. Matched on the last segment of a dotted key
 * (`flotilla.question`, `gen_ai.prompt`, `messaging.message.body`, `db.query.text`).
 */
const FREE_TEXT_SEGMENT = /^(?:question|questions|answer|answers|text|prompt|prompts|completion|content|body|message_text|transcript|summary|input|output|query|statement)$/i;

/** Full keys that are free text although their last segment says otherwise. */
const FREE_TEXT_KEYS = new Set(['url.query', 'url.full', 'http.url', 'http.target', 'db.statement', 'exception.escaped_text']);

/** True when an attribute with this key carries free text and must not leave the process at all. */
export function isFreeTextKey(key: string): boolean {
  if (FREE_TEXT_KEYS.has(key)) return true;
  const last = key.slice(key.lastIndexOf('.') + 1);
  return FREE_TEXT_SEGMENT.test(last);
}

function redactAttributeValue(key: string, value: AttributeValue): AttributeValue {
  const last = key.slice(key.lastIndexOf('.') + 1);
  if (typeof value === 'string') {
    // The logger's rules: credential-named fields are replaced whole, anything else by shape.
    const redacted = redactValue(value, last);
    return typeof redacted === 'string' ? redacted : redactText(value);
  }
  if (Array.isArray(value)) {
    return value.map((v) => (typeof v === 'string' ? redactText(v) : v)) as AttributeValue;
  }
  return value;
}

/**
 * A copy of `attributes` safe to export: free-text attributes dropped, every string (and string in
 * an array) through the logger's redaction (emails, phone and card numbers, bearer tokens, JWTs, API
 * keys, URL credentials → `[redacted:<kind>]`; credential-named keys → `[redacted]`).
 */
export function redactAttributes(attributes: Attributes | undefined): Attributes {
  const out: Attributes = {};
  if (!attributes) return out;
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (isFreeTextKey(key)) continue;
    out[key] = redactAttributeValue(key, value);
  }
  return out;
}

/** The span as the exporter sees it: names, attributes, events, links and the status message redacted. */
export function redactSpan(span: ReadableSpan): ReadableSpan {
  const events: TimedEvent[] = span.events.map((e) => ({ ...e, name: redactText(e.name), attributes: redactAttributes(e.attributes) }));
  const links: Link[] = span.links.map((l) => ({ ...l, attributes: redactAttributes(l.attributes) }));
  const status = span.status.message === undefined ? span.status : { ...span.status, message: redactText(span.status.message) };
  return {
    name: redactText(span.name),
    kind: span.kind,
    spanContext: () => span.spanContext(),
    parentSpanContext: span.parentSpanContext,
    startTime: span.startTime,
    endTime: span.endTime,
    status,
    attributes: redactAttributes(span.attributes),
    links,
    events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/**
 * Sits in front of the exporting processor (BatchSpanProcessor → OTLP): every finished span is
 * redacted before anything that can export it sees it, so no code path that sets an attribute can
 * leak personal data out of the process — the same rules as the logs (issue 4).
 */
export class RedactingSpanProcessor implements SpanProcessor {
  constructor(private readonly next: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    this.next.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    this.next.onEnd(redactSpan(span));
  }

  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}
