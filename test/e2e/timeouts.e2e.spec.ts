import { ChatClient, pollWorkflow } from '../support/chat-client';
import { SystemUnderTest } from '../support/system';

/*
 * Step timeouts, retries with backoff through the delay topics, workflow deadlines and cancellation,
 * through the public interfaces, in both modes. The business service's fault injection (/_faults)
 * holds a call for longer than a step may take. Timeouts are shortened through configuration so the
 * suite stays quick; the defaults are longer (README, "Workflow timing").
 */
jest.setTimeout(180_000);

let sut: SystemUnderTest;

beforeAll(async () => {
  sut = await SystemUnderTest.start(undefined, {
    STEP_TIMEOUTS_MS: 'tool=1500',
    RETRY_BACKOFF_BASE_MS: '400',
    RETRY_BACKOFF_MAX_MS: '2000',
  });
});

afterAll(async () => {
  await sut?.stop();
});

interface Ev { sequence: number; type: string; occurredAt: string; data: Record<string, unknown> }

async function submit(body: Record<string, unknown>, tenant = 'timing'): Promise<string> {
  const r = await fetch(`${sut.gatewayUrl}/v1/workflows`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': tenant }, body: JSON.stringify(body) });
  expect(r.status).toBe(202);
  return ((await r.json()) as { workflowId: string }).workflowId;
}

async function fault(route: string, delayMs: number, count: number): Promise<void> {
  const r = await fetch(`${sut.businessUrl}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ route, delayMs, count }) });
  expect(r.status).toBeLessThan(300);
}

async function clearFaults(): Promise<void> {
  await fetch(`${sut.businessUrl}/_faults`, { method: 'DELETE' }).catch(() => undefined);
}

const events = (wf: Record<string, unknown>): Ev[] => wf['events'] as Ev[];
const SHIPMENT = 'GET /orders/:id/shipment';

afterEach(clearFaults);

describe('step timeouts and retries', () => {
  it('a tool call that hangs past its timeout is retried after a backoff, and the late answer of the first attempt is ignored', async () => {
    await fault(SHIPMENT, 4_000, 1);
    const workflowId = await submit({ question: 'Where is my order 1001?' });
    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] !== 'running' && w['status'] !== 'accepted', 60_000, 'timing');
    expect(wf['status']).toBe('completed');

    let all = events(wf);
    const stepOf = (e: Ev): string => e.data['stepId'] as string;
    const timedOut = all.find((e) => e.type === 'StepFailed' && (e.data['error'] as { code: string }).code === 'STEP_TIMEOUT');
    expect(timedOut).toBeDefined();
    const step = stepOf(timedOut!);
    expect(timedOut!.data).toMatchObject({ attempt: 1, willRetry: true });
    const retry = all.find((e) => e.type === 'StepScheduled' && stepOf(e) === step && e.data['attempt'] === 2)!;
    expect(retry).toBeDefined();
    // The retry waited out a backoff with jitter: between half and all of the 400 ms base.
    const wait = Date.parse(retry.data['notBefore'] as string) - Date.parse(timedOut!.occurredAt);
    expect(wait).toBeGreaterThanOrEqual(150);
    expect(wait).toBeLessThanOrEqual(1_500);

    // The first attempt's call still returns (after 4 s); its result is stale and changes nothing.
    await new Promise((r) => setTimeout(r, 4_500));
    const later = await pollWorkflow(sut.gatewayUrl, workflowId, () => true, 10_000, 'timing');
    all = events(later);
    const completions = all.filter((e) => e.type === 'StepCompleted' && stepOf(e) === step);
    expect(completions).toHaveLength(1);
    expect(completions[0]!.data['attempt']).toBe(2);
    expect(all.filter((e) => e.type === 'WorkflowCompleted')).toHaveLength(1);
    expect(all.map((e) => e.sequence)).toEqual(all.map((_, i) => i));
  });
});

describe('workflow deadlines', () => {
  it('a workflow that cannot finish by its deadline fails with DEADLINE_EXCEEDED', async () => {
    await fault(SHIPMENT, 8_000, 5);
    const started = Date.now();
    const workflowId = await submit({ question: 'Where is my order 1001?', timeoutMs: 2_500 });
    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] !== 'running' && w['status'] !== 'accepted', 30_000, 'timing');
    expect(wf['status']).toBe('failed');
    expect(wf['failure']).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(Date.parse(wf['deadline'] as string) - Date.parse(wf['startedAt'] as string)).toBe(2_500);
  });

  it('refuses a deadline outside 1 s – 24 h with a field-level 400', async () => {
    const r = await fetch(`${sut.gatewayUrl}/v1/workflows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'hi', timeoutMs: 10 }) });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toContain('timeoutMs');
  });
});

