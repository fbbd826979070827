export * from './port';
export * from './typed';
export * from './factory';
export { EmbeddedMessageBus } from './embedded-bus';
export { KafkaMessageBus } from './kafka-bus';
export { partitionFor } from './partitioner';
export * from './delay';
export * from './claim-check-bus';
export * from './lane-turns';
