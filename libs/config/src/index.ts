import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import { createHash } from 'node:crypto';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength, validateSync, ValidateIf } from 'class-validator';
import { ErrorCode, FlotillaError } from '@flotilla/common';

const SECRET = Symbol('secret');
/** Marks a setting whose value must never be logged or shown. */
function Secret(): PropertyDecorator {
  return (target, key) => {
    const list: (string | symbol)[] = Reflect.getMetadata(SECRET, target) ?? [];
    Reflect.defineMetadata(SECRET, [...list, key], target);
  };
}
const toInt = ({ value }: { value: unknown }): unknown => (value === undefined || value === '' ? undefined : Number(value));
const toBool = ({ value }: { value: unknown }): unknown => (value === undefined || value === '' ? undefined : ['1', 'true', 'yes'].includes(String(value).toLowerCase()));

/**
 * Flotilla's whole configuration, read from the environment once at boot and validated; a bad value
 * stops the process with every problem listed. The README's configuration reference mirrors this.
 */
export class FlotillaConfig {
  /** `embedded`: everything in one process on one SQLite file. `distributed`: Kafka + MongoDB. */
  @IsIn(['embedded', 'distributed'])
  FLOTILLA_MODE: 'embedded' | 'distributed' = 'embedded';

  /** Where embedded mode keeps its SQLite file (and the retriever its local vectors). */
  @IsString()
  FLOTILLA_DATA_DIR = '.data';

  /** HTTP port of this service (gateway: REST + WebSocket; others: health only). */
  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 8080;

  @IsIn(['127.0.0.1', '0.0.0.0', '::', 'localhost'])
  HOST = '127.0.0.1';

  @ValidateIf((c: FlotillaConfig) => c.FLOTILLA_MODE === 'distributed')
  @IsString()
  KAFKA_BROKERS = '127.0.0.1:19092';

  @IsString()
  KAFKA_CLIENT_ID = 'flotilla';

  @Transform(toBool) @IsBoolean()
  KAFKA_SSL = false;

  /** Prefix of every topic and consumer group on the broker (isolates deployments or test runs). */
  @IsOptional() @Matches(/^[A-Za-z0-9._-]{0,64}$/)
  KAFKA_NAMESPACE?: string;

  @IsOptional() @IsIn(['plain', 'scram-sha-256', 'scram-sha-512'])
  KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512';

  @IsOptional() @IsString()
  KAFKA_SASL_USERNAME?: string;

  @Secret() @IsOptional() @IsString()
  KAFKA_SASL_PASSWORD?: string;

  /** PEM file of the CA(s) that signed the brokers' certificates (default: the system's trusted CAs). Needs KAFKA_SSL. */
  @IsOptional() @IsString()
  KAFKA_SSL_CA_FILE?: string;

  /** PEM client certificate for mutual TLS to the brokers (with KAFKA_SSL_KEY_FILE). Needs KAFKA_SSL. */
  @IsOptional() @IsString()
  KAFKA_SSL_CERT_FILE?: string;

  /** PEM private key of KAFKA_SSL_CERT_FILE. */
  @IsOptional() @IsString()
  KAFKA_SSL_KEY_FILE?: string;

  /** Passphrase of KAFKA_SSL_KEY_FILE, when it is encrypted. */
  @Secret() @IsOptional() @IsString()
  KAFKA_SSL_KEY_PASSWORD?: string;

  /** Verify the brokers' certificates (and host names). Turn off only to debug a test cluster. */
  @Transform(toBool) @IsBoolean()
  KAFKA_SSL_REJECT_UNAUTHORIZED = true;

  @Secret() @ValidateIf((c: FlotillaConfig) => c.FLOTILLA_MODE === 'distributed')
  @IsString()
  MONGO_URL = 'mongodb://127.0.0.1:27027/flotilla';

  /** TLS to the MongoDB-compatible server (same as `tls=true` in MONGO_URL). */
  @Transform(toBool) @IsBoolean()
  MONGO_TLS = false;

  /** PEM file of the CA(s) that signed the server's certificate. Needs MONGO_TLS. */
  @IsOptional() @IsString()
  MONGO_TLS_CA_FILE?: string;

