import { loadConfig } from '@flotilla/config';
import {
  createConversationStore, createCounterStore, MongoConversationStore, MongoCounterStore, SqliteConversationStore, SqliteCounterStore,
} from './index';

describe('memory factories', () => {
  it('choose SQLite in embedded mode and MongoDB in distributed mode', () => {
    const embedded = loadConfig({ FLOTILLA_MODE: 'embedded', FLOTILLA_DATA_DIR: '/tmp/flotilla-factory-test' });
    const distributed = loadConfig({ FLOTILLA_MODE: 'distributed', MONGO_URL: 'mongodb://127.0.0.1:1/x', KAFKA_BROKERS: '127.0.0.1:1' });

    expect(createConversationStore(embedded)).toBeInstanceOf(SqliteConversationStore);
    expect(createCounterStore(embedded)).toBeInstanceOf(SqliteCounterStore);
    // Constructing connects to nothing; init() does.
    expect(createConversationStore(distributed)).toBeInstanceOf(MongoConversationStore);
    expect(createCounterStore(distributed)).toBeInstanceOf(MongoCounterStore);
  });
});