describe('cancellation', () => {
  it('cancels a running workflow through the API: 202, then cancelled, results of steps in flight ignored; a second cancel is 409', async () => {
    await fault(SHIPMENT, 3_000, 1);
    const workflowId = await submit({ question: 'Where is my order 1001?' });
    await pollWorkflow(sut.gatewayUrl, workflowId, (w) => events(w).some((e) => e.type === 'StepScheduled' && e.data['kind'] === 'tool'), 20_000, 'timing');

    const cancel = await fetch(`${sut.gatewayUrl}/v1/workflows/${workflowId}/cancel`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'timing' }, body: JSON.stringify({ reason: 'customer hung up' }),
    });
    expect(cancel.status).toBe(202);
    expect(await cancel.json()).toEqual({ workflowId, status: 'cancelling' });

    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'cancelled', 20_000, 'timing');
    expect(wf['cancellation']).toMatchObject({ reason: 'customer hung up' });
    // The held tool call returns after cancellation: nothing more is appended.
    await new Promise((r) => setTimeout(r, 3_500));
    const later = await pollWorkflow(sut.gatewayUrl, workflowId, () => true, 10_000, 'timing');
    const all = events(later);
    expect(all[all.length - 1]!.type).toBe('WorkflowCancelled');
    expect(all.filter((e) => e.type.startsWith('Workflow') && e.type !== 'WorkflowStarted')).toHaveLength(1);

    const again = await fetch(`${sut.gatewayUrl}/v1/workflows/${workflowId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'timing' }, body: '{}' });
    expect(again.status).toBe(409);
  });

  it('cannot cancel another tenant\'s workflow or an unknown one (404)', async () => {
    const workflowId = await submit({ question: 'What is your refund policy?' });
    const other = await fetch(`${sut.gatewayUrl}/v1/workflows/${workflowId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'someone-else' }, body: '{}' });
    expect(other.status).toBe(404);
    const unknown = await fetch(`${sut.gatewayUrl}/v1/workflows/wf_nope/cancel`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'timing' }, body: '{}' });
    expect(unknown.status).toBe(404);
  });

  it('a chat client sees the cancellation as a terminal error frame', async () => {
    await fault(SHIPMENT, 3_000, 1);
    const chat = await ChatClient.connect(`${sut.wsUrl}?tenant=timing`);
    try {
      const pending = chat.ask('Where is my order 1001?');
      let workflowId: string | undefined;
      const deadline = Date.now() + 20_000;
      while (!workflowId && Date.now() < deadline) {
        workflowId = chat.frames.find((f) => f.type === 'accepted')?.['workflowId'] as string | undefined;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(workflowId).toBeDefined();
      await pollWorkflow(sut.gatewayUrl, workflowId!, (w) => events(w).some((e) => e.type === 'StepScheduled' && e.data['kind'] === 'tool'), 20_000, 'timing');
      const cancel = await fetch(`${sut.gatewayUrl}/v1/workflows/${workflowId!}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'timing' }, body: '{}' });
      expect(cancel.status).toBe(202);
      const result = await pending.catch((err: unknown) => err);
      const terminal = chat.frames.find((f) => f.type === 'error' && f['workflowId'] === workflowId);
      expect(terminal).toMatchObject({ code: 'CANCELLED' });
      expect(result).toBeDefined();
    } finally {
      chat.close();
    }
  });
});