  /** PEM file holding the client certificate and its private key, for X.509 / mutual TLS. Needs MONGO_TLS. */
  @IsOptional() @IsString()
  MONGO_TLS_CERT_KEY_FILE?: string;

  /** Accept a server certificate whose host name does not match (the chain is still verified). Debugging only. */
  @Transform(toBool) @IsBoolean()
  MONGO_TLS_ALLOW_INVALID_HOSTNAMES = false;

  @IsOptional() @IsUrl({ require_tld: false })
  QDRANT_URL?: string;

  /** Any OpenAI-compatible endpoint; with no key the built-in deterministic local model is used. */
  @IsOptional() @IsUrl({ require_tld: false })
  OPENAI_BASE_URL?: string;

  @Secret() @IsOptional() @IsString()
  OPENAI_API_KEY?: string;

  @IsString()
  OPENAI_MODEL = 'gpt-4o-mini';

  /** Embeddings model on the same endpoint; unset = the built-in local (lexical) embedder. */
  @IsOptional() @IsString()
  OPENAI_EMBEDDING_MODEL?: string;

  @Transform(toInt) @IsInt() @Min(8)
  OPENAI_EMBEDDING_DIMENSION = 1536;

  @Secret() @IsOptional() @IsString()
  QDRANT_API_KEY?: string;

  /**
   * Models beyond the built-in local one, as JSON: `[{"name":"gpt-4o-mini","rpm":500,"tpm":200000,
   * "inputPer1M":0.15,"outputPer1M":0.6}]` (all served by the OpenAI-compatible endpoint).
   */
  @IsOptional() @IsString()
  LLM_MODELS?: string;

  /** Fallback chain per tier, as JSON: `{"simple":["local"],"complex":["gpt-4o-mini","local"],"critical":[...]}`. */
  @IsOptional() @IsString()
  LLM_ROUTES?: string;

  /** Share of each model's RPM/TPM kept unused, so shared budgets stay under the provider's limits. */
  @Transform(({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value))) @IsOptional() @Min(0) @Max(0.9)
  LLM_BUDGET_HEADROOM = 0.1;

  /** How long an identical model call is answered from the response cache (0 disables it). */
  @Transform(toInt) @IsInt() @Min(0)
  LLM_CACHE_TTL_MS = 300000;

  /**
   * Longest a whole-response call to one model may take (ms): a completion, or a stream that offers
   * tools. Past it the call is aborted, counts as that model's failure towards its circuit breaker, and
   * the next model of the chain answers. A streamed text answer is not cut by it (see the next two).
   */
  @Transform(toInt) @IsInt() @Min(100)
  LLM_ATTEMPT_TIMEOUT_MS = 10000;

  /** A streamed answer that sends no first token within this (ms) times out the same way: the provider hangs. */
  @Transform(toInt) @IsInt() @Min(100)
  LLM_FIRST_TOKEN_TIMEOUT_MS = 5000;

  /** A streamed answer that, after its first token, sends nothing for this long (ms) times out the same way: the provider stalled. */
  @Transform(toInt) @IsInt() @Min(100)
  LLM_STREAM_IDLE_TIMEOUT_MS = 5000;

  /** Of a model call's deadline, the time (ms) kept free for the next model of the chain when one does not answer. */
  @Transform(toInt) @IsInt() @Min(0)
  LLM_FALLBACK_RESERVE_MS = 2000;

  /** Conversation sessions idle longer than this are deleted with their turns (memory TTL). */
  @Transform(toInt) @IsInt() @Min(60000)
  SESSION_IDLE_TTL_MS = 7 * 24 * 3600 * 1000;

  /** Tokens a tenant may use per UTC day (0 = unlimited); past it, admission refuses with 429. */
  @Transform(toInt) @IsInt() @Min(0)
  TENANT_DAILY_TOKEN_BUDGET = 0;

  /** Base URL of the business services the tool agent calls (the sample service by default). */
  @IsUrl({ require_tld: false })
  TOOLS_BASE_URL = 'http://127.0.0.1:8090';

  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  SAMPLE_BUSINESS_PORT = 8090;

