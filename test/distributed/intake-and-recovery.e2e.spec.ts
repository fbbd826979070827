import { ChatClient, pollWorkflow } from '../support/chat-client';
import { kcatConsumeAll, kcatProduce, requireKcat, until } from '../support/kcat';
import { SystemUnderTest } from '../support/system';

/*
 * Distributed mode only: each service its own process on the real Apache Kafka and FerretDB started
 * by scripts/infra.sh. An outside system (kcat — a real Kafka client nobody here wrote) publishes
 * onto the intake topic and reads the results topic; the coordinator is killed with SIGKILL in the
 * middle of a workflow and the workflow still finishes, its state rebuilt from the log alone.
 */
jest.setTimeout(240_000);

let sut: SystemUnderTest;

beforeAll(async () => {
  requireKcat();
  sut = await SystemUnderTest.start('distributed');
});

afterAll(async () => {
  await sut?.stop();
});




describe('intake topic, driven by kcat', () => {
  it('answers a SubmitRequest published by an outside Kafka client on the results topic', async () => {
    const requestId = `kcat-${Date.now()}`;
    const message = { type: 'SubmitRequest', version: 1, id: `ext-${requestId}`, data: { requestId, tenantId: 'public', question: 'Where is my order 1001 and can I get delivery by tomorrow?' } };
    kcatProduce(sut, 'flotilla.intake.v1', requestId, JSON.stringify(message));
    const result = await until('RequestAnswered on the results topic', () => kcatConsumeAll(sut, 'flotilla.results.v1')
      .map((m) => JSON.parse(m.payload ?? '{}') as { type: string; data: Record<string, unknown> })
      .find((m) => m.type === 'RequestAnswered' && m.data['requestId'] === requestId));
    expect(result.data['status']).toBe('completed');
    expect(result.data['answer']).toEqual(expect.stringContaining('1001'));
    expect(result.data['answer']).toEqual(expect.stringMatching(/in transit/i));
  });

  it('dead-letters a malformed intake message with its reason and keeps consuming', async () => {
    const badKey = `bad-${Date.now()}`;
    kcatProduce(sut, 'flotilla.intake.v1', badKey, '{"type":"SubmitRequest","version":1,"data":{"requestId":"x y","question":""}}');
    const requestId = `after-bad-${Date.now()}`;
    kcatProduce(sut, 'flotilla.intake.v1', badKey, JSON.stringify({ type: 'SubmitRequest', version: 1, id: requestId, data: { requestId, tenantId: 'public', question: 'What is your warranty policy?' } }));
    const dead = await until('a dead-letter record', () => kcatConsumeAll(sut, 'flotilla.dlq.v1')
      .map((m) => JSON.parse(m.payload ?? '{}') as { data: Record<string, unknown> })
      .find((m) => m.data['sourceTopic'] === 'flotilla.intake.v1' && String(m.data['payload']).includes('x y')));
    expect(dead.data['errorCode']).toBe('INVALID_MESSAGE');
    expect(dead.data['reason']).toMatch(/requestId/);
    expect(dead.data['reason']).toMatch(/question/);
    const next = await until('the next valid message answered', () => kcatConsumeAll(sut, 'flotilla.results.v1')
      .map((m) => JSON.parse(m.payload ?? '{}') as { data: Record<string, unknown> })
      .find((m) => m.data['requestId'] === requestId));
    expect(next.data['status']).toBe('completed');
  });
});

describe('coordinator crash', () => {
  it('kill -9 mid-workflow loses nothing: after restart the workflow finishes from the log alone', async () => {
    // Hold the shipment lookup so the workflow is certainly in flight when the coordinator dies.
    const fault = await fetch(`${sut.businessUrl}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ route: 'GET /orders/:id/shipment', delayMs: 2500, count: 1 }) });
    expect(fault.status).toBeLessThan(300);
    const chat = await ChatClient.connect(sut.wsUrl);
    try {
      chat.send({ type: 'ask', question: 'Where is my order 1001 and can I get delivery by tomorrow?' });
      const accepted = await chat.next((f) => f.type === 'accepted');
      const workflowId = accepted['workflowId'] as string;
      await chat.next((f) => f.type === 'step' && f['stepId'] === 'track-shipment' && f['status'] === 'scheduled');

      sut.kill('coordinator');
      await new Promise((r) => setTimeout(r, 500));
      const before = await pollWorkflow(sut.gatewayUrl, workflowId, () => true);
      expect(before['status']).toBe('running');

      await sut.startProc('coordinator');
      const answer = await chat.next((f) => f.type === 'answer' && f['workflowId'] === workflowId, 60_000);
      expect(answer['text']).toEqual(expect.stringContaining('1001'));

      const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'completed' && (w['events'] as { type: string }[]).some((e) => e.type === 'WorkflowCompleted'));
      const events = wf['events'] as { sequence: number; type: string; data: Record<string, unknown> }[];
      expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i));
      expect(events.filter((e) => e.type === 'WorkflowStarted')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'WorkflowCompleted')).toHaveLength(1);
      // Every step completed exactly once.
      const completed = events.filter((e) => e.type === 'StepCompleted').map((e) => e.data['stepId']);
      expect(new Set(completed).size).toBe(completed.length);
      expect(sut.logs('coordinator')).toMatch(/workflow state rebuilt from the event log/);
    } finally {
      chat.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM on an agent finishes its in-flight step, commits, and exits 0: nothing is redone after restart', async () => {
    const stats = async (): Promise<number> => ((await (await fetch(`${sut.businessUrl}/_stats`)).json()) as { requests: Record<string, number> }).requests['GET /orders/:id/shipment'] ?? 0;
    await fetch(`${sut.businessUrl}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ route: 'GET /orders/:id/shipment', delayMs: 2000, count: 1 }) });
    const before = await stats();
    const chat = await ChatClient.connect(sut.wsUrl);
    try {
      chat.send({ type: 'ask', question: 'Where is my order 1004?' });
      const workflowId = (await chat.next((f) => f.type === 'accepted'))['workflowId'] as string;
      await chat.next((f) => f.type === 'step' && f['stepId'] === 'track-shipment' && f['status'] === 'scheduled');
      await new Promise((r) => setTimeout(r, 300)); // the tool call is now waiting on the delayed service
      const { code } = await sut.terminate('tool');
      expect(code).toBe(0);
      // The in-flight step was finished and reported before the process left.
      await chat.next((f) => f.type === 'step' && f['stepId'] === 'track-shipment' && f['status'] === 'completed', 10_000);
      await sut.startProc('tool');
      const answer = await chat.next((f) => f.type === 'answer' && f['workflowId'] === workflowId, 60_000);
      expect(answer['text']).toEqual(expect.stringContaining('1004'));
      expect((await stats()) - before).toBe(1);
    } finally {
      chat.close();
    }
  });
});
