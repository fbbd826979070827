import { batchAdmissionBound } from './coordinator.service';

describe('batch admission while chat is served', () => {
  const config = { COORDINATOR_MAX_ACTIVE_BATCH: 500 };

  it('admits up to COORDINATOR_MAX_ACTIVE_BATCH when no smaller bound is set, chat or not', () => {
    expect(batchAdmissionBound(config, 0)).toEqual({ max: 500, chatting: false });
    expect(batchAdmissionBound(config, Infinity)).toEqual({ max: 500, chatting: false });
  });

  it('holds to COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE within a second of a chat input, and no longer', () => {
    const strict = { ...config, COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE: 0 };
    expect(batchAdmissionBound(strict, 10)).toEqual({ max: 0, chatting: true });
    expect(batchAdmissionBound(strict, 999)).toEqual({ max: 0, chatting: true });
    expect(batchAdmissionBound(strict, 1_000)).toEqual({ max: 500, chatting: false });
    expect(batchAdmissionBound(strict, Number.POSITIVE_INFINITY)).toEqual({ max: 500, chatting: false });
  });

  it('never admits more while chatting than without chat', () => {
    expect(batchAdmissionBound({ ...config, COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE: 900 }, 0)).toEqual({ max: 500, chatting: false });
  });
});