  /** Largest REST body / WebSocket frame accepted, in bytes. */
  @Transform(toInt) @IsInt() @Min(1024)
  MAX_REQUEST_BYTES = 65536;

  /** How long a workflow may run before the gateway stops waiting for it (ms). */
  @Transform(toInt) @IsInt() @Min(1000)
  WORKFLOW_TIMEOUT_MS = 60000;

  // ---- workflow timing (pinned into each workflow at its start; docs/adr/0007) ----

  /** A workflow's deadline from its start (a request's own `timeoutMs` wins): then DEADLINE_EXCEEDED. */
  @Transform(toInt) @IsInt() @Min(1000)
  WORKFLOW_DEADLINE_MS = 300000;

  /** Per step kind, how long an attempt may take to report before it times out and is retried, e.g. `tool=30000,plan=60000`. */
  @IsOptional() @Matches(/^(\s*(plan|compose|retrieve|tool|validate)=\d+\s*)(,\s*(plan|compose|retrieve|tool|validate)=\d+\s*)*$/, { message: 'must be kind=ms pairs, e.g. tool=30000,plan=60000' })
  STEP_TIMEOUTS_MS?: string;

  /**
   * How long a side-effecting step (a refund) waits for the user's confirmation before the workflow
   * ends as expired with nothing done. Pinned per workflow; the workflow's deadline still applies.
   */
  @Transform(toInt) @IsInt() @Min(1000)
  CONFIRMATION_TIMEOUT_MS = 120000;

  /** Retry backoff: before attempt n, min(max, base · 2^(n−2)) ms with jitter. */
  @Transform(toInt) @IsInt() @Min(0)
  RETRY_BACKOFF_BASE_MS = 1000;

  @Transform(toInt) @IsInt() @Min(0)
  RETRY_BACKOFF_MAX_MS = 30000;

  /**
   * The most batch workflows (intake topic, REST) the coordinator runs at once; more wait on the
   * intake topic. Within it, the bound is learned from batch latency (docs/adr/0015).
   */
  @Transform(toInt) @IsInt() @Min(1)
  COORDINATOR_MAX_ACTIVE_BATCH = 500;

  /**
   * Batch workflows while chat is being served. 0 (the default) is strict priority: the coordinator's
   * whole batch lane — new batch requests, and the step results and timers of running batch
   * workflows — waits while any chat workflow is in flight, and goes on in chat's gaps (with
   * AGENT_BATCH_CONCURRENCY_WHILE_INTERACTIVE=0, the agents' half); while chat is served, new batch
   * workflows start at a rate learned from chat's latency (docs/adr/0016). A number below the learned bound
   * instead caps running batch workflows within a second of a chat input; COORDINATOR_MAX_ACTIVE_BATCH
   * or more turns the hold off (shared priority). README "Lanes and backpressure", docs/adr/0015.
   */
  @Transform(toInt) @IsInt() @Min(0)
  COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE = 0;

  /**
   * Remember which broker coordinates each group and transaction until a request to it fails,
   * instead of asking the broker before every coordinator request (kafkajs's behaviour: four extra
   * round trips per transaction). docs/adr/0017. `false` runs kafkajs as shipped.
   */
  @Transform(toBool) @IsBoolean()
  KAFKA_CACHE_COORDINATORS = true;

  /** The coordinator's Kafka transactional id; a stable one per replica (StatefulSet pod name) fences zombies. */
  @IsOptional() @IsString()
  KAFKA_TRANSACTIONAL_ID?: string;

  @IsIn(['debug', 'info', 'warn', 'error'])
  LOG_LEVEL: 'debug' | 'info' | 'warn' | 'error' = 'info';

  // ---- security (docs/adr/0008) ----

  /**
   * Every REST request and WebSocket connection must carry a credential (JWT or API key), and the
   * tenant comes from it. Off (the embedded default, for development only): a request without a
   * credential acts for the tenant named by `X-Tenant-Id` / `?tenant=`.
   */
  @Transform(toBool) @IsBoolean()
  AUTH_REQUIRED = false;

