// Tracing with OpenTelemetry (docs/adr/0011): the only importer of @opentelemetry/*. The rest of the
// code uses these helpers and never sees an OTel type.
export {
  currentTraceId, flushTelemetry, initTelemetry, injectTraceparent, shutdownTelemetry, telemetryEnabled, withRemoteParent, withSpan,
} from './telemetry';
export type { SpanAttributes, SpanHandle, SpanKindName, TelemetryConfig, TelemetryOptions, TelemetryState, WithSpanOptions } from './telemetry';
export { isFreeTextKey, redactAttributes, redactSpan, RedactingSpanProcessor } from './redaction';
export { recordSpans } from './recording';
export type { RecordedSpan, SpanRecording } from './recording';
