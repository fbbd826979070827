import { ChatClient, Frame, pollWorkflow } from '../support/chat-client';
import { Mode, SystemUnderTest } from '../support/system';

/*
 * Side effects from a real user request, behind an explicit confirmation (docs/adr/0012): a user asks
 * for a refund, is shown exactly what will be done, and only a confirmation makes the sample business
 * service create it — counted there, per idempotency key. Declining, or not answering in time, does
 * nothing. Over WebSocket and over REST, with the tenant and conflict checks a user would hit.
 */
jest.setTimeout(180_000);
const mode = (process.env['FLOTILLA_TEST_MODE'] as Mode | undefined) ?? 'embedded';
/** Short, so the expiry case is quick; the automated answers below come well within it. */
const CONFIRMATION_TIMEOUT_MS = 8_000;

interface Ledger { refundsCreated: number; keys: Record<string, { requests: number; created: number }> }
interface Ev { sequence: number; type: string; data: Record<string, unknown> }

describe('confirmation of side-effecting steps', () => {
  let sut: SystemUnderTest;
  let chat: ChatClient;
  beforeAll(async () => {
    sut = await SystemUnderTest.start(mode, { CONFIRMATION_TIMEOUT_MS: String(CONFIRMATION_TIMEOUT_MS) });
    chat = await ChatClient.connect(sut.wsUrl);
  });
  afterAll(async () => {
    chat?.close();
    await sut?.stop();
  });

  const ledger = async (): Promise<Ledger> => (await (await fetch(`${sut.businessUrl}/_refunds`)).json()) as Ledger;
  const confirmRest = (workflowId: string, body: unknown, tenant = 'acme'): Promise<Response> => fetch(`${sut.gatewayUrl}/v1/workflows/${workflowId}/confirm`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': tenant }, body: JSON.stringify(body),
  });

  /** Asks over the chat and waits for the confirmation question (or whatever ends the stream first). */
  async function askForRefund(question: string): Promise<{ workflowId: string; question: Frame; from: number }> {
    const from = chat.frames.length;
    chat.send({ type: 'ask', question });
    const accepted = await chat.next((f) => f.type === 'accepted' || f.type === 'error', 10_000, from);
    expect(accepted.type).toBe('accepted');
    const workflowId = accepted['workflowId'] as string;
    const asked = await chat.next((f) => f['workflowId'] === workflowId && ['confirmation', 'answer', 'error'].includes(f.type), 60_000, from);
    return { workflowId, question: asked, from };
  }

  it('WebSocket: asks before refunding, shows exactly what will be done, refunds once after the user confirms', async () => {
    const before = await ledger();
    const { workflowId, question, from } = await askForRefund('Please refund $5 on order 1001');
    expect(question).toMatchObject({
      type: 'confirmation', workflowId, tool: 'refund.request', args: { orderId: '1001', amount: 5, reason: 'requested by the customer' },
      summary: 'Refund $5.00 on order 1001 (reason: requested by the customer)',
    });
    expect(Date.parse(question['expiresAt'] as string)).toBeGreaterThan(Date.now());
    // Nothing happened while the question is open.
    expect((await ledger()).refundsCreated).toBe(before.refundsCreated);

    chat.send({ type: 'confirm', workflowId, approve: true });
    expect(await chat.next((f) => f.type === 'confirming' && f['workflowId'] === workflowId, 10_000, from)).toMatchObject({ approve: true, summary: question['summary'] });
    const answer = await chat.next((f) => (f.type === 'answer' || f.type === 'error') && f['workflowId'] === workflowId, 60_000, from);
    expect(answer).toMatchObject({ type: 'answer', validated: true });
    expect(answer['text']).toMatch(/^I refunded \$5\.00 on order 1001, refund id rf_[0-9a-f]+ \(approved\)\.$/);

    const after = await ledger();
    expect(after.refundsCreated).toBe(before.refundsCreated + 1);
    const newKeys = Object.entries(after.keys).filter(([k]) => !(k in before.keys));
    expect(newKeys).toHaveLength(1);
    expect(newKeys[0]![1].created).toBe(1);

    // The log says who confirmed what, and the dispatched step carried that confirmation.
    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'completed');
    const events = wf['events'] as Ev[];
    const types = events.map((e) => e.type);
    expect(types.indexOf('StepAwaitingConfirmation')).toBeLessThan(types.indexOf('ConfirmationGiven'));
    const refundScheduled = events.find((e) => e.type === 'StepScheduled' && e.data['stepId'] === 'request-refund')!;
    expect(refundScheduled.data['confirmation']).toEqual(expect.objectContaining({ confirmedBy: 'anonymous' }));
    expect(types.indexOf('ConfirmationGiven')).toBeLessThan(events.indexOf(refundScheduled));

    // A second answer is refused, and changes nothing.
    const again = chat.frames.length;
    chat.send({ type: 'confirm', workflowId, approve: true });
    expect(await chat.next((f) => f.type === 'error' && f['workflowId'] === workflowId, 10_000, again)).toMatchObject({ code: 'ALREADY_ANSWERED' });
    expect((await ledger()).refundsCreated).toBe(after.refundsCreated);
  });

  it('WebSocket: a decline ends the workflow saying nothing was done, and nothing is refunded', async () => {
    const before = await ledger();
    const { workflowId, question, from } = await askForRefund('Please refund $7 on order 1002');
    expect(question).toMatchObject({ type: 'confirmation', summary: 'Refund $7.00 on order 1002 (reason: requested by the customer)' });
    chat.send({ type: 'confirm', workflowId, approve: false });
    const answer = await chat.next((f) => (f.type === 'answer' || f.type === 'error') && f['workflowId'] === workflowId, 60_000, from);
    expect(answer).toMatchObject({ type: 'answer', text: 'You declined, so nothing was done: "Refund $7.00 on order 1002 (reason: requested by the customer)" did not happen.' });
    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'completed');
    const events = wf['events'] as Ev[];
    expect(events.some((e) => e.type === 'ConfirmationDeclined')).toBe(true);
    expect(events.some((e) => e.type === 'StepScheduled' && e.data['stepId'] === 'request-refund')).toBe(false);
    expect((await ledger()).refundsCreated).toBe(before.refundsCreated);
  });

  it('REST: POST /v1/workflows/{id}/confirm, tenant-checked, once; 409 when no question is open', async () => {
    const before = await ledger();
    const submitted = await fetch(`${sut.gatewayUrl}/v1/workflows`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'acme' }, body: JSON.stringify({ question: 'Please refund $3 on order 1004' }),
    });
    expect(submitted.status).toBe(202);
    const { workflowId } = (await submitted.json()) as { workflowId: string };
    const waiting = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['awaitingConfirmation'] !== undefined, 60_000, 'acme');
    expect(waiting).toMatchObject({ status: 'running', awaitingConfirmation: { stepId: 'request-refund', tool: 'refund.request', args: { orderId: '1004', amount: 3 } } });

    expect((await confirmRest(workflowId, { approve: true }, 'globex')).status).toBe(404);
    expect((await confirmRest('wf_nosuchworkflow', { approve: true })).status).toBe(404);
    expect((await confirmRest(workflowId, { approve: 'yes' })).status).toBe(400);
    expect((await ledger()).refundsCreated).toBe(before.refundsCreated);

    const first = await confirmRest(workflowId, { approve: true });
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ workflowId, stepId: 'request-refund', approve: true, status: 'confirming', summary: 'Refund $3.00 on order 1004 (reason: requested by the customer)' });
    const second = await confirmRest(workflowId, { approve: false });
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({ code: 'ALREADY_ANSWERED' });

    const done = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'completed', 60_000, 'acme');
    expect(done['answer']).toMatch(/^I refunded \$3\.00 on order 1004, refund id rf_/);
    expect(done['validated']).toBe(true);
    expect((await ledger()).refundsCreated).toBe(before.refundsCreated + 1);
    // Ended: no question open.
    const late = await confirmRest(workflowId, { approve: true });
    expect(late.status).toBe(409);

    // A workflow that never asks anything.
    const plain = await fetch(`${sut.gatewayUrl}/v1/workflows`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant-id': 'acme' }, body: JSON.stringify({ question: 'Where is my order 1001?' }),
    });
    const plainId = ((await plain.json()) as { workflowId: string }).workflowId;
    await pollWorkflow(sut.gatewayUrl, plainId, (w) => w['status'] === 'completed', 60_000, 'acme');
    const notAsked = await confirmRest(plainId, { approve: true });
    expect(notAsked.status).toBe(409);
    expect(await notAsked.json()).toMatchObject({ code: 'NOT_AWAITING_CONFIRMATION' });
  });

  it('a confirmed amount above what the order allows is refused by the shop, and the answer says so', async () => {
    const before = await ledger();
    const { workflowId, question, from } = await askForRefund('Please refund $500 on order 1002');
    expect(question).toMatchObject({ type: 'confirmation', args: { orderId: '1002', amount: 500 } });
    chat.send({ type: 'confirm', workflowId, approve: true });
    const answer = await chat.next((f) => (f.type === 'answer' || f.type === 'error') && f['workflowId'] === workflowId, 60_000, from);
    expect(answer).toMatchObject({ type: 'answer', validated: true });
    expect(answer['text']).toMatch(/^I could not refund \$500\.00 on order 1002: at most \$\d+\.\d{2} can still be refunded on that order\. Nothing was refunded\.$/);
    expect((await ledger()).refundsCreated).toBe(before.refundsCreated);
  });

  it('no answer within the confirmation timeout ends the workflow as expired, nothing done', async () => {
    const before = await ledger();
    const { workflowId, question, from } = await askForRefund('Please refund $2 on order 1004');
    expect(question.type).toBe('confirmation');
    const ended = await chat.next((f) => (f.type === 'answer' || f.type === 'error') && f['workflowId'] === workflowId, CONFIRMATION_TIMEOUT_MS + 30_000, from);
    expect(ended).toMatchObject({ type: 'error', code: 'CONFIRMATION_EXPIRED' });
    expect(ended['message']).toMatch(/nothing was done/);
    const wf = await pollWorkflow(sut.gatewayUrl, workflowId, (w) => w['status'] === 'failed');
    expect((wf['events'] as Ev[]).some((e) => e.type === 'ConfirmationExpired')).toBe(true);
    expect((await ledger()).refundsCreated).toBe(before.refundsCreated);
  });
});
