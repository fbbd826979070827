import { execFileSync } from 'node:child_process';
import { ChatClient } from '../support/chat-client';
import { requireKcat } from '../support/kcat';
import { SystemUnderTest } from '../support/system';

/*
 * Priority lanes and backpressure end to end, in whichever mode the jest project selects. A flood of
 * batch requests on the public intake topic (embedded: REST submissions, which publish there;
 * distributed: kcat, like an outside system) backs the batch lane up past a deliberately tiny
 * BACKPRESSURE_BATCH_LAG; from then on new REST submissions get 503 with
 * Retry-After, while a chat question over WebSocket (interactive lane) is still answered. Once the
 * backlog has drained, REST submissions are accepted again.
 */
jest.setTimeout(240_000);

const THRESHOLD = 40;
const DEMO = 'Where is my order 1001 and can I get delivery by tomorrow?';

let sut: SystemUnderTest;

beforeAll(async () => {
  sut = await SystemUnderTest.start(undefined, {
    BACKPRESSURE_BATCH_LAG: String(THRESHOLD),
    BACKPRESSURE_POLL_MS: '200',
    // A narrow batch lane, so a flood of a few hundred requests is a backlog for a few seconds.
    AGENT_BATCH_CONCURRENCY: '1',
  });
});

afterAll(async () => {
  await sut?.stop();
});

interface LanesBody {
  shedding: boolean;
  threshold: number;
  batch: { lag: number } | null;
  interactive: { lag: number } | null;
  measuredAt: string | null;
}

async function lanes(): Promise<LanesBody> {
  const r = await fetch(`${sut.gatewayUrl}/v1/lanes`);
  expect(r.status).toBe(200);
  return (await r.json()) as LanesBody;
}

const submit = (requestId: string): Promise<Response> => fetch(`${sut.gatewayUrl}/v1/workflows`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'Where is my order 1002?', requestId }),
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Distributed mode: publishes `count` SubmitRequests straight onto the public intake topic with kcat
 * (what an outside system does). A REST flood would not do there: each accepted REST submission
 * appends to the audit chain, which one gateway writes one record at a time, so REST alone cannot
 * outrun the batch lane.
 */
function publishIntake(count: number, run: string): void {
  const lines = Array.from({ length: count }, (_, i) => {
    const requestId = `${run}-k${i}`;
    const data = { requestId, tenantId: 'public', question: 'Where is my order 1002?', channel: 'intake' };
    return `${requestId}\t${JSON.stringify({ type: 'SubmitRequest', version: 1, id: `msg_${requestId}`, data, metadata: { occurredAt: new Date().toISOString(), tenantId: 'public' } })}`;
  });
  execFileSync('kcat', ['-b', sut.kafkaBrokers, '-P', '-t', `${sut.namespace}flotilla.intake.v1`, '-K', '\t'], { input: lines.join('\n') + '\n', timeout: 60_000 });
}

describe('batch backpressure with priority lanes', () => {
  it('refuses new REST (batch) work with 503 + Retry-After while the batch lane is backed up, keeps answering chat, and accepts REST again once it drained', async () => {
    const before = await lanes();
    expect(before).toMatchObject({ shedding: false, threshold: THRESHOLD });

    // Flood the batch lane until the gateway sheds, and keep REST submissions coming while chat is asked.
    const statuses = new Map<number, number>();
    let refused: { retryAfter: string | null; body: Record<string, unknown> } | undefined;
    let flooding = true;
    let n = 0;
    const run = `flood-${Date.now().toString(36)}`;
    if (sut.mode === 'distributed') {
      requireKcat();
      publishIntake(THRESHOLD * 4, run);
    }
    const worker = async (): Promise<void> => {
      while (flooding && n < 20_000) {
        const r = await submit(`${run}-${n++}`);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 503 && !refused) refused = { retryAfter: r.headers.get('retry-after'), body: (await r.json()) as Record<string, unknown> };
        else await r.arrayBuffer();
        // Once shedding, a slower trickle is enough to keep the lane saturated.
        if (refused) await new Promise((res) => setTimeout(res, 50));
      }
    };
    const workers = Array.from({ length: sut.mode === 'distributed' ? 2 : 16 }, worker);
    try {
      const first = await until('the first 503', async () => refused, 90_000);
      expect(Number(first.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(first.retryAfter)).toBeLessThanOrEqual(60);
      expect(first.body).toMatchObject({ statusCode: 503, code: 'BATCH_LANE_SATURATED', lane: 'batch', threshold: THRESHOLD, message: expect.stringContaining('batch lane') });
      expect(first.body['lag']).toBeGreaterThanOrEqual(THRESHOLD);

      const shedding = await lanes();
      expect(shedding.shedding).toBe(true);
      expect(shedding.batch!.lag).toBeGreaterThanOrEqual(Math.floor(THRESHOLD * 0.8));

      // Chat is the interactive lane: served while batch work is being refused.
      const chat = await ChatClient.connect(sut.wsUrl);
      try {
        const { answer, ms } = await chat.ask(DEMO, { timeoutMs: 60_000 });
        expect(answer.type).toBe('answer');
        expect(answer['text']).toContain('1001');
        expect(ms).toBeLessThan(30_000);
      } finally {
        chat.close();
      }
    } finally {
      flooding = false;
      await Promise.all(workers);
    }
    expect(statuses.get(503)).toBeGreaterThan(0);
    expect([...statuses.keys()].filter((s) => s !== 202 && s !== 503)).toEqual([]);

    // The backlog drains (nothing new is admitted past the threshold); then batch work is accepted again.
    const drained = await until('the batch lane to drain', async () => {
      const l = await lanes();
      return l.shedding ? undefined : l;
    }, 150_000);
    expect(drained.batch!.lag).toBeLessThan(THRESHOLD);
    const again = await submit(`${run}-after`);
    expect(again.status).toBe(202);
    expect(again.headers.get('retry-after')).toBeNull();
  });
});
