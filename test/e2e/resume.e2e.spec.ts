import { RecordedRequest, ScriptedResponse, startOpenAiTestServer, OpenAiTestServer } from '../../libs/llm/src/testing/openai-test-server';
import { ChatClient, Frame } from '../support/chat-client';
import { Mode, SystemUnderTest } from '../support/system';

/*
 * Resumable answer streams, end to end over the WebSocket: a client drops in the middle of an
 * answer, reconnects — in the distributed mode to a SECOND gateway process started after the
 * tokens went by, with the first one gone — sends `resume` with the last cursor it got, and receives
 * the rest: no gap, no duplicate. The "provider" is a local OpenAI-compatible test server that
 * streams the answer slowly enough to drop in the middle of it.
 */
jest.setTimeout(240_000);
const mode = (process.env['FLOTILLA_TEST_MODE'] as Mode | undefined) ?? 'embedded';

/** No order ids, dates or links: nothing for the validator to reject. */
const ANSWER = 'Thank you for reaching out. I can help you with questions about your orders and their delivery, about returns, and about our warranty. '
  + 'Tell me what you would like to know and I will gladly look into it for you right away. You can also ask about our store policies at any time, '
  + 'and I will answer from what our records and our knowledge base say.';
/** A first draft with a date no tool returned: the validator sends it back for revision. */
const INVENTED = 'Your order will be delivered on 2031-01-01 without fail, and the carrier has confirmed it twice already for you.';
const CHUNK_DELAY_MS = 120;
/** Where the "[held]" answer stops streaming until the test lets it go on. */
const HELD_AT = 12;
let holdUntil: Promise<unknown> = Promise.resolve();

function isPlanCall(req: RecordedRequest): boolean {
  return ((req.body?.['tools'] as { function?: { name?: string } }[] | undefined) ?? []).some((t) => t.function?.name === 'submit_plan');
}

function script(req: RecordedRequest): ScriptedResponse {
  if (isPlanCall(req)) {
    return {
      kind: 'tool', name: 'submit_plan', arguments: {
        intent: { intent: 'order_status', orderId: '1001' }, steps: [
          { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId: '1001' } }, dependsOn: [] },
          { id: 'compose', kind: 'compose', input: {}, dependsOn: ['lookup-order'] },
          // No `answer` reference: the validator takes the draft from its dependencies, the revised one included.
          { id: 'validate', kind: 'validate', input: {}, dependsOn: ['compose'] },
        ],
      },
    };
  }
  const prompt = JSON.stringify(req.body?.['messages'] ?? []);
  // The question asks for a revision: the first draft invents a date; the revision (which carries the validator's reasons) does not.
  if (prompt.includes('[draft-twice]') && !prompt.includes('2031-01-01')) return { kind: 'text', text: INVENTED, chunkDelayMs: CHUNK_DELAY_MS };
  if (prompt.includes('[held]')) return { kind: 'text', text: ANSWER, chunkDelayMs: CHUNK_DELAY_MS, pauseAt: { chunk: HELD_AT, until: holdUntil } };
  return { kind: 'text', text: ANSWER, chunkDelayMs: CHUNK_DELAY_MS };
}

const wsOf = (httpUrl: string): string => `${httpUrl.replace(/^http/, 'ws')}/v1/chat`;
const tokensOf = (frames: Frame[], workflowId: string): Frame[] => frames.filter((f) => f.type === 'token' && f['workflowId'] === workflowId);

/** Waits until `client` has received `n` token frames of the workflow. */
async function waitForTokens(client: ChatClient, workflowId: string, n: number): Promise<void> {
  await client.next(() => tokensOf(client.frames, workflowId).length >= n, 60_000);
}

/** Orders cursors as the protocol does: `"<event>"` before `"<event>:<seq>"`, both numerically. */
function cursorKey(c: unknown): [number, number] {
  const [at, seq] = String(c).split(':');
  return [Number(at), seq === undefined ? -1 : Number(seq)];
}
const before = (a: unknown, b: unknown): boolean => {
  const [x1, y1] = cursorKey(a);
  const [x2, y2] = cursorKey(b);
  return x1 < x2 || (x1 === x2 && y1 < y2);
};

