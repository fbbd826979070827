import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { kcatConsumeAll, kcatProduce, requireKcat, until } from '../support/kcat';
import { SystemUnderTest } from '../support/system';

/*
 * The dead-letter review inbox end to end, distributed mode only: the poison message has to reach
 * the intake topic from outside, and only Kafka (driven here by kcat) is reachable from outside —
 * the embedded mode's log is in-process. An operator finds the poison message in GET /v1/dlq,
 * retries it corrected, and the workflow completes; the record cannot be acted on twice, another
 * tenant cannot see it, and the audit chain records the action and verifies.
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

async function call(path: string, init: { method?: string; body?: unknown; tenant?: string; actor?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.tenant) headers['x-tenant-id'] = init.tenant;
  if (init.actor) headers['x-actor'] = init.actor;
  const r = await fetch(`${sut.gatewayUrl}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

type Item = Record<string, unknown> & { id: string; status: string; payload: string };

describe('dead-letter review inbox', () => {
  it('shows a poison intake message with its reason; edit-and-retry completes the workflow, once, for its tenant only, audited', async () => {
    const marker = `poison-${Date.now()}`;
    kcatProduce(sut, 'flotilla.intake.v1', marker, JSON.stringify({ type: 'SubmitRequest', version: 1, id: marker, data: { requestId: `x y ${marker}`, question: '' } }));

    // Records with no tenant header are the public tenant's.
    const item = await poll('the poison message in GET /v1/dlq', async () => {
      const { status, body } = await call('/v1/dlq?status=open&limit=50');
      expect(status).toBe(200);
      return (body['items'] as Item[]).find((i) => i.payload.includes(marker));
    });
    expect(item).toMatchObject({ status: 'open', tenantId: '', sourceTopic: 'flotilla.intake.v1', key: marker, errorCode: 'INVALID_MESSAGE', payloadEncoding: 'utf8', attempts: 1 });
    expect(item['reason']).toMatch(/requestId/);
    expect(item['reason']).toMatch(/question/);
    expect(typeof item['consumerGroup']).toBe('string');
    expect(typeof item['offset']).toBe('string');

    const inspected = await call(`/v1/dlq/${item.id}`);
    expect(inspected.status).toBe(200);
    expect(inspected.body).toMatchObject({ id: item.id, payload: item.payload, reason: item['reason'], partition: item['partition'], history: [] });

    // Another tenant sees nothing of it and cannot act on it.
    expect((await call(`/v1/dlq/${item.id}`, { tenant: 'acme' })).status).toBe(404);
    expect(((await call('/v1/dlq', { tenant: 'acme' })).body['items'] as Item[]).some((i) => i.id === item.id)).toBe(false);
    expect((await call(`/v1/dlq/${item.id}/discard`, { method: 'POST', tenant: 'acme', body: { reason: 'not mine' } })).status).toBe(404);

    // Bad bodies are refused with the field and why; a correction the topic would reject too.
    const missing = await call(`/v1/dlq/${item.id}/retry`, { method: 'POST', body: {} });
    expect(missing.status).toBe(400);
    expect((missing.body['fields'] as { field: string }[]).map((f) => f.field)).toContain('payload');
    const stillBad = await call(`/v1/dlq/${item.id}/retry`, { method: 'POST', body: { payload: item.payload } });
    expect(stillBad.status).toBe(400);
    expect(JSON.stringify(stillBad.body['fields'])).toMatch(/requestId/);
    expect((await call('/v1/dlq/nope_unknown/replay', { method: 'POST' })).status).toBe(404);

    // Edit and retry with a corrected SubmitRequest.
    const requestId = `fixed-${Date.now()}`;
    const corrected = JSON.stringify({ type: 'SubmitRequest', version: 1, id: `msg-${requestId}`, data: { requestId, tenantId: 'public', question: 'What is your warranty policy?' } });
    const retried = await call(`/v1/dlq/${item.id}/retry`, { method: 'POST', actor: 'ops@example.com', body: { payload: corrected } });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id: item.id, status: 'retried', resolution: { status: 'retried', actor: 'ops@example.com' } });

    const answered = await until('the corrected request answered on the results topic', () => kcatConsumeAll(sut, 'flotilla.results.v1')
      .map((m) => JSON.parse(m.payload ?? '{}') as { type: string; data: Record<string, unknown> })
      .find((m) => m.type === 'RequestAnswered' && m.data['requestId'] === requestId));
    expect(answered.data['status']).toBe('completed');

    // Acted on once: every further action is a conflict, and the record stays retried.
    for (const [action, body] of [['replay', undefined], ['retry', { payload: corrected }], ['discard', { reason: 'again' }]] as const) {
      const again = await call(`/v1/dlq/${item.id}/${action}`, { method: 'POST', body });
      expect(again.status).toBe(409);
      expect(again.body['status']).toBe('retried');
    }
    expect(((await call('/v1/dlq?status=open')).body['items'] as Item[]).some((i) => i.id === item.id)).toBe(false);
    expect(((await call('/v1/dlq?status=retried')).body['items'] as Item[]).some((i) => i.id === item.id)).toBe(true);

    // The audit log has the action, with who and when, and the chain verifies.
    const after = await call(`/v1/dlq/${item.id}`);
    const history = after.body['history'] as Record<string, unknown>[];
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ action: 'dlq.retried', actor: 'ops@example.com', subject: item.id, tenantId: 'public' });
    expect(new Date(history[0]!['at'] as string).getTime()).toBeGreaterThan(Date.now() - 120_000);
    const out = execFileSync(process.execPath, [join(__dirname, '../../scripts/audit-verify.mjs')], { env: { ...process.env, FLOTILLA_MODE: 'distributed', MONGO_URL: sut.mongoUrl }, timeout: 30_000 }).toString();
    expect(JSON.parse(out)).toMatchObject({ ok: true });
    expect((JSON.parse(out) as { records: number }).records).toBeGreaterThanOrEqual(1);
  });

  it('replays the original bytes and headers, and discards with a reason', async () => {
    const markers = [`replay-${Date.now()}`, `discard-${Date.now()}`];
    for (const m of markers) kcatProduce(sut, 'flotilla.intake.v1', m, `not json ${m}`);
    const items = await poll('both poison messages listed', async () => {
      const found = markers.map(async (m) => ((await call('/v1/dlq?status=open')).body['items'] as Item[]).find((i) => i.payload.includes(m)));
      const all = await Promise.all(found);
      return all.every(Boolean) ? (all as Item[]) : undefined;
    });
    const replayed = await call(`/v1/dlq/${items[0]!.id}/replay`, { method: 'POST' });
    expect(replayed.body).toMatchObject({ status: 'replayed', resolution: { actor: 'anonymous' } });
    // Still poison, so the replay is dead-lettered again — as a new record from its new offset.
    const again = await poll('the replayed message dead-lettered again', async () => ((await call('/v1/dlq?status=open')).body['items'] as Item[])
      .find((i) => i.payload.includes(markers[0]!) && i.id !== items[0]!.id));
    expect(again['key']).toBe(markers[0]);
    expect((again['headers'] as Record<string, string>)['flotilla-dlq-replay-of']).toBe(items[0]!.id);

    expect((await call(`/v1/dlq/${items[1]!.id}/discard`, { method: 'POST', body: {} })).status).toBe(400);
    const discarded = await call(`/v1/dlq/${items[1]!.id}/discard`, { method: 'POST', actor: 'ops', body: { reason: 'test traffic' } });
    expect(discarded.body).toMatchObject({ status: 'discarded', resolution: { actor: 'ops', reason: 'test traffic' } });
    const history = (await call(`/v1/dlq/${items[1]!.id}`)).body['history'] as Record<string, unknown>[];
    expect(history[0]).toMatchObject({ action: 'dlq.discarded', actor: 'ops', details: { reason: 'test traffic', recordTenantId: '' } });
  });
});
