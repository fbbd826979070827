import { ErrorCode, FlotillaError } from '@flotilla/common';
import { describeConfig, loadConfig } from './index';

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

  it('redacts secrets when described', () => {
    const d = describeConfig(loadConfig({ OPENAI_API_KEY: 'sk-secret', MONGO_URL: 'mongodb://u:p@h/db', KAFKA_SASL_PASSWORD: 'pw' }));
    expect(JSON.stringify(d)).not.toMatch(/sk-secret|u:p@|"pw"/);
    expect(d['OPENAI_API_KEY']).toBe('[redacted]');
    expect(d['PORT']).toBe(8080);
  });
});
