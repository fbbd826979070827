import {
  Attributes, context, Context, diag, DiagLogLevel, propagation, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, trace, TextMapGetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, SpanExporter, SpanProcessor, TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { createLogger, redactText, setLogSink } from '@flotilla/common';
import type { FlotillaConfig } from '@flotilla/config';
import { RedactingSpanProcessor } from './redaction';

/** The settings tracing reads (libs/config, docs/adr/0011). */
export type TelemetryConfig = Pick<FlotillaConfig,
  'OTEL_SDK_DISABLED' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SERVICE_NAME' | 'OTEL_TRACES_SAMPLER_RATIO' | 'OTEL_BSP_SCHEDULE_DELAY'>;

export interface TelemetryOptions {
  /** An exporter to use instead of OTLP (tests: an InMemorySpanExporter). Still behind the redacting processor. */
  exporter?: SpanExporter;
}

export interface TelemetryState {
  serviceName: string;
  /** Where spans are exported to (`undefined`: created, propagated, not exported). */
  exportsTo?: string;
  enabled: boolean;
}

const TRACER = 'flotilla';
const log = createLogger({ component: 'telemetry' });

let provider: NodeTracerProvider | undefined;
let state: TelemetryState | undefined;
let restoreLogSink: (() => void) | undefined;

/**
 * Log lines written inside a span carry its ids (`trace_id`, `span_id`), so a trace leads to its
 * logs and back. The logger's JSON lines start with `{`; the ids go first, no re-serialising.
 */
function installLogCorrelation(): void {
  const previous = setLogSink((line) => {
    const ctx = line.startsWith('{') ? trace.getSpan(context.active())?.spanContext() : undefined;
    previous(ctx && trace.isSpanContextValid(ctx) ? `{"trace_id":"${ctx.traceId}","span_id":"${ctx.spanId}",${line.slice(1)}` : line);
  });
  restoreLogSink = () => {
    setLogSink(previous);
  };
}

/** Routes the SDK's own errors (an unreachable collector) into the JSON log, redacted, at most once a minute per message. */
function installDiagLogger(): void {
  const lastAt = new Map<string, number>();
  // The exporter reports an error as its JSON serialisation (with the stack): keep the message.
  const readable = (s: string): string => {
    if (!s.startsWith('{')) return s;
    try {
      const m = (JSON.parse(s) as { message?: unknown }).message;
      return typeof m === 'string' ? m : s;
    } catch {
      return s;
    }
  };
  const report = (level: 'warn' | 'error') => (message: string, ...args: unknown[]): void => {
    const text = redactText(`${readable(message)} ${args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? readable(a) : '')).join(' ')}`.trim()).slice(0, 500);
    const now = Date.now();
    if ((lastAt.get(text) ?? 0) > now - 60_000) return;
    lastAt.set(text, now);
    log[level]('tracing: ' + text);
  };
  const ignore = (): void => undefined;
  diag.setLogger({ error: report('error'), warn: report('warn'), info: ignore, debug: ignore, verbose: ignore }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}

/**
 * Starts tracing for this process, once (later calls return the first call's state): a
 * NodeTracerProvider (AsyncLocalStorage context, W3C trace-context propagation), parent-based
 * sampling at OTEL_TRACES_SAMPLER_RATIO, and — when OTEL_EXPORTER_OTLP_ENDPOINT is set — a
 * BatchSpanProcessor exporting OTLP/HTTP JSON to `<endpoint>/v1/traces`, behind the redacting
 * processor. Without an endpoint spans are still created, so trace context still travels on every
 * message, but nothing is exported. OTEL_SDK_DISABLED=true: nothing at all (the API's no-ops).
 */
export function initTelemetry(serviceName: string, config: TelemetryConfig, options: TelemetryOptions = {}): TelemetryState {
  if (state) return state;
  const name = config.OTEL_SERVICE_NAME ?? serviceName;
  if (config.OTEL_SDK_DISABLED) {
    state = { serviceName: name, enabled: false };
    return state;
  }
  installDiagLogger();
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const exporter = options.exporter ?? (endpoint ? new OTLPTraceExporter({ url: `${endpoint}/v1/traces`, timeoutMillis: 5_000 }) : undefined);
  const spanProcessors: SpanProcessor[] = exporter
    ? [new RedactingSpanProcessor(new BatchSpanProcessor(exporter, {
      scheduledDelayMillis: config.OTEL_BSP_SCHEDULE_DELAY, maxQueueSize: 8192, maxExportBatchSize: 512, exportTimeoutMillis: 5_000,
    }))]
    : [];
  const ratio = config.OTEL_TRACES_SAMPLER_RATIO;
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: name, [ATTR_SERVICE_VERSION]: process.env['npm_package_version'] ?? '0.1.0' }),
    sampler: new ParentBasedSampler({ root: ratio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio) }),
    spanProcessors,
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  installLogCorrelation();
  state = { serviceName: name, exportsTo: exporter ? (endpoint ? `${endpoint}/v1/traces` : 'custom exporter') : undefined, enabled: true };
  return state;
}