describe('resumable answer streams', () => {
  let provider: OpenAiTestServer;
  let sut: SystemUnderTest;
  /** Where clients reconnect: a second gateway in the distributed mode, the one process in the embedded mode. */
  let resumeUrl = '';

  beforeAll(async () => {
    provider = await startOpenAiTestServer();
    provider.script(script);
    // The held answer sends nothing mid-stream while a gateway is killed and another started (~20 s):
    // a silence longer than the default stream idle limit, which would (rightly) cut it and retry the
    // step. (The whole-call LLM_ATTEMPT_TIMEOUT_MS does not apply to a text stream.)
    sut = await SystemUnderTest.start(mode, { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: provider.url, OPENAI_MODEL: 'gpt-test', LLM_STREAM_IDLE_TIMEOUT_MS: '60000' });
    resumeUrl = sut.gatewayUrl;
  });

  afterAll(async () => {
    await sut?.stop();
    await provider?.close();
  });

  it('sends a client that dropped mid-answer and resumed — on another gateway process — the rest, with no gap and no duplicate', async () => {
    // The answer stops after HELD_AT tokens until the client has resumed, so the rest is partly stored
    // (streamed before the second gateway ran), partly live — whatever the machine's speed.
    let release = (): void => undefined;
    holdUntil = new Promise<void>((r) => (release = r));
    const first = await ChatClient.connect(sut.wsUrl);
    first.send({ type: 'ask', question: 'Where is my order 1001? [held]' });
    const workflowId = (await first.next((f) => f.type === 'accepted', 10_000))['workflowId'] as string;
    const k = 5;
    await waitForTokens(first, workflowId, k);
    first.close();
    // What the client had when it dropped (frames still in flight to a closing socket are not counted).
    const got = tokensOf(first.frames.slice(), workflowId);
    const last = got.at(-1)!;
    // Every frame carries its position; tokens are in order with no gap so far.
    expect(got.map((t) => t['seq'])).toEqual(got.map((_, i) => i));
    expect(got.every((t, i) => i === 0 || before(got[i - 1]!['cursor'], t['cursor']))).toBe(true);

    if (mode === 'distributed') {
      // The client's gateway crashes (kill -9: no goodbye to its consumer groups), and the client
      // reconnects to a gateway that was not running while those tokens were streamed.
      sut.kill('gateway');
      resumeUrl = await sut.startExtraGateway('gateway-2');
    }

    const second = await ChatClient.connect(wsOf(resumeUrl));
    try {
      second.send({ type: 'resume', workflowId, after: last['cursor'] });
      await second.next((f) => f.type === 'resumed' || f.type === 'error', 10_000);
      release();
      const answer = await second.next((f) => (f.type === 'answer' || f.type === 'error') && f['workflowId'] === workflowId, 90_000);
      if (answer.type !== 'answer') throw new Error(`resumed stream ended with ${JSON.stringify(answer)}`);
      const mine = second.frames.filter((f) => f['workflowId'] === workflowId && f.type !== 'step');
      // Still streaming when it resumed.
      expect(mine[0]).toEqual(expect.objectContaining({ type: 'resumed', workflowId, after: last['cursor'], requestId: expect.any(String), status: 'running' }));
      const rest = tokensOf(second.frames, workflowId);
      const all = [...got, ...rest];

      // No duplicate and no gap: the seqs run 0..n-1 exactly once, the cursors strictly increase.
      expect(all.map((t) => t['seq'])).toEqual(all.map((_, i) => i));
      expect(new Set(all.map((t) => t['cursor'])).size).toBe(all.length);
      expect(all.every((t, i) => i === 0 || before(all[i - 1]!['cursor'], t['cursor']))).toBe(true);
      expect(rest.length).toBeGreaterThan(0);
      // Together they are exactly the answer, which comes last.
      expect(all.map((t) => t['text']).join('')).toBe(answer['text']);
      expect(answer['text']).toBe(ANSWER);
      expect(answer['validated']).toBe(true);
      expect(mine.at(-1)).toBe(answer);
      expect(before(rest.at(-1)!['cursor'], answer['cursor'])).toBe(true);
      // Nothing was skipped after the bounded wait: the gap between stored and live tokens was filled.
      expect(sut.logs(mode === 'distributed' ? 'gateway-2' : 'flotilla')).not.toContain('gave up waiting');

      // Resuming a finished stream from its start replays it whole; from its last cursor, nothing more.
      const from = second.frames.length;
      second.send({ type: 'resume', workflowId });
      const replayed = await second.next((f) => f.type === 'answer' && f['workflowId'] === workflowId, 30_000, from);
      const replay = second.frames.slice(from).filter((f) => f.type === 'token');
      expect(replay.map((t) => t['cursor'])).toEqual(all.map((t) => t['cursor']));
      expect(replayed['cursor']).toBe(answer['cursor']);
      expect(replayed['requestId']).toBe(answer['requestId']);

      const from2 = second.frames.length;
      second.send({ type: 'resume', workflowId, after: answer['cursor'] });
      expect(await second.next((f) => f.type === 'resumed', 10_000, from2)).toEqual(expect.objectContaining({ status: 'completed' }));
      second.send({ type: 'ping' });
      await second.next((f) => f.type === 'pong', 5000, from2);
      expect(second.frames.slice(from2).filter((f) => f.type === 'token' || f.type === 'answer')).toEqual([]);
    } finally {
      release();
      second.close();
    }
  });

  it('resumes across a revision: the rejected draft\'s rest, the revision, then the revised answer', async () => {
    const first = await ChatClient.connect(wsOf(resumeUrl));
    first.send({ type: 'ask', question: 'Where is my order 1001? [draft-twice]' });
    const workflowId = (await first.next((f) => f.type === 'accepted', 10_000))['workflowId'] as string;
    await waitForTokens(first, workflowId, 3);
    first.close();
    // What the client had when it dropped (frames still in flight to a closing socket are not counted).
    const had = first.frames.slice();
    const got = tokensOf(had, workflowId);

    const second = await ChatClient.connect(wsOf(resumeUrl));
    try {
      second.send({ type: 'resume', workflowId, after: got.at(-1)!['cursor'] });
      const answer = await second.next((f) => (f.type === 'answer' || f.type === 'error') && f['workflowId'] === workflowId, 90_000);
      expect(answer.type).toBe('answer');
      const stream = [...had, ...second.frames].filter((f) => f['workflowId'] === workflowId && ['token', 'revision', 'answer'].includes(f.type));
      const revisionAt = stream.findIndex((f) => f.type === 'revision');
      expect(revisionAt).toBeGreaterThan(0);
      expect(stream.map((f) => f['cursor'])).toEqual([...stream.map((f) => f['cursor'])].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0)));
      expect(new Set(stream.map((f) => f['cursor'])).size).toBe(stream.length);
      const draft = stream.slice(0, revisionAt);
      const revised = stream.slice(revisionAt + 1, -1);
      expect(draft.map((t) => t['text']).join('')).toBe(INVENTED);
      expect(draft.map((t) => t['seq'])).toEqual(draft.map((_, i) => i));
      expect(revised.map((t) => t['seq'])).toEqual(revised.map((_, i) => i));
      expect(revised.map((t) => t['text']).join('')).toBe(answer['text']);
      expect(answer['text']).toBe(ANSWER);
    } finally {
      second.close();
    }
  });

  it('refuses to resume another tenant\'s workflow or an unknown one, and keeps the connection open', async () => {
    const owner = await ChatClient.connect(`${wsOf(resumeUrl)}?tenant=acme`);
    const { workflowId } = await owner.ask('Where is my order 1001?');
    owner.close();

    const other = await ChatClient.connect(`${wsOf(resumeUrl)}?tenant=globex`);
    try {
      other.send({ type: 'resume', workflowId });
      const refused = await other.next((f) => f.type === 'error', 10_000);
      expect(refused).toEqual(expect.objectContaining({ code: 'NOT_FOUND', workflowId }));

      const from = other.frames.length;
      other.send({ type: 'resume', workflowId: 'wf_no_such_workflow', after: '3:1' });
      expect(await other.next((f) => f.type === 'error', 10_000, from)).toEqual(expect.objectContaining({ code: 'NOT_FOUND', workflowId: 'wf_no_such_workflow' }));

      const from2 = other.frames.length;
      other.send({ type: 'resume', workflowId, after: 'not-a-cursor' });
      const invalid = await other.next((f) => f.type === 'error', 10_000, from2);
      expect(invalid['code']).toBe('VALIDATION_FAILED');
      expect(invalid['fields']).toEqual([expect.objectContaining({ field: 'after' })]);

      // Nothing of that workflow leaked, and the socket still serves.
      expect(other.frames.filter((f) => f.type === 'token' || f.type === 'answer' || f.type === 'resumed')).toEqual([]);
      expect(other.open).toBe(true);
      const from3 = other.frames.length;
      other.send({ type: 'ping' });
      await other.next((f) => f.type === 'pong', 5000, from3);
    } finally {
      other.close();
    }
  });
});
