import { SubmitRequestV1 } from '@flotilla/contracts';
import { confirmToolsPin, decide, DEFAULT_STEP_POLICY, describeToolCall, MAX_REVISIONS, MAX_STEP_ATTEMPTS, policyOf, policyPins, retryDelayMs, SAFE_ANSWER, taskIdFor, WorkflowCommand, workflowIdFor } from './decide';
import { fold } from './evolve';
import { DomainEvent } from './state';

/** Given past events, when a command arrives, then these events (Emmett's DeciderSpecification). */
const given = (events: DomainEvent[]) => ({
  when: (command: WorkflowCommand) => ({
    then: (expected: DomainEvent[] | ((events: DomainEvent[]) => void)) => {
      const decided = decide(command, fold(events));
      if (typeof expected === 'function') expected(decided);
      else expect(decided).toEqual(expected);
      return decided;
    },
  }),
});

const NOW = '2026-11-21T10:00:00.000Z';
const request: SubmitRequestV1 = { requestId: 'r1', tenantId: 'acme', question: 'Where is my order 1001?', channel: 'chat' };
const WF = workflowIdFor('acme', 'r1');
const start: WorkflowCommand = { type: 'StartWorkflow', data: { workflowId: WF, request, pins: { planVersion: 'plan-v1' }, now: NOW } };

const orderPlan = [
  { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId: '1001' } }, dependsOn: [] },
  { id: 'track-shipment', kind: 'tool', input: { tool: 'shipment.track', args: { orderId: '1001' } }, dependsOn: [] },
  { id: 'estimate', kind: 'tool', input: { tool: 'delivery.estimate', args: { shipment: '${steps.track-shipment.output.shipment}' } }, dependsOn: ['lookup-order', 'track-shipment'] },
  { id: 'compose', kind: 'compose', input: {}, dependsOn: ['lookup-order', 'track-shipment', 'estimate'] },
  { id: 'validate', kind: 'validate', input: { answer: '${steps.compose.output.answer}' }, dependsOn: ['compose'] },
];

const succeeded = (stepId: string, output: Record<string, unknown>, attempt = 1): WorkflowCommand => ({
  type: 'RecordStepSucceeded', data: { result: { workflowId: WF, stepId, taskId: taskIdFor(WF, stepId, attempt), attempt, output }, now: NOW },
});
const errored = (stepId: string, retryable: boolean, attempt = 1): WorkflowCommand => ({
  type: 'RecordStepErrored', data: { result: { workflowId: WF, stepId, taskId: taskIdFor(WF, stepId, attempt), attempt, error: { code: 'X', message: 'boom', retryable } }, now: NOW },
});

/** The events of a workflow driven through `commands`, each decided on the fold of those before. */
function history(...commands: WorkflowCommand[]): DomainEvent[] {
  const events: DomainEvent[] = [];
  for (const c of commands) events.push(...decide(c, fold(events)));
  return events;
}
const scheduled = (events: DomainEvent[]): string[] => events.filter((e) => e.type === 'StepScheduled').map((e) => (e.data as { stepId: string }).stepId);