/** Exports what is still buffered (bounded by the exporter's timeout). */
export async function flushTelemetry(): Promise<void> {
  await provider?.forceFlush();
}

/** Flushes and stops tracing; the API falls back to no-ops. Safe to call more than once. */
export async function shutdownTelemetry(): Promise<void> {
  const p = provider;
  provider = undefined;
  state = undefined;
  restoreLogSink?.();
  restoreLogSink = undefined;
  if (!p) return;
  try {
    await p.shutdown();
  } finally {
    trace.disable();
    propagation.disable();
    context.disable();
    diag.disable();
  }
}

/** The kinds of span Flotilla creates (OTel SpanKind without importing OTel). */
export type SpanKindName = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
const KINDS: Record<SpanKindName, SpanKind> = {
  internal: SpanKind.INTERNAL, server: SpanKind.SERVER, client: SpanKind.CLIENT, producer: SpanKind.PRODUCER, consumer: SpanKind.CONSUMER,
};

/** Span attribute values Flotilla records: ids, names, counts, flags — never payloads or free text. */
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** What a `withSpan` callback may do to its span, without importing OTel. */
export interface SpanHandle {
  setAttribute(key: string, value: string | number | boolean | undefined): void;
  addEvent(name: string, attributes?: SpanAttributes): void;
  /** Marks the span failed with a (redacted on export) reason, without throwing. */
  fail(reason: string): void;
  /** Renames the span (e.g. once the route is known). */
  rename(name: string): void;
}

export interface WithSpanOptions {
  kind?: SpanKindName;
  /** Errors that are not failures of this span (a deferral): recorded as an event, status left unset. */
  expected?: (err: unknown) => boolean;
}

function clean(attributes: SpanAttributes | undefined): Attributes {
  const out: Attributes = {};
  if (attributes) for (const [k, v] of Object.entries(attributes)) if (v !== undefined) out[k] = v;
  return out;
}

function handleOf(span: Span): SpanHandle {
  return {
    setAttribute: (k, v) => {
      if (v !== undefined) span.setAttribute(k, v);
    },
    addEvent: (n, a) => span.addEvent(n, clean(a)),
    fail: (reason) => span.setStatus({ code: SpanStatusCode.ERROR, message: reason }),
    rename: (n) => span.updateName(n),
  };
}

/**
 * Runs `fn` in a new span, a child of the active one (or of the remote parent set by
 * `withRemoteParent`); the span is active inside `fn` — messages published there carry it — and
 * ends when `fn` settles. A throw marks it failed (the exception is recorded, redacted on export)
 * and is rethrown. With tracing off, `fn` just runs.
 */
export function withSpan<T>(name: string, attributes: SpanAttributes | undefined, fn: (span: SpanHandle) => Promise<T> | T, options: WithSpanOptions = {}): Promise<T> {
  const tracer = trace.getTracer(TRACER);
  return tracer.startActiveSpan(name, { kind: KINDS[options.kind ?? 'internal'], attributes: clean(attributes) }, async (span) => {
    try {
      return await fn(handleOf(span));
    } catch (err) {
      if (options.expected?.(err)) {
        span.addEvent((err as Error).name || 'expected');
      } else {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      }
      throw err;
    } finally {
      span.end();
    }
  });
}

const headerGetter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** The W3C `traceparent` of the active span, or `undefined` with no (valid) active span or tracing off. */
export function injectTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier['traceparent'];
}

/** The context `traceparent` (and `tracestate`) describe, on top of no other: a remote parent. */
function remoteContext(traceparent: string, tracestate?: string): Context {
  const carrier: Record<string, string> = { traceparent };
  if (tracestate) carrier['tracestate'] = tracestate;
  return propagation.extract(ROOT_CONTEXT, carrier, headerGetter);
}

/**
 * Runs `fn` with the span described by `traceparent` as the active (remote) parent, so spans
 * started inside are its children. A missing or malformed `traceparent` runs `fn` as the start of
 * a new trace (never inside whatever happened to be active).
 */
export function withRemoteParent<T>(traceparent: string | undefined, fn: () => T, tracestate?: string): T {
  const ctx = traceparent ? remoteContext(traceparent, tracestate) : ROOT_CONTEXT;
  return context.with(ctx, fn);
}

/** The active trace id (for log lines), or `undefined`. */
export function currentTraceId(): string | undefined {
  const span = trace.getSpan(context.active());
  const ctx = span?.spanContext();
  return ctx && trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
}

/** True once `initTelemetry` started tracing in this process. */
export function telemetryEnabled(): boolean {
  return state?.enabled === true;
}
