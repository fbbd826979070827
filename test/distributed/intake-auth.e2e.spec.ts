import { generateApiKey } from '@flotilla/auth';
import { kcatConsumeAll, kcatProduceWithHeaders, requireKcat, until } from '../support/kcat';
import { SystemUnderTest } from '../support/system';

/*
 * Distributed mode, AUTH_REQUIRED on: outside systems publish onto the public intake topic with an
 * API key in the `flotilla-api-key` header. The coordinator starts work only for a key that holds
 * `intake:publish` for the tenant the message names; everything else is dead-lettered with the
 * reason, and the consumer goes on. Keys are created through the gateway's admin API with the
 * bootstrap operator key, the way an operator would.
 */
jest.setTimeout(240_000);

const BOOTSTRAP = generateApiKey().key;
let sut: SystemUnderTest;
let acmeKey = '';
let acmeReadOnlyKey = '';

interface Rec { type: string; data: Record<string, unknown> }
const records = (topic: string): Rec[] => kcatConsumeAll(sut, topic).map((m) => JSON.parse(m.payload ?? '{}') as Rec);

async function createKey(tenantId: string, roles: string[]): Promise<string> {
  const r = await fetch(`${sut.gatewayUrl}/v1/admin/api-keys`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `ApiKey ${BOOTSTRAP}` }, body: JSON.stringify({ name: `intake-${tenantId}`, roles, tenantId }),
  });
  expect(r.status).toBe(201);
  return ((await r.json()) as { key: string }).key;
}

function submit(requestId: string, tenantId: string): string {
  return JSON.stringify({ type: 'SubmitRequest', version: 1, id: `ext-${requestId}`, data: { requestId, tenantId, question: 'What is your warranty policy?' } });
}

beforeAll(async () => {
  requireKcat();
  sut = await SystemUnderTest.start('distributed', { AUTH_REQUIRED: 'true', AUTH_BOOTSTRAP_API_KEY: BOOTSTRAP, AUTH_API_KEY_CACHE_MS: '0' });
  acmeKey = await createKey('acme', ['intake:publish']);
  acmeReadOnlyKey = await createKey('acme', ['workflows:read']);
});

afterAll(async () => {
  await sut?.stop();
});

describe('intake publishers authenticate with API keys', () => {
  it('dead-letters messages without a key, with a bad key, without the role, or for another tenant — and answers the valid one behind them', async () => {
    const stamp = Date.now();
    const cases: [string, Record<string, string>, string, RegExp][] = [
      [`nokey-${stamp}`, {}, 'acme', /no flotilla-api-key header/],
      [`badkey-${stamp}`, { 'flotilla-api-key': generateApiKey().key }, 'acme', /not allowed/],
      [`norole-${stamp}`, { 'flotilla-api-key': acmeReadOnlyKey }, 'acme', /intake:publish/],
      [`othertenant-${stamp}`, { 'flotilla-api-key': acmeKey }, 'globex', /belongs to tenant acme, not globex/],
    ];
    const key = 'same-partition';
    for (const [requestId, headers, tenant] of cases) kcatProduceWithHeaders(sut, 'flotilla.intake.v1', key, submit(requestId, tenant), headers);
    const good = `good-${stamp}`;
    kcatProduceWithHeaders(sut, 'flotilla.intake.v1', key, submit(good, 'acme'), { 'flotilla-api-key': acmeKey });

    const answered = await until('the valid message answered', () => records('flotilla.results.v1').find((m) => m.data['requestId'] === good));
    expect(answered.data).toMatchObject({ status: 'completed', tenantId: 'acme' });

    const dead = await until('four dead letters', () => {
      const mine = records('flotilla.dlq.v1').filter((m) => m.data['sourceTopic'] === 'flotilla.intake.v1' && cases.some(([rid]) => String(m.data['payload']).includes(rid)));
      return mine.length >= cases.length ? mine : undefined;
    });
    for (const [requestId, , , reason] of cases) {
      const rec = dead.find((m) => String(m.data['payload']).includes(requestId))!;
      expect(rec.data['reason']).toMatch(reason);
      expect(rec.data['errorCode']).toBe('VALIDATION_FAILED');
      // The key is never copied into the dead-letter record in clear.
      expect(JSON.stringify(rec.data['headers'] ?? {})).not.toContain(acmeKey);
    }
    // None of them started a workflow.
    const results = records('flotilla.results.v1');
    for (const [requestId] of cases) expect(results.some((m) => m.data['requestId'] === requestId)).toBe(false);
  });
});