  /** Shared secret for HS256 JWTs (at least 32 characters); unset = HS256 tokens are refused. */
  @Secret() @IsOptional() @IsString() @MinLength(32, { message: 'AUTH_JWT_SECRET must be at least 32 characters' })
  AUTH_JWT_SECRET?: string;

  /** JWKS URL of the identity provider for RS256 JWTs; unset = RS256 tokens are refused. */
  @IsOptional() @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  AUTH_JWKS_URL?: string;

  /** Required `iss` of every JWT (unset = not checked). */
  @IsOptional() @IsString()
  AUTH_JWT_ISSUER?: string;

  /** Required `aud` of every JWT (unset = not checked). */
  @IsOptional() @IsString()
  AUTH_JWT_AUDIENCE?: string;

  /** JWT claim that names the tenant. */
  @Matches(/^[A-Za-z0-9_.:/-]{1,128}$/)
  AUTH_TENANT_CLAIM = 'tenant_id';

  /** JWT claim with the roles (array or space-separated string); `scope`/`scp` are read too. */
  @Matches(/^[A-Za-z0-9_.:/-]{1,128}$/)
  AUTH_ROLES_CLAIM = 'roles';

  /** Clock skew allowed on `exp`/`nbf`/`iat`, in seconds. */
  @Transform(toInt) @IsInt() @Min(0) @Max(300)
  AUTH_CLOCK_TOLERANCE_SECONDS = 30;

  /**
   * An operator API key (`flk_<id>_<secret>`; generate one with
   * `node -e "console.log(require('./libs/auth/dist').generateApiKey().key)"`) that holds the `admin`
   * and `operator` roles for AUTH_BOOTSTRAP_TENANT: it creates the first real keys. Keep it in the
   * secret store; rotate it by deploying a new one.
   */
  @Secret() @IsOptional() @Matches(/^flk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/, { message: 'AUTH_BOOTSTRAP_API_KEY must be a key of the form flk_<12 chars>_<43 chars>' })
  AUTH_BOOTSTRAP_API_KEY?: string;

  /** Tenant of the bootstrap key. */
  @Matches(/^[A-Za-z0-9_.:-]{1,128}$/)
  AUTH_BOOTSTRAP_TENANT = 'system';

  /** How long a replica trusts an API key it looked up (ms): a revocation reaches other replicas within this. */
  @Transform(toInt) @IsInt() @Min(0) @Max(300000)
  AUTH_API_KEY_CACHE_MS = 5000;

  /** Submissions (REST `POST /v1/workflows` and WebSocket asks) per tenant per minute, all replicas together (0 = no limit). */
  @Transform(toInt) @IsInt() @Min(0)
  RATE_LIMIT_TENANT_PER_MINUTE = 0;

  /** Submissions per user (or API key) per minute, all replicas together (0 = no limit). */
  @Transform(toInt) @IsInt() @Min(0)
  RATE_LIMIT_USER_PER_MINUTE = 0;

  /**
   * WebSocket frames a connection may send per second on average (0 = no limit, the development
   * default; the k8s and compose deployments set 20). Frames beyond it get a RATE_LIMITED error frame.
   */
  @Transform(toInt) @IsInt() @Min(0)
  WS_MESSAGES_PER_SECOND = 0;

  /** WebSocket frames a connection may send in a burst above the average. */
  @Transform(toInt) @IsInt() @Min(1)
  WS_MESSAGE_BURST = 40;

  // ---- work lanes and backpressure (README "Lanes and backpressure") ----

  /** Interactive (chat) agent tasks in flight at once per process, all agents of the process together. */
  @Transform(toInt) @IsInt() @Min(1) @Max(1000)
  AGENT_INTERACTIVE_CONCURRENCY = 24;

  /** Batch agent tasks and document ingestions in flight at once per process while no chat work is around; they start only while no interactive task waits. */
  @Transform(toInt) @IsInt() @Min(1) @Max(1000)
  AGENT_BATCH_CONCURRENCY = 4;

