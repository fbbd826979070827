import { batchAdmissionBound } from './coordinator.service';

describe('batch admission while chat is served', () => {
  // Shared priority: no smaller bound while chat is served.
  const config = { COORDINATOR_MAX_ACTIVE_BATCH: 500, COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE: 500 };

  it('admits up to COORDINATOR_MAX_ACTIVE_BATCH when no smaller bound is set, chat or not', () => {
    expect(batchAdmissionBound(config, 0)).toEqual({ max: 500, chatting: false });
    expect(batchAdmissionBound(config, Infinity)).toEqual({ max: 500, chatting: false });
  });

  it('holds to COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE within a second of a chat input, and no longer', () => {
    const smaller = { ...config, COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE: 3 };
    expect(batchAdmissionBound(smaller, 10)).toEqual({ max: 3, chatting: true });
    expect(batchAdmissionBound(smaller, 999)).toEqual({ max: 3, chatting: true });
    expect(batchAdmissionBound(smaller, 1_000)).toEqual({ max: 500, chatting: false });
    expect(batchAdmissionBound(smaller, Number.POSITIVE_INFINITY)).toEqual({ max: 500, chatting: false });
  });

  it('under strict priority (0) admits within the learned bound in chat\'s gaps: the whole batch lane already waits while chat moves', () => {
    const strict = { ...config, COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE: 0 };
    expect(batchAdmissionBound(strict, 10, 14)).toEqual({ max: 14, chatting: false });
    expect(batchAdmissionBound(strict, Number.POSITIVE_INFINITY, 14)).toEqual({ max: 14, chatting: false });
  });

  it('never admits past COORDINATOR_MAX_ACTIVE_BATCH, whatever was learned', () => {
    expect(batchAdmissionBound(config, Infinity, 900)).toEqual({ max: 500, chatting: false });
    expect(batchAdmissionBound(config, Infinity, 7)).toEqual({ max: 7, chatting: false });
  });

  it('never admits more while chatting than without chat', () => {
    expect(batchAdmissionBound({ ...config, COORDINATOR_MAX_ACTIVE_BATCH_WHILE_INTERACTIVE: 900 }, 0)).toEqual({ max: 500, chatting: false });
  });
});
