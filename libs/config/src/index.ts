import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, validateSync, ValidateIf } from 'class-validator';
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

  @Secret() @ValidateIf((c: FlotillaConfig) => c.FLOTILLA_MODE === 'distributed')
  @IsString()
  MONGO_URL = 'mongodb://127.0.0.1:27027/flotilla';

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

  @IsIn(['debug', 'info', 'warn', 'error'])
  LOG_LEVEL: 'debug' | 'info' | 'warn' | 'error' = 'info';
}

/** Reads and validates the configuration; throws one error listing every invalid setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): FlotillaConfig {
  const defaults = new FlotillaConfig();
  const known = Object.keys(defaults).concat(['OPENAI_EMBEDDING_MODEL', 'QDRANT_API_KEY', 'LLM_MODELS', 'LLM_ROUTES', 'KAFKA_NAMESPACE', 'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'QDRANT_URL', 'OPENAI_BASE_URL', 'OPENAI_API_KEY']);
  const raw: Record<string, unknown> = {};
  for (const k of known) if (env[k] !== undefined && env[k] !== '') raw[k] = env[k];
  const config = Object.assign(defaults, plainToInstance(FlotillaConfig, raw, { exposeDefaultValues: true }));
  const errors = validateSync(config, { forbidUnknownValues: true });
  if (errors.length) {
    const fields = errors.map((e) => ({ field: e.property, reasons: Object.values(e.constraints ?? {}) }));
    throw new FlotillaError(ErrorCode.ConfigInvalid, `invalid configuration: ${fields.map((f) => `${f.field} (${f.reasons.join('; ')})`).join(', ')}`, { retryable: false, fields });
  }
  return config;
}

/** The configuration with every secret replaced by `[redacted]`, safe to log. */
export function describeConfig(config: FlotillaConfig): Record<string, unknown> {
  const secrets: (string | symbol)[] = Reflect.getMetadata(SECRET, FlotillaConfig.prototype) ?? [];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) out[k] = secrets.includes(k) && v !== undefined ? '[redacted]' : v;
  return out;
}
