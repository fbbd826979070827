import { loadConfig } from '@flotilla/config';
import { createApiKeyStore, MongoApiKeyStore, mongoUrlFrom, SqliteApiKeyStore } from './index';

const base = { FLOTILLA_MODE: 'distributed', KAFKA_BROKERS: '127.0.0.1:1' };
const params = (url: string): Record<string, string> => Object.fromEntries(new URLSearchParams(url.slice(url.indexOf('?') + 1)));

describe('mongoUrlFrom (MongoDB TLS from configuration)', () => {
  it('leaves MONGO_URL alone without MONGO_TLS', () => {
    expect(mongoUrlFrom(loadConfig({ ...base, MONGO_URL: 'mongodb://u:p@db:27017/flotilla?authSource=admin' }))).toBe('mongodb://u:p@db:27017/flotilla?authSource=admin');
  });

  it('adds tls, the CA file, the client certificate and the host-name exception as connection-string options', () => {
    const url = mongoUrlFrom(loadConfig({
      ...base, MONGO_URL: 'mongodb://u:p@db:27017/flotilla?authSource=admin', MONGO_TLS: 'true', MONGO_TLS_CA_FILE: '/etc/flotilla/tls/ca.pem',
      MONGO_TLS_CERT_KEY_FILE: '/etc/flotilla/tls/client.pem', MONGO_TLS_ALLOW_INVALID_HOSTNAMES: 'true',
    }));
    expect(url.startsWith('mongodb://u:p@db:27017/flotilla?')).toBe(true);
    expect(params(url)).toEqual({
      authSource: 'admin', tls: 'true', tlsCAFile: '/etc/flotilla/tls/ca.pem', tlsCertificateKeyFile: '/etc/flotilla/tls/client.pem', tlsAllowInvalidHostnames: 'true',
    });
  });

  it('works with several hosts, mongodb+srv and no path, and replaces a conflicting ssl/tls option of the URL', () => {
    expect(mongoUrlFrom(loadConfig({ ...base, MONGO_URL: 'mongodb://a:1,b:2/db?ssl=false&replicaSet=rs0', MONGO_TLS: 'true' }))).toBe('mongodb://a:1,b:2/db?replicaSet=rs0&tls=true');
    expect(mongoUrlFrom(loadConfig({ ...base, MONGO_URL: 'mongodb+srv://cluster.example.com', MONGO_TLS: 'true' }))).toBe('mongodb+srv://cluster.example.com/?tls=true');
    expect(mongoUrlFrom(loadConfig({ ...base, MONGO_URL: 'mongodb://db/x?tls=false', MONGO_TLS: 'true' }))).toBe('mongodb://db/x?tls=true');
  });
});

describe('createApiKeyStore', () => {
  it('chooses SQLite in embedded mode and MongoDB in distributed mode', () => {
    expect(createApiKeyStore(loadConfig({ FLOTILLA_DATA_DIR: '/tmp/flotilla-factory-test' }))).toBeInstanceOf(SqliteApiKeyStore);
    expect(createApiKeyStore(loadConfig({ ...base, MONGO_URL: 'mongodb://127.0.0.1:1/x' }))).toBeInstanceOf(MongoApiKeyStore);
  });
});
