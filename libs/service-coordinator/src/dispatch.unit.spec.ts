import { Channel, DelayHeaders, Headers, SubmitRequestV1, Topics } from '@flotilla/contracts';
import { decide, fold, initialState, policyPins, DEFAULT_STEP_POLICY, workflowIdFor } from '@flotilla/workflow';
import { followUps } from './dispatch';

const NOW = Date.parse('2026-12-02T10:00:00.000Z');

/** The follow-ups of a new workflow on `channel`: its plan task, the plan step's timer, and its deadline timer. */
function started(channel: Channel): ReturnType<typeof followUps> {
  const request: SubmitRequestV1 = { requestId: `r-${channel}`, tenantId: 'acme', question: 'Where is my order 1001?', channel };
  const workflowId = workflowIdFor('acme', request.requestId);
  const events = decide({ type: 'StartWorkflow', data: { workflowId, request, pins: policyPins(DEFAULT_STEP_POLICY), now: new Date(NOW).toISOString() } }, initialState());
  return followUps(events, fold(events), NOW);
}

describe('follow-ups by lane', () => {
  it('sends a chat workflow\'s timers through the interactive delay tiers to the commands topic', () => {
    const out = started('chat');
    const timers = out.filter((m) => m.headers?.[DelayHeaders.target] === Topics.workflowCommands.name);
    expect(timers).toHaveLength(2); // the plan step's timeout and the deadline
    for (const m of out) {
      expect(m.topic).not.toContain('.batch.');
      expect(m.headers?.[Headers.lane]).toBeUndefined();
    }
  });

  it('sends a batch workflow\'s timers through the batch tiers to the batch commands topic, marked batch', () => {
    const out = started('intake');
    const timers = out.filter((m) => m.headers?.[DelayHeaders.target] === Topics.batchWorkflowCommands.name);
    expect(timers).toHaveLength(2);
    for (const t of timers) {
      expect(t.topic).toMatch(/^flotilla\.delay\.batch\./);
      expect(t.headers?.[Headers.lane]).toBe('batch');
    }
    expect(out.some((m) => m.headers?.[DelayHeaders.target] === Topics.workflowCommands.name)).toBe(false);
  });
});
