import { loadConfig } from '@flotilla/config';
import { kafkaBusOptions, kafkaSaslOptions, kafkaSslOptions } from './factory';

const base = { FLOTILLA_MODE: 'distributed', KAFKA_BROKERS: 'k1:9093, k2:9093', MONGO_URL: 'mongodb://127.0.0.1:1/x' };
const files: Record<string, string> = { '/tls/ca.pem': 'CA PEM', '/tls/client.pem': 'CERT PEM', '/tls/client.key': 'KEY PEM' };
const read = (path: string): Buffer => {
  if (!(path in files)) throw new Error(`ENOENT: ${path}`);
  return Buffer.from(files[path]!);
};

describe('Kafka client options from configuration', () => {
  it('no TLS and no SASL by default', () => {
    const o = kafkaBusOptions(loadConfig(base), 'flotilla-gateway', read);
    expect(o).toMatchObject({ brokers: ['k1:9093', 'k2:9093'], clientId: 'flotilla-gateway', ssl: false });
    expect(o.sasl).toBeUndefined();
  });

  it('KAFKA_SSL alone: TLS with the system CAs and full verification', () => {
    expect(kafkaSslOptions(loadConfig({ ...base, KAFKA_SSL: 'true' }), read)).toBe(true);
  });

  it('a CA bundle, a client certificate and key (with passphrase) become Node TLS options, read at boot', () => {
    const ssl = kafkaSslOptions(loadConfig({
      ...base, KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/tls/ca.pem', KAFKA_SSL_CERT_FILE: '/tls/client.pem', KAFKA_SSL_KEY_FILE: '/tls/client.key', KAFKA_SSL_KEY_PASSWORD: 'pw',
    }), read);
    expect(ssl).toEqual({ rejectUnauthorized: true, ca: [Buffer.from('CA PEM')], cert: Buffer.from('CERT PEM'), key: Buffer.from('KEY PEM'), passphrase: 'pw' });
  });

  it('KAFKA_SSL_REJECT_UNAUTHORIZED=false turns verification off explicitly', () => {
    expect(kafkaSslOptions(loadConfig({ ...base, KAFKA_SSL: 'true', KAFKA_SSL_REJECT_UNAUTHORIZED: 'false' }), read)).toEqual({ rejectUnauthorized: false });
  });

  it('a missing certificate file stops the boot instead of failing every reconnect', () => {
    expect(() => kafkaSslOptions(loadConfig({ ...base, KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/tls/missing.pem' }), read)).toThrow(/ENOENT/);
  });

  it('SASL from mechanism, username and password', () => {
    const config = loadConfig({ ...base, KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'flotilla', KAFKA_SASL_PASSWORD: 'secret' });
    expect(kafkaSaslOptions(config)).toEqual({ mechanism: 'scram-sha-512', username: 'flotilla', password: 'secret' });
    expect(kafkaBusOptions(config, 'c', read)).toMatchObject({ ssl: true, sasl: { mechanism: 'scram-sha-512' } });
  });
});
