import { join } from 'node:path';
import { FlotillaConfig } from '@flotilla/config';
import { ALL_TOPICS } from '@flotilla/contracts';
import { EmbeddedMessageBus } from './embedded-bus';
import { KafkaMessageBus } from './kafka-bus';
import { MessageBus } from './port';

/** The module factory that picks the transport from configuration; services never know which. */
export function createMessageBus(config: FlotillaConfig, clientId = config.KAFKA_CLIENT_ID): MessageBus {
  if (config.FLOTILLA_MODE === 'embedded') return new EmbeddedMessageBus(join(config.FLOTILLA_DATA_DIR, 'flotilla.db'));
  return new KafkaMessageBus({
    brokers: config.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter(Boolean),
    clientId,
    namespace: config.KAFKA_NAMESPACE,
    ssl: config.KAFKA_SSL,
    sasl: config.KAFKA_SASL_MECHANISM && config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD
      ? { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME, password: config.KAFKA_SASL_PASSWORD }
      : undefined,
  });
}

/** Connects and makes sure every Flotilla topic exists with its partition count. */
export async function connectBus(bus: MessageBus): Promise<void> {
  await bus.connect();
  await bus.ensureTopics(ALL_TOPICS.map((t) => ({ name: t.name, partitions: t.partitions, cleanupPolicy: t.cleanupPolicy })));
}