  /**
   * The same bound while interactive tasks run, wait, or ran in the last 250 ms (at most
   * AGENT_BATCH_CONCURRENCY). 0 (the default) is strict priority: no batch task starts until chat
   * has been quiet for 250 ms.
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(1000)
  AGENT_BATCH_CONCURRENCY_WHILE_INTERACTIVE = 0;

  /**
   * The lanes this process's agents consume: `interactive,batch` (default), `interactive` or `batch`.
   * Batch-only replicas let an operator give the batch lane processes — and nodes — of its own
   * (ADR 0013; on one host, a lower `nice` did not help). Every lane must be served by some process.
   */
  @Matches(/^(interactive|batch)(,(interactive|batch))?$/, { message: 'AGENT_LANES must be "interactive,batch", "interactive" or "batch"' })
  AGENT_LANES = 'interactive,batch';

  /** Batch-lane lag (messages not yet consumed) past which the gateway answers new batch work with 503 + Retry-After (0 = off). */
  @Transform(toInt) @IsInt() @Min(0)
  BACKPRESSURE_BATCH_LAG = 5000;

  /** How often the gateway measures the lanes' lag (ms); between two measurements the last one is used. */
  @Transform(toInt) @IsInt() @Min(100) @Max(60000)
  BACKPRESSURE_POLL_MS = 1000;

  // ---- claim checks and snapshots (docs/adr/0010) ----

  /**
   * Message values larger than this many bytes are stored in the payload store (SQLite / MongoDB)
   * and travel by reference (0 = off). Below Kafka's 1 MB message limit, with room for a dead-letter
   * record's envelope.
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(900_000)
  CLAIM_CHECK_THRESHOLD_BYTES = 256 * 1024;

  /** Stored payloads older than this are purged (keep it above the topics' retention). */
  @Transform(toInt) @IsInt() @Min(1) @Max(3650)
  CLAIM_CHECK_TTL_DAYS = 14;

  /** The coordinator snapshots its workflow states after this many applied events (0 = no snapshots: every boot replays the whole log). */
  @Transform(toInt) @IsInt() @Min(0)
  WORKFLOW_SNAPSHOT_EVERY_EVENTS = 5000;

  /** …and at least this often while events arrive (ms), and at a graceful shutdown. */
  @Transform(toInt) @IsInt() @Min(1000)
  WORKFLOW_SNAPSHOT_INTERVAL_MS = 60000;

  /** Finished workflows (tombstones, for deduplicating late resubmissions) kept in a snapshot, newest first. */
  @Transform(toInt) @IsInt() @Min(0)
  WORKFLOW_SNAPSHOT_TOMBSTONES = 100000;

  // ---- tracing (docs/adr/0011) ----

  /** `true`: no tracing at all (no spans, no trace context on messages). */
  @Transform(toBool) @IsBoolean()
  OTEL_SDK_DISABLED = false;

  /** OTLP/HTTP (JSON) collector base URL; spans go to `<url>/v1/traces`. Unset: spans are still created (trace context travels) but not exported. */
  @IsOptional() @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;

  /** The `service.name` of this process's spans (default: the service, or `flotilla` embedded). */
  @IsOptional() @Matches(/^[A-Za-z0-9_.:-]{1,128}$/)
  OTEL_SERVICE_NAME?: string;

  /** Share of new traces sampled (0–1); a span whose parent was sampled is always sampled (parent-based). */
  @Transform(toInt) @Min(0) @Max(1)
  OTEL_TRACES_SAMPLER_RATIO = 1;

  /** How long finished spans wait before they are exported in a batch (ms). */
  @Transform(toInt) @IsInt() @Min(10) @Max(60000)
  OTEL_BSP_SCHEDULE_DELAY = 2000;
}

