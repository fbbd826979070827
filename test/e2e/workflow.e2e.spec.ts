import { ChatClient, pollWorkflow } from '../support/chat-client';
import { SystemUnderTest } from '../support/system';

/*
 * The walking skeleton end to end, through the public interfaces (WebSocket, REST), in whichever
 * mode the jest project selects: embedded (one process) or distributed (six processes on Kafka and
 * FerretDB). The LLM is the built-in deterministic local model (no paid API can run here).
 */
jest.setTimeout(180_000);

let sut: SystemUnderTest;
let chat: ChatClient;

beforeAll(async () => {
  sut = await SystemUnderTest.start();
  chat = await ChatClient.connect(sut.wsUrl);
});

afterAll(async () => {
  chat?.close();
  await sut?.stop();
});

const DEMO = 'Where is my order 1001 and can I get delivery by tomorrow?';

async function json(path: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${sut.gatewayUrl}${path}`, init);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('the demo question over WebSocket', () => {
  it('streams tokens, then answers with the order\'s real status and a delivery estimate from the business services', async () => {
    const { workflowId, tokens, answer } = await chat.ask(DEMO);
    expect(answer.type).toBe('answer');
    expect(workflowId).toMatch(/^wf_/);
    const text = answer['text'] as string;

    // Tokens streamed before the answer, in order, and they make up the answer.
    expect(tokens.length).toBeGreaterThan(3);
    expect(tokens.map((t) => t['seq'])).toEqual(tokens.map((_, i) => i));
    expect(tokens.map((t) => t['text']).join('')).toBe(text);

    // The facts come from the sample business service, not from the model.
    const order = (await (await fetch(`${sut.businessUrl}/orders/1001`)).json()) as { status: string };
    const shipment = (await (await fetch(`${sut.businessUrl}/orders/1001/shipment`)).json()) as { carrier: string; trackingNumber: string };
    expect(text).toContain('1001');
    expect(text.toLowerCase()).toContain(order.status.replace(/_/g, ' '));
    expect(text).toContain(shipment.carrier);
    expect(text).toContain(shipment.trackingNumber);

    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'completed');
    const steps = wf['steps'] as { id: string; output?: Record<string, unknown> }[];
    const estimate = steps.find((s) => s.id === 'estimate-delivery')!.output!;
    expect(estimate['available']).toBe(true);
    expect(text).toContain(estimate['estimatedDelivery'] as string);
    // "by tomorrow" was resolved to a date and the answer says whether the estimate meets it.
    expect(estimate['deadline']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(typeof estimate['meetsDeadline']).toBe('boolean');
    expect(answer['validated']).toBe(true);
    expect((answer['model'] as { provider: string; label: string }).provider).toBe('local');
    expect((answer['model'] as { label: string }).label).toMatch(/not an LLM/);
  });

  it('keeps the workflow\'s full event history, with independent steps run in parallel', async () => {
    const { workflowId } = await chat.ask(DEMO);
    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'completed' && (w['events'] as unknown[]).some((e) => (e as { type: string }).type === 'WorkflowCompleted'));
    const events = wf['events'] as { sequence: number; type: string; data: Record<string, unknown> }[];
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i));
    expect(events[0]!.type).toBe('WorkflowStarted');
    expect(events.at(-1)!.type).toBe('WorkflowCompleted');
    const idx = (type: string, stepId: string): number => events.findIndex((e) => e.type === type && e.data['stepId'] === stepId);
    // Order lookup and shipment tracking are both dispatched before either completes.
    expect(idx('StepScheduled', 'lookup-order')).toBeGreaterThan(-1);
    expect(idx('StepScheduled', 'track-shipment')).toBeGreaterThan(-1);
    expect(Math.max(idx('StepScheduled', 'lookup-order'), idx('StepScheduled', 'track-shipment')))
      .toBeLessThan(Math.min(idx('StepCompleted', 'lookup-order'), idx('StepCompleted', 'track-shipment')));
    // The estimate waits for both.
    expect(idx('StepScheduled', 'estimate-delivery')).toBeGreaterThan(Math.max(idx('StepCompleted', 'lookup-order'), idx('StepCompleted', 'track-shipment')));
    expect(wf['pins']).toEqual(expect.objectContaining({ planVersion: 'plan-v2', promptVersion: 'v2', model: 'local', confirmTools: '["refund.request"]' }));
    expect(JSON.parse((wf['pins'] as { modelRoutes: string }).modelRoutes)).toEqual({ simple: ['local'], complex: ['local'], critical: ['local'] });
  });

  it('answers an unknown order truthfully, never with an invented status', async () => {
    const { answer } = await chat.ask('Where is my order 9999?');
    const text = answer['text'] as string;
    expect(text).toContain('I found no order 9999');
    expect(text.toLowerCase()).not.toMatch(/in transit|delivered|shipped|processing|out for delivery/);
  });

  it('answers a policy question from the knowledge base, with sources', async () => {
    const { answer } = await chat.ask('What is your return policy?');
    expect(answer['text']).toMatch(/30 days/);
    expect(answer['text']).toMatch(/\[1\]/);
    expect(answer['sources']).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'returns-policy' })]));
    expect(answer['validated']).toBe(true);
  });

  it('resubmitting the same request id joins the same workflow instead of starting another', async () => {
    const requestId = `dup-${Date.now()}`;
    const first = await chat.ask('Where is my order 1002?', { requestId });
    const c2 = await ChatClient.connect(sut.wsUrl);
    try {
      c2.send({ type: 'ask', question: 'Where is my order 1002?', requestId });
      const accepted = await c2.next((f) => f.type === 'accepted');
      expect(accepted['workflowId']).toBe(first.workflowId);
    } finally {
      c2.close();
    }
    const wf = await pollWorkflow(sut.gatewayUrl, first.workflowId, (w) => w['status'] === 'completed');
    expect((wf['events'] as { type: string }[]).filter((e) => e.type === 'WorkflowStarted')).toHaveLength(1);
  });
});

describe('bad input over WebSocket', () => {
  it('answers malformed and invalid frames with an error frame and keeps the connection open', async () => {
    const from = chat.frames.length;
    chat.sendRaw('{not json');
    const e1 = await chat.next((f) => f.type === 'error', 5000, from);
    expect(e1['code']).toBe('INVALID_JSON');

    const from2 = chat.frames.length;
    chat.send({ type: 'ask', question: '' });
    const e2 = await chat.next((f) => f.type === 'error', 5000, from2);
    expect(e2['code']).toBe('VALIDATION_FAILED');
    expect(e2['fields']).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'question' })]));

    const from3 = chat.frames.length;
    chat.send({ type: 'launch-missiles' });
    expect((await chat.next((f) => f.type === 'error', 5000, from3))['code']).toBe('UNKNOWN_FRAME');

    const from4 = chat.frames.length;
    chat.send({ type: 'ask', question: 'x'.repeat(70_000) });
    expect((await chat.next((f) => f.type === 'error', 5000, from4))['code']).toBe('PAYLOAD_TOO_LARGE');

    expect(chat.open).toBe(true);
    const { answer } = await chat.ask('What is your warranty policy?');
    expect(answer.type).toBe('answer');
  });
});

describe('REST', () => {
  it('accepts an async submission (202 + id) whose result is retrievable', async () => {
    const r = await json('/v1/workflows', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: DEMO }) });
    expect(r.status).toBe(202);
    expect(r.body['workflowId']).toMatch(/^wf_/);
    expect(r.body['location']).toBe(`/v1/workflows/${r.body['workflowId'] as string}`);
    const wf = await pollWorkflow(sut.gatewayUrl, r.body['workflowId'] as string, (w) => w['status'] === 'completed');
    expect(wf['answer']).toEqual(expect.stringContaining('1001'));
    expect(wf['requestId']).toBe(r.body['requestId']);
  });

  it('composes a REST (batch-lane) answer whole, and a client that follows it over WebSocket gets the answer frame', async () => {
    const r = await json('/v1/workflows', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: DEMO }) });
    const workflowId = r.body['workflowId'] as string;
    const follower = await ChatClient.connect(sut.wsUrl);
    try {
      follower.send({ type: 'resume', workflowId });
      const answer = await follower.next((f) => (f.type === 'answer' || f.type === 'error') && f['workflowId'] === workflowId, 60_000);
      expect(answer).toEqual(expect.objectContaining({ type: 'answer', text: expect.stringContaining('1001') }));
      // Nobody watches a batch answer being written: no tokens were streamed for it.
      expect(follower.frames.filter((f) => f.type === 'token' && f['workflowId'] === workflowId)).toEqual([]);
    } finally {
      follower.close();
    }
    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => (w['events'] as { type: string }[] | undefined)?.some((e) => e.type === 'WorkflowCompleted') === true);
    const composed = (wf['events'] as { type: string; data: Record<string, unknown> }[]).find((e) => e.type === 'StepCompleted' && e.data['stepId'] === 'compose');
    expect(composed?.data['output']).toEqual(expect.objectContaining({ streamedTokens: 0, answer: wf['answer'] }));
  });

  it('rejects invalid bodies with 400 and field-level reasons', async () => {
    const r = await json('/v1/workflows', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 42, requestId: 'has spaces', extra: true }) });
    expect(r.status).toBe(400);
    const fields = (r.body['fields'] as { field: string }[]).map((f) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['question', 'requestId', 'extra']));
  });

  it('rejects malformed JSON with 400 and oversized bodies with 413', async () => {
    const bad = await json('/v1/workflows', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"question":' });
    expect(bad.status).toBe(400);
    const big = await json('/v1/workflows', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'x'.repeat(200_000) }) });
    expect(big.status).toBe(413);
  });

  it('returns 404 for an unknown workflow and for another tenant\'s workflow', async () => {
    expect((await json('/v1/workflows/wf_doesnotexist')).status).toBe(404);
    const r = await json('/v1/workflows', { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'acme' }, body: JSON.stringify({ question: 'hello' }) });
    expect(r.status).toBe(202);
    await pollWorkflow(sut.gatewayUrl, r.body['workflowId'] as string, (w) => w['status'] === 'completed', 30_000, 'acme');
    expect((await json(`/v1/workflows/${r.body['workflowId'] as string}`)).status).toBe(404);
  });

  it('serves the OpenAPI document and health endpoints', async () => {
    const doc = await json('/docs-json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body['paths'] as object)).toEqual(expect.arrayContaining(['/v1/workflows', '/v1/workflows/{id}']));
    expect((await json('/healthz')).status).toBe(200);
    expect((await json('/readyz')).status).toBe(200);
  });
});
