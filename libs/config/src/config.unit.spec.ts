import { ErrorCode, FlotillaError } from '@flotilla/common';
import { configFingerprint, describeConfig, loadConfig } from './index';

describe('loadConfig', () => {
  it('has working defaults for embedded mode', () => {
    const c = loadConfig({});
    expect(c.FLOTILLA_MODE).toBe('embedded');
    expect(c.PORT).toBe(8080);
    expect(c.KAFKA_SSL).toBe(false);
  });

  it('parses numbers and booleans from the environment', () => {
    const c = loadConfig({ PORT: '9000', KAFKA_SSL: 'true', FLOTILLA_MODE: 'distributed', KAFKA_BROKERS: 'a:1,b:2' });
    expect(c.PORT).toBe(9000);
    expect(c.KAFKA_SSL).toBe(true);
    expect(c.KAFKA_BROKERS).toBe('a:1,b:2');
  });

  it('fails fast listing every invalid setting', () => {
    let error: unknown;
    try {
      loadConfig({ FLOTILLA_MODE: 'cloud', PORT: 'abc', TOOLS_BASE_URL: 'not a url' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FlotillaError);
    const e = error as FlotillaError;
    expect(e.code).toBe(ErrorCode.ConfigInvalid);
    expect(e.retryable).toBe(false);
    expect(e.fields.map((f) => f.field).sort()).toEqual(['FLOTILLA_MODE', 'PORT', 'TOOLS_BASE_URL']);
  });

  it('bounds model calls by default, and refuses a first-token timeout that could never fire first', () => {
    const c = loadConfig({});
    expect([c.LLM_ATTEMPT_TIMEOUT_MS, c.LLM_FIRST_TOKEN_TIMEOUT_MS, c.LLM_STREAM_IDLE_TIMEOUT_MS, c.LLM_FALLBACK_RESERVE_MS]).toEqual([10000, 5000, 5000, 2000]);
    expect(loadConfig({ LLM_ATTEMPT_TIMEOUT_MS: '8000', LLM_FIRST_TOKEN_TIMEOUT_MS: '2000', LLM_STREAM_IDLE_TIMEOUT_MS: '60000' }))
      .toMatchObject({ LLM_ATTEMPT_TIMEOUT_MS: 8000, LLM_FIRST_TOKEN_TIMEOUT_MS: 2000, LLM_STREAM_IDLE_TIMEOUT_MS: 60000 });
    expect(() => loadConfig({ LLM_STREAM_IDLE_TIMEOUT_MS: '50' })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid, fields: [expect.objectContaining({ field: 'LLM_STREAM_IDLE_TIMEOUT_MS' })] }) as Error);
    expect(() => loadConfig({ LLM_ATTEMPT_TIMEOUT_MS: '4000' })).toThrow(expect.objectContaining({
      code: ErrorCode.ConfigInvalid, fields: [{ field: 'LLM_FIRST_TOKEN_TIMEOUT_MS', reasons: ['must be less than LLM_ATTEMPT_TIMEOUT_MS'] }],
    }) as Error);
  });

  it('redacts secrets when described', () => {
    const d = describeConfig(loadConfig({ OPENAI_API_KEY: 'sk-secret', MONGO_URL: 'mongodb://u:p@h/db', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'pw' }));
    expect(JSON.stringify(d)).not.toMatch(/sk-secret|u:p@|"pw"/);
    expect(d['OPENAI_API_KEY']).toBe('[redacted]');
    expect(d['PORT']).toBe(8080);
  });
});

const fieldsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    return (err as FlotillaError).fields.map((f) => f.field).sort();
  }
  return [];
};

describe('security settings', () => {
  it('default to development: authentication and limits off', () => {
    const c = loadConfig({});
    expect(c.AUTH_REQUIRED).toBe(false);
    expect(c.AUTH_TENANT_CLAIM).toBe('tenant_id');
    expect(c.RATE_LIMIT_TENANT_PER_MINUTE).toBe(0);
    expect(c.RATE_LIMIT_USER_PER_MINUTE).toBe(0);
    expect(c.WS_MESSAGES_PER_SECOND).toBe(0);
    expect(c.MONGO_TLS).toBe(false);
    expect(c.KAFKA_SSL_REJECT_UNAUTHORIZED).toBe(true);
  });

  it('reads every security setting from the environment', () => {
    const c = loadConfig({
      AUTH_REQUIRED: 'true', AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWKS_URL: 'https://idp.example.com/jwks.json', AUTH_JWT_ISSUER: 'https://idp', AUTH_JWT_AUDIENCE: 'flotilla',
      AUTH_BOOTSTRAP_API_KEY: `flk_${'a'.repeat(12)}_${'B'.repeat(43)}`, RATE_LIMIT_USER_PER_MINUTE: '30', KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/etc/ca.pem',
      MONGO_TLS: 'true', MONGO_TLS_CA_FILE: '/etc/mongo-ca.pem', MONGO_TLS_CERT_KEY_FILE: '/etc/client.pem', MONGO_TLS_ALLOW_INVALID_HOSTNAMES: 'true',
    });
    expect(c).toMatchObject({ AUTH_REQUIRED: true, AUTH_JWKS_URL: 'https://idp.example.com/jwks.json', RATE_LIMIT_USER_PER_MINUTE: 30, KAFKA_SSL_CA_FILE: '/etc/ca.pem', MONGO_TLS_ALLOW_INVALID_HOSTNAMES: true });
    const d = describeConfig(c);
    expect(d['AUTH_JWT_SECRET']).toBe('[redacted]');
    expect(d['AUTH_BOOTSTRAP_API_KEY']).toBe('[redacted]');
    expect(JSON.stringify(d)).not.toContain('x'.repeat(32));
  });

  it('refuses settings that only work together when given apart', () => {
    expect(fieldsOf({ KAFKA_SSL_CA_FILE: '/ca.pem' })).toEqual(['KAFKA_SSL_CA_FILE']);
    expect(fieldsOf({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: '/c.pem' })).toEqual(['KAFKA_SSL_CERT_FILE']);
    expect(fieldsOf({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' })).toEqual(['KAFKA_SASL_MECHANISM']);
    expect(fieldsOf({ MONGO_TLS_CA_FILE: '/ca.pem' })).toEqual(['MONGO_TLS_CA_FILE']);
  });

  it('refuses a short JWT secret, a malformed bootstrap key and a non-URL JWKS', () => {
    expect(fieldsOf({ AUTH_JWT_SECRET: 'short', AUTH_BOOTSTRAP_API_KEY: 'flk_nope', AUTH_JWKS_URL: 'not a url' })).toEqual(['AUTH_BOOTSTRAP_API_KEY', 'AUTH_JWKS_URL', 'AUTH_JWT_SECRET']);
  });
});

describe('configFingerprint', () => {
  it('is stable for the same settings, changes with any setting, and never contains a secret value', () => {
    const a = configFingerprint(loadConfig({ RATE_LIMIT_USER_PER_MINUTE: '10', AUTH_JWT_SECRET: 's'.repeat(40) }));
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(configFingerprint(loadConfig({ AUTH_JWT_SECRET: 's'.repeat(40), RATE_LIMIT_USER_PER_MINUTE: '10' })).sha256).toBe(a.sha256);
    expect(configFingerprint(loadConfig({ RATE_LIMIT_USER_PER_MINUTE: '11', AUTH_JWT_SECRET: 's'.repeat(40) })).sha256).not.toBe(a.sha256);
    expect(JSON.stringify(a.config)).not.toContain('s'.repeat(40));
    expect(a.config['AUTH_JWT_SECRET']).toBe('[redacted]');
  });
});