/** Settings that only mean something together; checked after each one is valid on its own. */
function crossChecks(c: FlotillaConfig): { field: string; reasons: string[] }[] {
  const out: { field: string; reasons: string[] }[] = [];
  for (const k of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const) {
    if (c[k] && !c.KAFKA_SSL) out.push({ field: k, reasons: ['needs KAFKA_SSL=true'] });
  }
  if (!!c.KAFKA_SSL_CERT_FILE !== !!c.KAFKA_SSL_KEY_FILE) out.push({ field: 'KAFKA_SSL_CERT_FILE', reasons: ['KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together'] });
  const sasl = [c.KAFKA_SASL_MECHANISM, c.KAFKA_SASL_USERNAME, c.KAFKA_SASL_PASSWORD].filter((v) => v !== undefined && v !== '').length;
  if (sasl > 0 && sasl < 3) out.push({ field: 'KAFKA_SASL_MECHANISM', reasons: ['KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD go together'] });
  for (const k of ['MONGO_TLS_CA_FILE', 'MONGO_TLS_CERT_KEY_FILE', 'MONGO_TLS_ALLOW_INVALID_HOSTNAMES'] as const) {
    if (c[k] && !c.MONGO_TLS) out.push({ field: k, reasons: ['needs MONGO_TLS=true'] });
  }
  // A completion's whole answer takes at least a stream's time to its first token: a first-token limit
  // at or past the attempt's is a typo, not a choice.
  if (c.LLM_FIRST_TOKEN_TIMEOUT_MS >= c.LLM_ATTEMPT_TIMEOUT_MS) out.push({ field: 'LLM_FIRST_TOKEN_TIMEOUT_MS', reasons: ['must be less than LLM_ATTEMPT_TIMEOUT_MS'] });
  return out;
}

/** Reads and validates the configuration; throws one error listing every invalid setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): FlotillaConfig {
  const defaults = new FlotillaConfig();
  const known = Object.keys(defaults).concat(['OPENAI_EMBEDDING_MODEL', 'QDRANT_API_KEY', 'LLM_MODELS', 'LLM_ROUTES', 'KAFKA_NAMESPACE', 'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'QDRANT_URL', 'OPENAI_BASE_URL', 'OPENAI_API_KEY'], OPTIONAL_KEYS);
  const raw: Record<string, unknown> = {};
  for (const k of known) if (env[k] !== undefined && env[k] !== '') raw[k] = env[k];
  const config = Object.assign(defaults, plainToInstance(FlotillaConfig, raw, { exposeDefaultValues: true }));
  const errors = validateSync(config, { forbidUnknownValues: true });
  const fields = errors.map((e) => ({ field: e.property, reasons: Object.values(e.constraints ?? {}) }));
  if (!fields.length) fields.push(...crossChecks(config));
  if (fields.length) {
    throw new FlotillaError(ErrorCode.ConfigInvalid, `invalid configuration: ${fields.map((f) => `${f.field} (${f.reasons.join('; ')})`).join(', ')}`, { retryable: false, fields });
  }
  return config;
}

/** Optional settings without a default (absent from `new FlotillaConfig()`'s keys), read from the environment too. */
const OPTIONAL_KEYS = [
  'KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_KEY_PASSWORD', 'MONGO_TLS_CA_FILE', 'MONGO_TLS_CERT_KEY_FILE',
  'AUTH_JWT_SECRET', 'AUTH_JWKS_URL', 'AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE', 'AUTH_BOOTSTRAP_API_KEY',
  'STEP_TIMEOUTS_MS', 'KAFKA_TRANSACTIONAL_ID',
  'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME',
];

/** Names of the settings marked secret. */
export function secretKeys(): string[] {
  return ((Reflect.getMetadata(SECRET, FlotillaConfig.prototype) ?? []) as (string | symbol)[]).map(String);
}

/**
 * The effective configuration as it may be recorded (secrets redacted, keys sorted) and its
 * SHA-256: two deployments with the same fingerprint run the same non-secret configuration, and
 * a changed setting changes the hash. Secret values are not hashed (a hash of a short password is
 * a guessable hash); whether each secret is set is.
 */
export function configFingerprint(config: FlotillaConfig): { config: Record<string, unknown>; sha256: string } {
  const described = describeConfig(config);
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(described).sort()) if (described[k] !== undefined) sorted[k] = described[k];
  return { config: sorted, sha256: createHash('sha256').update(JSON.stringify(sorted)).digest('hex') };
}

/** The configuration with every secret replaced by `[redacted]`, safe to log. */
export function describeConfig(config: FlotillaConfig): Record<string, unknown> {
  const secrets: (string | symbol)[] = Reflect.getMetadata(SECRET, FlotillaConfig.prototype) ?? [];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) out[k] = secrets.includes(k) && v !== undefined ? '[redacted]' : v;
  return out;
}
