import { initialState, StepState, WorkflowState } from '@flotilla/workflow';
import { batchAdmissionBound, paceSample } from './coordinator.service';

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

describe('which finished chats are BatchPacer samples', () => {
  const step = (over: Partial<StepState> = {}): StepState => ({ id: 'plan', kind: 'plan', input: {}, dependsOn: [], status: 'completed', attempt: 1, ...over });
  const remote = { provider: 'openai' as const, model: 'gpt-4o-mini', label: 'remote' };
  const local = { provider: 'local' as const, model: 'flotilla-local-v1', label: 'local' };
  const chat = (over: Partial<WorkflowState> = {}, routes: Record<string, string[]> = { simple: ['gpt'], complex: ['gpt', 'local'] }): WorkflowState => ({
    ...initialState(), status: 'completed', channel: 'chat', pins: { modelRoutes: JSON.stringify(routes) }, steps: { plan: step({ model: remote }) }, ...over,
  });

  it('counts a chat that ran straight through on its first-choice models', () => {
    expect(paceSample(chat())).toBe(true);
    // The built-in model as the routes' first choice is no fallback.
    expect(paceSample(chat({ steps: { plan: step({ model: local }) } }, { simple: ['local'], complex: ['local'] }))).toBe(true);
  });

  it('leaves out chats whose time was not the pipeline: cancelled, confirmed by a person, retried, or answered by the fallback model', () => {
    expect(paceSample(chat({ status: 'cancelled' }))).toBe(false);
    expect(paceSample(chat({ steps: { plan: step({ model: remote }), refund: step({ id: 'refund', kind: 'tool', confirmation: { confirmedBy: 'u', confirmedAt: 'x' } as StepState['confirmation'] }) } }))).toBe(false);
    expect(paceSample(chat({ steps: { plan: step({ model: remote, attempt: 2 }) } }))).toBe(false);
    expect(paceSample(chat({ steps: { plan: step({ model: local }) } }))).toBe(false);
    expect(paceSample(chat({ model: local }))).toBe(false);
  });
});
