// Tracing with OpenTelemetry: the only importer of @opentelemetry/*.
export {};
