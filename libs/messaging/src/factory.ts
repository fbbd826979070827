import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { FlotillaConfig } from '@flotilla/config';
import { ALL_DELAY_TIERS, ALL_TOPICS, DELAY_PARTITIONS } from '@flotilla/contracts';
import { EmbeddedMessageBus } from './embedded-bus';
import { KafkaBusOptions, KafkaMessageBus } from './kafka-bus';
import { MessageBus } from './port';

type KafkaSecurityConfig = Pick<FlotillaConfig,
  'KAFKA_SSL' | 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE' | 'KAFKA_SSL_KEY_PASSWORD' | 'KAFKA_SSL_REJECT_UNAUTHORIZED'
  | 'KAFKA_SASL_MECHANISM' | 'KAFKA_SASL_USERNAME' | 'KAFKA_SASL_PASSWORD'>;

/**
 * The TLS options for the brokers from configuration: `false` without KAFKA_SSL, `true` (the
 * system's CAs, full verification) with it alone, and Node TLS options when a CA bundle, a client
 * certificate or relaxed verification is configured. Files are read now, at boot, so a missing or
 * unreadable file stops the process instead of failing every reconnect.
 */
export function kafkaSslOptions(config: KafkaSecurityConfig, readFile: (path: string) => Buffer = (p) => readFileSync(p)): boolean | ConnectionOptions {
  if (!config.KAFKA_SSL) return false;
  const custom = config.KAFKA_SSL_CA_FILE || config.KAFKA_SSL_CERT_FILE || config.KAFKA_SSL_KEY_FILE || !config.KAFKA_SSL_REJECT_UNAUTHORIZED;
  if (!custom) return true;
  const tls: ConnectionOptions = { rejectUnauthorized: config.KAFKA_SSL_REJECT_UNAUTHORIZED };
  if (config.KAFKA_SSL_CA_FILE) tls.ca = [readFile(config.KAFKA_SSL_CA_FILE)];
  if (config.KAFKA_SSL_CERT_FILE) tls.cert = readFile(config.KAFKA_SSL_CERT_FILE);
  if (config.KAFKA_SSL_KEY_FILE) tls.key = readFile(config.KAFKA_SSL_KEY_FILE);
  if (config.KAFKA_SSL_KEY_PASSWORD) tls.passphrase = config.KAFKA_SSL_KEY_PASSWORD;
  return tls;
}

/** SASL credentials from configuration (all three settings, or none: libs/config refuses a partial set). */
export function kafkaSaslOptions(config: KafkaSecurityConfig): KafkaBusOptions['sasl'] {
  return config.KAFKA_SASL_MECHANISM && config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD
    ? { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME, password: config.KAFKA_SASL_PASSWORD }
    : undefined;
}

/** The Kafka client options of a distributed-mode service, from configuration. */
export function kafkaBusOptions(config: FlotillaConfig, clientId = config.KAFKA_CLIENT_ID, readFile?: (path: string) => Buffer): KafkaBusOptions {
  return {
    brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter(Boolean),
    clientId,
    namespace: config.KAFKA_NAMESPACE,
    transactionalId: config.KAFKA_TRANSACTIONAL_ID,
    ssl: kafkaSslOptions(config, readFile),
    sasl: kafkaSaslOptions(config),
    cacheCoordinators: config.KAFKA_CACHE_COORDINATORS,
  };
}

/** The module factory that picks the transport from configuration; services never know which. */
export function createMessageBus(config: FlotillaConfig, clientId = config.KAFKA_CLIENT_ID): MessageBus {
  if (config.FLOTILLA_MODE === 'embedded') return new EmbeddedMessageBus(join(config.FLOTILLA_DATA_DIR, 'flotilla.db'));
  return new KafkaMessageBus(kafkaBusOptions(config, clientId));
}

/** Connects and makes sure every Flotilla topic exists with its partition count. */
export async function connectBus(bus: MessageBus): Promise<void> {
  await bus.connect();
  await bus.ensureTopics([
    ...ALL_TOPICS.map((t) => ({ name: t.name, partitions: t.partitions, cleanupPolicy: t.cleanupPolicy })),
    ...ALL_DELAY_TIERS.map((t) => ({ name: t.name, partitions: DELAY_PARTITIONS })),
  ]);
}
