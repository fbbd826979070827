import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { flushTelemetry, initTelemetry, shutdownTelemetry, SpanKindName } from './telemetry';

/** A finished span as exported (after redaction), without OTel types: for tests of instrumented code. */
export interface RecordedSpan {
  name: string;
  kind: SpanKindName;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  status: 'unset' | 'ok' | 'error';
  events: string[];
}

const KIND_NAMES: Record<SpanKind, SpanKindName> = {
  [SpanKind.INTERNAL]: 'internal', [SpanKind.SERVER]: 'server', [SpanKind.CLIENT]: 'client', [SpanKind.PRODUCER]: 'producer', [SpanKind.CONSUMER]: 'consumer',
};
const STATUS = ['unset', 'ok', 'error'] as const;

export interface SpanRecording {
  /** Every span finished so far (flushes first). */
  spans(): Promise<RecordedSpan[]>;
  /** Stops tracing in this process. */
  stop(): Promise<void>;
}

/**
 * Starts tracing in this process with an in-memory exporter behind the same redacting processor as
 * production (for tests of code that creates spans; lint keeps @opentelemetry/* out of other libs).
 */
export function recordSpans(serviceName = 'test'): SpanRecording {
  const exporter = new InMemorySpanExporter();
  initTelemetry(serviceName, {
    OTEL_SDK_DISABLED: false, OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_SERVICE_NAME: undefined, OTEL_TRACES_SAMPLER_RATIO: 1, OTEL_BSP_SCHEDULE_DELAY: 10,
  }, { exporter });
  return {
    spans: async () => {
      await flushTelemetry();
      return exporter.getFinishedSpans().map((s) => ({
        name: s.name,
        kind: KIND_NAMES[s.kind],
        traceId: s.spanContext().traceId,
        spanId: s.spanContext().spanId,
        parentSpanId: s.parentSpanContext?.spanId,
        attributes: { ...s.attributes },
        status: STATUS[s.status.code],
        events: s.events.map((e) => e.name),
      }));
    },
    stop: () => shutdownTelemetry(),
  };
}
