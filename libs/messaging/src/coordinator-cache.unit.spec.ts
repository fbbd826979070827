import { coordinatorLookups, dropsCoordinators, patchCoordinatorLookups } from './coordinator-cache';

/**
 * Stand-ins with the shape of kafkajs's Cluster and Broker, patched: lookups are counted, requests
 * can be made to fail.
 */
function fakes(maxAgeMs?: number) {
  const state = { asks: 0, coordinator: 1, known: new Set([1, 2]), failNext: undefined as unknown };
  class Broker {
    constructor(readonly nodeId: number) {}
    async endTxn(): Promise<string> {
      const err = state.failNext;
      state.failNext = undefined;
      if (err) throw err;
      return `endTxn@${this.nodeId}`;
    }
  }
  class Cluster {
    async findGroupCoordinator(_args: { groupId: string; coordinatorType?: number }): Promise<Broker> {
      state.asks++;
      return new Broker(state.coordinator);
    }
    async findBroker({ nodeId }: { nodeId: number }): Promise<Broker> {
      if (!state.known.has(nodeId)) throw Object.assign(new Error('broker not found'), { name: 'KafkaJSBrokerNotFound' });
      return new Broker(nodeId);
    }
  }
  patchCoordinatorLookups(Cluster, Broker as never, maxAgeMs);
  return { state, Cluster, Broker, cluster: new Cluster() };
}

describe('coordinator lookup cache (kafkajs FindCoordinator)', () => {
  it('asks the broker once per group and coordinator type, then answers from memory', async () => {
    const { state, Cluster, cluster } = fakes();
    const before = coordinatorLookups.remembered;
    for (let i = 0; i < 5; i++) expect((await cluster.findGroupCoordinator({ groupId: 'tx-1', coordinatorType: 1 })).nodeId).toBe(1);
    expect(state.asks).toBe(1);
    expect(coordinatorLookups.remembered - before).toBe(4);
    // Another key, and the same id as another coordinator type, are asked for separately.
    await cluster.findGroupCoordinator({ groupId: 'tx-1', coordinatorType: 0 });
    await cluster.findGroupCoordinator({ groupId: 'group-a' });
    expect(state.asks).toBe(3);
    // Each cluster (one per kafkajs client) has its own memory.
    await new Cluster().findGroupCoordinator({ groupId: 'tx-1', coordinatorType: 1 });
    expect(state.asks).toBe(4);
  });

  it('asks again after a coordinator request fails in a way that may mean the coordinator moved', async () => {
    const { state, cluster } = fakes();
    const broker = await cluster.findGroupCoordinator({ groupId: 'tx', coordinatorType: 1 });
    state.coordinator = 2;
    state.failNext = Object.assign(new Error('This is not the correct coordinator for this group'), { type: 'NOT_COORDINATOR_FOR_GROUP' });
    await expect(broker.endTxn()).rejects.toThrow('not the correct coordinator');
    // The retry that follows (kafkajs re-finds the coordinator) gets the new one.
    expect((await cluster.findGroupCoordinator({ groupId: 'tx', coordinatorType: 1 })).nodeId).toBe(2);
    expect(state.asks).toBe(2);
  });

  it('keeps the answer through errors that are not about the coordinator (CONCURRENT_TRANSACTIONS after a commit)', async () => {
    const { state, cluster } = fakes();
    const broker = await cluster.findGroupCoordinator({ groupId: 'tx', coordinatorType: 1 });
    state.failNext = Object.assign(new Error('another concurrent operation on the same transaction'), { type: 'CONCURRENT_TRANSACTIONS' });
    await expect(broker.endTxn()).rejects.toThrow('concurrent');
    await cluster.findGroupCoordinator({ groupId: 'tx', coordinatorType: 1 });
    expect(state.asks).toBe(1);
    expect(await broker.endTxn()).toBe('endTxn@1');
  });

  it('asks again when the remembered broker left the metadata, or the answer is older than its bound', async () => {
    const { state, cluster } = fakes(50);
    await cluster.findGroupCoordinator({ groupId: 'g' });
    state.known.delete(1);
    state.known.add(3);
    state.coordinator = 3;
    expect((await cluster.findGroupCoordinator({ groupId: 'g' })).nodeId).toBe(3);
    expect(state.asks).toBe(2);
    await cluster.findGroupCoordinator({ groupId: 'g' });
    expect(state.asks).toBe(2);
    await new Promise((r) => setTimeout(r, 60));
    await cluster.findGroupCoordinator({ groupId: 'g' });
    expect(state.asks).toBe(3);
  });

  it('patches a class once, however many buses are created', async () => {
    const { state, Cluster, Broker, cluster } = fakes();
    patchCoordinatorLookups(Cluster, Broker as never);
    const broker = await cluster.findGroupCoordinator({ groupId: 'g' });
    state.failNext = new Error('boom');
    await expect(broker.endTxn()).rejects.toThrow('boom');
    expect(state.asks).toBe(1);
  });

  it('treats connection errors and unknown errors as a possibly moved coordinator', () => {
    expect(dropsCoordinators(Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError', code: 'ECONNREFUSED' }))).toBe(true);
    expect(dropsCoordinators(Object.assign(new Error('x'), { type: 'GROUP_COORDINATOR_NOT_AVAILABLE' }))).toBe(true);
    expect(dropsCoordinators(Object.assign(new Error('x'), { type: 'SOMETHING_NEW' }))).toBe(true);
    expect(dropsCoordinators(null)).toBe(true);
    expect(dropsCoordinators(Object.assign(new Error('x'), { type: 'REBALANCE_IN_PROGRESS' }))).toBe(false);
  });
});