describe('workflow decider', () => {
  it('starts a workflow and schedules planning', () => {
    given([]).when(start).then([
      {
        type: 'WorkflowStarted',
        data: expect.objectContaining({ workflowId: WF, requestId: 'r1', tenantId: 'acme', channel: 'chat', pins: { planVersion: 'plan-v1' }, startedAt: NOW, deadline: '2026-11-21T10:05:00.000Z' }) as never,
      },
      { type: 'StepScheduled', data: { stepId: 'plan', taskId: taskIdFor(WF, 'plan', 1), attempt: 1, kind: 'plan', input: { question: request.question }, dependsOn: [], timeoutMs: 60_000 } },
    ]);
  });

  it('ignores a duplicate start (a resubmitted request joins the existing workflow)', () => {
    given(history(start)).when(start).then([]);
  });

  it('accepts a plan and schedules all independent steps together', () => {
    given(history(start)).when(succeeded('plan', { intent: { intent: 'order_status' }, planVersion: 'plan-v1', steps: orderPlan })).then((events) => {
      expect(events.map((e) => e.type)).toEqual(['StepCompleted', 'PlanAccepted', 'StepScheduled', 'StepScheduled']);
      expect(scheduled(events)).toEqual(['lookup-order', 'track-shipment']);
    });
  });

  it('waits for every dependency, then resolves references to earlier outputs', () => {
    const h = history(start, succeeded('plan', { steps: orderPlan }), succeeded('lookup-order', { found: true }));
    given(h).when(succeeded('track-shipment', { found: true, shipment: { carrier: 'UPS' } })).then((events) => {
      expect(scheduled(events)).toEqual(['estimate']);
      const estimate = events.find((e) => e.type === 'StepScheduled')!.data as { input: { args: unknown } };
      expect(estimate.input.args).toEqual({ shipment: { carrier: 'UPS' } });
    });
    // Only one of two dependencies done: nothing new is scheduled.
    given(history(start, succeeded('plan', { steps: orderPlan }))).when(succeeded('lookup-order', { found: true })).then((events) => {
      expect(scheduled(events)).toEqual([]);
    });
  });

  it('ignores a redelivered result and a result for a superseded attempt', () => {
    const h = history(start, succeeded('plan', { steps: orderPlan }), succeeded('lookup-order', { found: true }));
    given(h).when(succeeded('lookup-order', { found: true })).then([]);
    given(h).when(succeeded('plan', { steps: orderPlan })).then([]);
    given(h).when(succeeded('track-shipment', {}, 2)).then([]);
  });

  it('completes with the composed answer when the validator approves', () => {
    const h = history(start, succeeded('plan', { steps: orderPlan }), succeeded('lookup-order', {}), succeeded('track-shipment', {}), succeeded('estimate', {}),
      succeeded('compose', { answer: 'Order 1001 is in transit.', sources: [{ id: 'doc', title: 'Doc' }] }));
    given(h).when(succeeded('validate', { verdict: 'approved', reasons: [] })).then((events) => {
      expect(events.at(-1)).toEqual({ type: 'WorkflowCompleted', data: { answer: 'Order 1001 is in transit.', sources: [{ id: 'doc', title: 'Doc' }], validated: true, model: undefined, completedAt: NOW } });
    });
  });

  it('asks for a revision when the validator rejects, passing the reasons to the next compose attempt', () => {
    const h = history(start, succeeded('plan', { steps: orderPlan }), succeeded('lookup-order', {}), succeeded('track-shipment', {}), succeeded('estimate', {}), succeeded('compose', { answer: 'Invented.' }));
    given(h).when(succeeded('validate', { verdict: 'rejected', reasons: ['unsupported date'] })).then((events) => {
      expect(events.map((e) => e.type)).toEqual(['StepCompleted', 'AnswerRevisionRequested', 'StepScheduled']);
      expect(events[1]!.data).toEqual({ revision: 1, reasons: ['unsupported date'] });
      expect(events[2]!.data).toEqual(expect.objectContaining({ stepId: 'compose', attempt: 2, taskId: taskIdFor(WF, 'compose', 2), input: expect.objectContaining({ revision: 1, rejectedReasons: ['unsupported date'] }) }));
    });
  });

  it('validates the revised draft, not the first one: references are resolved again for each revision', () => {
    const h = history(start, succeeded('plan', { steps: orderPlan }), succeeded('lookup-order', {}), succeeded('track-shipment', {}), succeeded('estimate', {}),
      succeeded('compose', { answer: 'First draft.' }), succeeded('validate', { verdict: 'rejected', reasons: ['invented'] }));
    given(h).when(succeeded('compose', { answer: 'Revised draft.' }, 2)).then((events) => {
      const validate = events.find((e) => e.type === 'StepScheduled')!.data as { stepId: string; input: { answer: string } };
      expect(validate.stepId).toBe('validate');
      expect(validate.input.answer).toBe('Revised draft.');
    });
  });

  it('falls back to the safe answer after the last revision is rejected too', () => {
    const reject = (attempt: number): WorkflowCommand => succeeded('validate', { verdict: 'rejected', reasons: ['unsupported'] }, attempt);
    const h = history(start, succeeded('plan', { steps: orderPlan }), succeeded('lookup-order', {}), succeeded('track-shipment', {}), succeeded('estimate', {}),
      succeeded('compose', { answer: 'Invented.' }), reject(1), succeeded('compose', { answer: 'Still invented.' }, 2), reject(2), succeeded('compose', { answer: 'Again.' }, 3));
    expect(fold(h).revisions).toBe(MAX_REVISIONS);
    given(h).when(reject(3)).then((events) => {
      expect(events.at(-1)).toEqual(expect.objectContaining({ type: 'WorkflowCompleted', data: expect.objectContaining({ answer: SAFE_ANSWER, validated: false, sources: [] }) }));
    });
  });

  it('accumulates token usage and cost from every step', () => {
    const h = history(start, { type: 'RecordStepSucceeded', data: { result: { workflowId: WF, stepId: 'plan', taskId: taskIdFor(WF, 'plan', 1), attempt: 1, output: { steps: orderPlan }, usage: { promptTokens: 100, completionTokens: 20, costUsd: 0.001 } }, now: NOW } });
    expect(fold(h).usage).toEqual({ promptTokens: 100, completionTokens: 20, costUsd: 0.001 });
  });

  it('retries a retryable step failure with a new attempt, up to the limit', () => {
    const h = history(start, succeeded('plan', { steps: orderPlan }));
    given(h).when(errored('lookup-order', true)).then((events) => {
      expect(events).toEqual([
        { type: 'StepFailed', data: expect.objectContaining({ stepId: 'lookup-order', attempt: 1, willRetry: true }) },
        { type: 'StepScheduled', data: expect.objectContaining({ stepId: 'lookup-order', attempt: 2, taskId: taskIdFor(WF, 'lookup-order', 2) }) },
      ]);
    });
    let h2 = h;
    for (let a = 1; a < MAX_STEP_ATTEMPTS; a++) h2 = [...h2, ...decide(errored('lookup-order', true, a), fold(h2))];
    given(h2).when(errored('lookup-order', true, MAX_STEP_ATTEMPTS)).then((events) => {
      expect(events[0]).toEqual({ type: 'StepFailed', data: expect.objectContaining({ willRetry: false }) });
    });
  });

  it('degrades when a tool step fails for good: dependents run and see the failure', () => {
    const h = history(start, succeeded('plan', { steps: orderPlan }), succeeded('lookup-order', {}));
    given(h).when(errored('track-shipment', false)).then((events) => {
      expect(events[0]).toEqual({ type: 'StepFailed', data: expect.objectContaining({ stepId: 'track-shipment', willRetry: false }) });
      expect(scheduled(events)).toEqual(['estimate']);
    });
  });

  it('fails the workflow when composing fails for good', () => {
    const plan = [{ id: 'compose', kind: 'compose', input: {}, dependsOn: [] }, { id: 'validate', kind: 'validate', input: {}, dependsOn: ['compose'] }];
    given(history(start, succeeded('plan', { steps: plan }))).when(errored('compose', false)).then((events) => {
      expect(events.map((e) => e.type)).toEqual(['StepFailed', 'WorkflowFailed']);
    });
  });

  it('replaces an unusable plan with the safe plan, saying why', () => {
    given(history(start)).when(succeeded('plan', { steps: [{ id: 'a', kind: 'tool', input: {}, dependsOn: ['b'] }] })).then((events) => {
      const accepted = events.find((e) => e.type === 'PlanAccepted')!.data as { planVersion: string; replacedBecause?: string };
      expect(accepted.planVersion).toBe('safe-v1');
      expect(accepted.replacedBecause).toMatch(/unknown step b/);
      expect(scheduled(events)).toEqual(['compose']);
    });
  });

  it('decides nothing for a finished workflow', () => {
    const plan = [{ id: 'compose', kind: 'compose', input: {}, dependsOn: [] }, { id: 'validate', kind: 'validate', input: {}, dependsOn: ['compose'] }];
    const h = history(start, succeeded('plan', { steps: plan }), succeeded('compose', { answer: 'Hi' }), succeeded('validate', { verdict: 'approved' }));
    expect(fold(h).status).toBe('completed');
    given(h).when(succeeded('validate', { verdict: 'approved' })).then([]);
    given(h).when(start).then([]);
  });

  describe('timeouts, deadlines, retries and cancellation', () => {
    const LATER = '2026-11-21T10:01:00.000Z';
    const timer = (stepId: string, attempt: number, now = LATER): WorkflowCommand => ({
      type: 'TimerElapsed', data: { timer: { workflowId: WF, timer: 'step-timeout', stepId, taskId: taskIdFor(WF, stepId, attempt), dueAt: now }, now },
    });
    const deadline: WorkflowCommand = { type: 'TimerElapsed', data: { timer: { workflowId: WF, timer: 'deadline', dueAt: '2026-11-21T10:05:00.000Z' }, now: '2026-11-21T10:05:00.000Z' } };
    const cancel = (tenantId = 'acme'): WorkflowCommand => ({
      type: 'CancelWorkflow', data: { cancel: { workflowId: WF, tenantId, reason: 'changed my mind', requestedBy: 'user-1', requestedAt: LATER }, now: LATER },
    });

    it('a step that does not report in time fails that attempt and is retried after a backoff', () => {
      given(history(start)).when(timer('plan', 1)).then((events) => {
        expect(events.map((e) => e.type)).toEqual(['StepFailed', 'StepScheduled']);
        expect(events[0]!.data).toMatchObject({ stepId: 'plan', attempt: 1, willRetry: true, error: { code: 'STEP_TIMEOUT', retryable: true } });
        const retry = events[1]!.data as { attempt: number; notBefore: string; timeoutMs: number };
        expect(retry.attempt).toBe(2);
        const wait = Date.parse(retry.notBefore) - Date.parse(LATER);
        expect(wait).toBe(retryDelayMs(DEFAULT_STEP_POLICY, 2, taskIdFor(WF, 'plan', 2)));
        expect(wait).toBeGreaterThanOrEqual(500);
        expect(wait).toBeLessThanOrEqual(1000);
      });
    });

    it('a timer for an attempt that already answered (or was superseded) decides nothing', () => {
      const answered = history(start, succeeded('plan', { steps: orderPlan }));
      given(answered).when(timer('plan', 1)).then([]);
      const retried = history(start, errored('plan', true));
      given(retried).when(timer('plan', 1)).then([]);
    });

    it('backoff grows exponentially with jitter and is capped', () => {
      const policy = policyOf(policyPins({ ...DEFAULT_STEP_POLICY, backoff: { baseMs: 100, maxMs: 1000 } }));
      const delays = [2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(policy, n, `task-${n}`));
      [100, 200, 400, 800, 1000, 1000].forEach((cap, i) => {
        expect(delays[i]).toBeGreaterThanOrEqual(cap / 2);
        expect(delays[i]).toBeLessThanOrEqual(cap);
      });
      // Jitter differs between tasks but not between two decisions about the same task.
      expect(retryDelayMs(policy, 3, 'a')).toBe(retryDelayMs(policy, 3, 'a'));
      expect(new Set(['a', 'b', 'c', 'd', 'e'].map((t) => retryDelayMs(policy, 5, t))).size).toBeGreaterThan(1);
    });

    it('the pinned policy is used, not the defaults', () => {
      const pins = { ...policyPins({ ...DEFAULT_STEP_POLICY, timeoutsMs: { ...DEFAULT_STEP_POLICY.timeoutsMs, plan: 1234 }, deadlineMs: 5000 }) };
      const custom: WorkflowCommand = { type: 'StartWorkflow', data: { workflowId: WF, request, pins, now: NOW } };
      given([]).when(custom).then((events) => {
        expect(events[0]!.data).toMatchObject({ deadline: '2026-11-21T10:00:05.000Z' });
        expect(events[1]!.data).toMatchObject({ timeoutMs: 1234 });
      });
      const own: WorkflowCommand = { type: 'StartWorkflow', data: { workflowId: WF, request: { ...request, timeoutMs: 9000 }, pins, now: NOW } };
      given([]).when(own).then((events) => expect(events[0]!.data).toMatchObject({ deadline: '2026-11-21T10:00:09.000Z' }));
    });

    it('the last attempt timing out fails a plan step, and degrades a tool step', () => {
      const h = history(start, timer('plan', 1), timer('plan', 2));
      given(h).when(timer('plan', MAX_STEP_ATTEMPTS)).then((events) => {
        expect(events.map((e) => e.type)).toEqual(['StepFailed', 'WorkflowFailed']);
        expect(events[1]!.data).toMatchObject({ code: 'STEP_TIMEOUT' });
      });
      const tools = history(start, succeeded('plan', { steps: orderPlan }), timer('lookup-order', 1), timer('lookup-order', 2));
      given(tools).when(timer('lookup-order', 3)).then((events) => {
        expect(events.map((e) => e.type)).toEqual(['StepFailed']);
        expect(events[0]!.data).toMatchObject({ willRetry: false });
      });
    });

    it('a workflow past its deadline fails with DEADLINE_EXCEEDED; a finished one ignores the timer', () => {
      given(history(start)).when(deadline).then([
        { type: 'WorkflowFailed', data: { code: 'DEADLINE_EXCEEDED', reason: expect.stringContaining('deadline') as never, failedAt: '2026-11-21T10:05:00.000Z' } },
      ]);
      const plan = [{ id: 'compose', kind: 'compose', input: {}, dependsOn: [] }, { id: 'validate', kind: 'validate', input: {}, dependsOn: ['compose'] }];
      given(history(start, succeeded('plan', { steps: plan }), succeeded('compose', { answer: 'Hi' }), succeeded('validate', { verdict: 'approved' }))).when(deadline).then([]);
    });

    it('cancels a running workflow once, for its own tenant only, and ignores results after it', () => {
      const h = history(start);
      given(h).when(cancel('someone-else')).then([]);
      const cancelled = given(h).when(cancel()).then([
        { type: 'WorkflowCancelled', data: { reason: 'changed my mind', requestedBy: 'user-1', cancelledAt: LATER } },
      ]);
      const after = [...h, ...cancelled];
      expect(fold(after).status).toBe('cancelled');
      given(after).when(cancel()).then([]);
      given(after).when(succeeded('plan', { steps: orderPlan })).then([]);
      given(after).when(timer('plan', 1)).then([]);
    });
  });

  describe('side-effecting steps wait for the user\'s confirmation', () => {
    const pins = { planVersion: 'plan-v1', ...confirmToolsPin(['refund.request']), confirmationTimeoutMs: '60000' };
    const refundStart: WorkflowCommand = { type: 'StartWorkflow', data: { workflowId: WF, request: { ...request, question: 'Refund $5 on order 1001' }, pins, now: NOW } };
    const refundPlan = [
      { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId: '1001' } }, dependsOn: [] },
      { id: 'refund', kind: 'tool', input: { tool: 'refund.request', args: { orderId: '${steps.lookup-order.output.order.orderId}', amount: 5, reason: 'requested by the customer' } }, dependsOn: ['lookup-order'] },
      { id: 'compose', kind: 'compose', input: {}, dependsOn: ['lookup-order', 'refund'] },
      { id: 'validate', kind: 'validate', input: { answer: '${steps.compose.output.answer}' }, dependsOn: ['compose'] },
    ];
    const planned = history(refundStart, succeeded('plan', { steps: refundPlan }));
    const LATER = '2026-11-21T10:00:30.000Z';
    const answer = (approve: boolean, stepId = 'refund', tenantId = 'acme'): WorkflowCommand => ({
      type: 'ConfirmStep', data: { confirm: { workflowId: WF, tenantId, stepId, approve, requestedBy: 'user-1', requestedAt: LATER }, now: LATER },
    });
    const expiry: WorkflowCommand = { type: 'TimerElapsed', data: { timer: { workflowId: WF, timer: 'confirmation', stepId: 'refund', dueAt: '2026-11-21T10:01:00.000Z' }, now: '2026-11-21T10:01:00.000Z' } };

    it('pauses before the side-effecting step, asking with the exact tool and resolved arguments; read-only steps run without asking', () => {
      expect(scheduled(planned)).toEqual(['plan', 'lookup-order']);
      given(planned).when(succeeded('lookup-order', { found: true, order: { orderId: '1001', total: 129 } })).then([
        expect.objectContaining({ type: 'StepCompleted' }) as never,
        {
          type: 'StepAwaitingConfirmation',
          data: {
            stepId: 'refund', tool: 'refund.request', args: { orderId: '1001', amount: 5, reason: 'requested by the customer' },
            summary: 'Refund $5.00 on order 1001 (reason: requested by the customer)', requestedAt: NOW, expiresAt: '2026-11-21T10:01:00.000Z',
          },
        },
      ]);
    });

    const asked = history(refundStart, succeeded('plan', { steps: refundPlan }), succeeded('lookup-order', { found: true, order: { orderId: '1001', total: 129 } }));

    it('a confirmation schedules the step with who confirmed it; its retries carry the same confirmation', () => {
      const confirmed = given(asked).when(answer(true)).then((events) => {
        expect(events.map((e) => e.type)).toEqual(['ConfirmationGiven', 'StepScheduled']);
        expect(events[1]!.data).toMatchObject({
          stepId: 'refund', attempt: 1, input: { tool: 'refund.request', args: { orderId: '1001', amount: 5, reason: 'requested by the customer' } },
          confirmation: { confirmedBy: 'user-1', confirmedAt: LATER },
        });
      });
      const h = [...asked, ...confirmed];
      given(h).when(errored('refund', true)).then((events) => {
        expect(events[1]).toMatchObject({ type: 'StepScheduled', data: { stepId: 'refund', attempt: 2, confirmation: { confirmedBy: 'user-1' } } });
      });
      // Answered once: a second answer, either way, decides nothing — and neither does the expiry timer.
      given(h).when(answer(true)).then([]);
      given(h).when(answer(false)).then([]);
      given(h).when(expiry).then([]);
    });

    it('a decline ends the workflow saying nothing was done; the step never runs', () => {
      const declined = given(asked).when(answer(false)).then((events) => {
        expect(events.map((e) => e.type)).toEqual(['ConfirmationDeclined', 'WorkflowCompleted']);
        expect(events[1]!.data).toMatchObject({ answer: expect.stringMatching(/nothing was done.*Refund \$5\.00 on order 1001/) as never, validated: false });
      });
      const after = fold([...asked, ...declined]);
      expect(after.status).toBe('completed');
      expect(after.steps['refund']).toMatchObject({ status: 'failed', error: { code: 'CONFIRMATION_DECLINED' } });
      expect(scheduled(declined)).toEqual([]);
    });

    it('no answer in time ends the workflow as expired, nothing done', () => {
      given(asked).when(expiry).then((events) => {
        expect(events.map((e) => e.type)).toEqual(['ConfirmationExpired', 'WorkflowFailed']);
        expect(events[1]!.data).toMatchObject({ code: 'CONFIRMATION_EXPIRED', reason: expect.stringContaining('nothing was done') as never });
      });
    });

    it('an answer from another tenant, for another step, or before the question decides nothing', () => {
      given(asked).when(answer(true, 'refund', 'someone-else')).then([]);
      given(asked).when(answer(true, 'lookup-order')).then([]);
      given(planned).when(answer(true)).then([]);
    });

    it('without the pin (a workflow started before confirmations) the step is scheduled unconfirmed, and the tool agent refuses it', () => {
      const legacy = history({ ...refundStart, data: { ...refundStart.data, pins: { planVersion: 'plan-v1' } } } as WorkflowCommand, succeeded('plan', { steps: refundPlan }),
        succeeded('lookup-order', { found: true, order: { orderId: '1001' } }));
      expect(legacy.at(-1)).toMatchObject({ type: 'StepScheduled', data: { stepId: 'refund' } });
      expect((legacy.at(-1)!.data as { confirmation?: unknown }).confirmation).toBeUndefined();
    });

    it('describes an action from its arguments alone', () => {
      expect(describeToolCall('refund.request', { orderId: '1002', amount: 12.5, reason: 'damaged' })).toBe('Refund $12.50 on order 1002 (reason: damaged)');
      expect(describeToolCall('address.change', { orderId: '7', to: { city: 'Oslo' } })).toBe('Address on order 7 (to: {"city":"Oslo"})');
    });
  });

  it('derives ids deterministically', () => {
    expect(workflowIdFor('acme', 'r1')).toBe(WF);
    expect(workflowIdFor('other', 'r1')).not.toBe(WF);
    expect(taskIdFor(WF, 'plan', 1)).not.toBe(taskIdFor(WF, 'plan', 2));
  });
});
