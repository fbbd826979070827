import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { SystemUnderTest } from '../support/system';

/*
 * Property-based fuzzing of the gateway's REST edge in the running system (embedded by default):
 * whatever arrives — arbitrary JSON, wrong types, huge or odd unicode strings, deep nesting, random
 * bytes, random content types and encodings, hostile ids in paths — the answer is never a 5xx, every
 * 4xx is a JSON body with a `message` (and `fields` when it is a validation failure), and the
 * process stays up: health is 200 and a valid submission is still accepted afterwards.
 * Requests go through node:http so paths and bodies reach the server byte for byte (fetch would
 * normalise `..` and re-encode). Replay a failure with FUZZ_SEED=<seed printed by fast-check>.
 */
jest.setTimeout(120_000);

// CI replays one fixed seed (a landing must not depend on luck); elsewhere every run explores new inputs.
const SEED = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) : process.env['CI'] ? 20261121 : Date.now() ^ (Math.random() * 0x7fffffff);

let sut: SystemUnderTest;
let host = '';
let port = 0;

beforeAll(async () => {
  sut = await SystemUnderTest.start();
  const u = new URL(sut.gatewayUrl);
  host = u.hostname;
  port = Number(u.port);
});

afterAll(async () => {
  await sut?.stop();
});

interface Req {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Res {
  status: number;
  contentType: string;
  text: string;
}

function send(req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body) headers['content-length'] = req.body.length;
    const r = httpRequest({ host, port, method: req.method, path: req.path, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`no response within 10 s to ${req.method} ${req.path.slice(0, 200)}`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

// ---- generators -------------------------------------------------------------------------------

const anyText = fc.oneof(
  fc.string({ maxLength: 50 }), fc.fullUnicodeString({ maxLength: 50 }), fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('', ' ', '\u0000', '\ud800', '\u202e', '💥', '../../etc/passwd', '<script>', "'; DROP TABLE x;--", '%00', '${steps.a.b}'),
  fc.integer({ min: 4001, max: 70_000 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 1, max: 3000 }).map((n) => '💥'.repeat(n)),
);
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  fc.jsonValue({ maxDepth: 4 }),
  anyText,
  fc.constantFrom(null, true, 0, -1, 1e308, [], {}, [[]]),
);
const nastyKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '', 'question', 'a.b', 'x'.repeat(100)), fc.string({ maxLength: 10 }));

/** Bodies shaped like a submission, with each field's type drawn at random. */
const submissionish = fc.record(
  { question: anyJson, requestId: anyJson, sessionId: anyJson, userId: anyJson, timeoutMs: fc.oneof(anyJson, fc.integer(), fc.double()), callbackUrl: fc.oneof(anyJson, fc.constantFrom('javascript:alert(1)', 'file:///etc/passwd', 'http://', 'http://localhost:1/x')), extra: anyJson },
  { requiredKeys: [] },
);
/** Bodies shaped like preferences, with names and values drawn at random. */
const preferencesish = fc.dictionary(nastyKey, fc.oneof(anyJson, fc.string({ maxLength: 250 }), fc.double()), { maxKeys: 25 });

/**
 * Nesting depth the property draws from. Deeper bodies currently hit a known bug (RangeError in the
 * validation pipe → 500), pinned by the `it.failing` test below instead of failing every run.
 */
const MAX_FUZZ_DEPTH = 1000;
const deep = fc.integer({ min: 50, max: MAX_FUZZ_DEPTH }).chain((d) => fc.constantFrom('[', '{"a":', '{"question":').map((open) => `${open.repeat(d)}1${(open === '[' ? ']' : '}').repeat(d)}`));

/** The request body as bytes; JSON text most of the time, anything else some of the time. */
const body: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: fc.oneof(submissionish, preferencesish, anyJson).map((v) => Buffer.from(JSON.stringify(v) ?? 'undefined', 'utf8')), weight: 6 },
  { arbitrary: deep.map((s) => Buffer.from(s)), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)), weight: 1 },
  { arbitrary: fc.constantFrom('{"question":', '{"question":"a"', '{', '\ufeff{"question":"hi"}', 'question=hi&requestId=x', '{"question":"a","question":1}', '{"__proto__":{"question":"a"}}', '').map((s) => Buffer.from(s)), weight: 1 },
  { arbitrary: fc.integer({ min: 65_000, max: 300_000 }).map((n) => Buffer.from(JSON.stringify({ question: 'q'.repeat(n) }))), weight: 1 },
);

const contentType = fc.constantFrom(
  'application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=bogus',
  'application/vnd.api+json', 'text/plain', 'text/html', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/octet-stream',
  'application/xml', '*/*', 'json', ';;;', '',
);
const encoding = fc.constantFrom(undefined, undefined, undefined, 'gzip', 'gzip-garbage', 'deflate', 'br', 'identity', 'bogus');

/** A path segment as it goes on the wire: raw traversal and %-escapes, NULs, unicode, very long. */
const pathId = fc.oneof(
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.fullUnicodeString({ maxLength: 40 }).map(encodeURIComponent),
  fc.constantFrom('..', '.', '%2e%2e', '..%2f..%2fetc%2fpasswd', '%00', 'wf_%00', '%', '%zz', '%E0%A4%A', '%ff', '%C0%AE', 'wf_doesnotexist', 'a;b', 'a?b=c', 'a#b', '__proto__', 'constructor', 'x:y.z_-'),
  fc.integer({ min: 129, max: 8000 }).map((n) => 'a'.repeat(n)),
  fc.array(fc.constantFrom('..', '%2e%2e', 'a', '%00', '%2f'), { minLength: 1, maxLength: 6 }).map((xs) => xs.join('/')),
);

const tenantHeader = fc.oneof(fc.constant(undefined), fc.constant(undefined), fc.constantFrom('acme', '', 'has spaces', 'x'.repeat(200), '../..', 'a:b'));

const request: fc.Arbitrary<Req> = fc.oneof(
  fc.record({ body, contentType, encoding, tenant: tenantHeader }).map(({ body: b, contentType: ct, encoding: enc, tenant }) => withHeaders({ method: 'POST', path: '/v1/workflows', headers: {} }, b, ct, enc, tenant)),
  fc.record({ id: pathId, tenant: tenantHeader }).map(({ id, tenant }) => withHeaders({ method: 'GET', path: `/v1/workflows/${id}`, headers: {} }, undefined, undefined, undefined, tenant)),
  fc.record({ id: fc.oneof(pathId, fc.constantFrom('user-1', 'u.2')), body, contentType, encoding, tenant: tenantHeader })
    .map(({ id, body: b, contentType: ct, encoding: enc, tenant }) => withHeaders({ method: 'PUT', path: `/v1/users/${id}/preferences`, headers: {} }, b, ct, enc, tenant)),
  // Cancellation, confirmation and API-key administration take bodies and ids too.
  fc.record({ id: pathId, body, contentType, encoding, tenant: tenantHeader, action: fc.constantFrom('cancel', 'confirm') })
    .map(({ id, body: b, contentType: ct, encoding: enc, tenant, action }) => withHeaders({ method: 'POST', path: `/v1/workflows/${id}/${action}`, headers: {} }, b, ct, enc, tenant)),
  fc.record({ body, contentType, encoding, tenant: tenantHeader })
    .map(({ body: b, contentType: ct, encoding: enc, tenant }) => withHeaders({ method: 'POST', path: '/v1/admin/api-keys', headers: {} }, b, ct, enc, tenant)),
);

function describeReq(req: Req): string {
  const body = req.body ? `${req.body.length} bytes: ${JSON.stringify(req.body.subarray(0, 120).toString('utf8'))}` : undefined;
  return JSON.stringify({ method: req.method, path: req.path.length > 200 ? `${req.path.slice(0, 200)}…(${req.path.length})` : req.path, headers: req.headers, body });
}

function withHeaders(req: Req, b: Buffer | undefined, ct: string | undefined, enc: string | undefined, tenant: string | undefined): Req {
  const headers: Record<string, string> = {};
  if (ct) headers['content-type'] = ct;
  if (tenant !== undefined) headers['x-tenant-id'] = tenant;
  let payload = b;
  if (b && enc) {
    headers['content-encoding'] = enc === 'gzip-garbage' ? 'gzip' : enc;
    if (enc === 'gzip') payload = gzipSync(b);
  }
  const out: Req = { ...req, headers, body: payload };
  // fast-check prints counterexamples with this, so a 60 KB body does not flood the report.
  return Object.assign(out, { [fc.toStringMethod]: () => describeReq(out) });
}

// ---- the property -----------------------------------------------------------------------------

/** What every answer must satisfy; returns a violation or undefined. */
function violation(res: Res): string | undefined {
  if (res.status >= 500) return `status ${res.status}`;
  if (res.status < 400) return undefined;
  if (!/^application\/json/.test(res.contentType)) return `${res.status} without a JSON body (content-type "${res.contentType}")`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.text);
  } catch {
    return `${res.status} with an unparsable body`;
  }
  const b = parsed as { message?: unknown; fields?: unknown };
  if (typeof b.message !== 'string' || b.message === '') return `${res.status} without a message`;
  if (res.status === 400 && b.message === 'validation failed' && !(Array.isArray(b.fields) && b.fields.length > 0)) return '400 validation failure without fields';
  return undefined;
}

describe('REST edge under fuzzed input', () => {
  it('never answers 5xx, always explains a 4xx in JSON, and keeps serving', async () => {
    let inputs = 0;
    let crashes = 0;
    let fiveXx = 0;
    const statuses = new Map<number, number>();
    const problems: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 4, maxLength: 4 }), async (batch) => {
        // Four at a time: concurrent bad input is what a busy edge sees.
        const results = await Promise.all(batch.map(async (req) => {
          inputs++;
          try {
            return { req, res: await send(req) };
          } catch (err) {
            return { req, err: err as Error };
          }
        }));
        for (const r of results) {
          if ('err' in r) {
            crashes++;
            problems.push(`no answer (${r.err!.message}) to ${describeReq(r.req)}`);
            continue;
          }
          statuses.set(r.res!.status, (statuses.get(r.res!.status) ?? 0) + 1);
          if (r.res!.status >= 500) fiveXx++;
          const v = violation(r.res!);
          if (v) problems.push(`${v}: ${r.res!.text.slice(0, 200)} <- ${describeReq(r.req)}`);
        }
        const child = sut.procs.get('flotilla')!.child!;
        if (child.exitCode !== null || child.signalCode !== null) {
          crashes++;
          problems.push(`process exited (${child.exitCode ?? child.signalCode}) after ${describeReq(batch[0]!)}\n${sut.logs('flotilla').slice(-3000)}`);
        }
        expect(problems).toEqual([]);
      }),
      { seed: SEED, numRuns: 500, endOnFailure: true },
    );

    const health = await send({ method: 'GET', path: '/healthz', headers: {} });
    expect(health.status).toBe(200);
    const valid = await send({ method: 'POST', path: '/v1/workflows', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ question: 'What is your return policy?' })) });
    expect(valid.status).toBe(202);
    const prefs = await send({ method: 'PUT', path: '/v1/users/fuzz-user/preferences', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ language: 'en' })) });
    expect(prefs.status).toBe(200);

    const byStatus = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
    console.log(`fuzz rest: ${inputs} inputs, ${crashes} crashes, ${fiveXx} 5xx (statuses ${byStatus}; seed ${SEED})`);
  });

  // KNOWN BUG (found by this fuzzer): a JSON body nested ~2000 deep (4 KB, far under the 64 KB limit)
  // makes the global ValidationPipe recurse until RangeError: Maximum call stack size exceeded, and
  // the gateway answers 500 {"statusCode":500,"message":"Internal server error"}. JSON.parse copes;
  // PUT /v1/users/:id/preferences (no DTO) answers 400 for the same body. Expected: 400 with fields.
  // `it.failing` passes while the bug is there and fails once it is fixed: then make it a plain `it`.
  it('answers a deeply nested JSON body with 400, not 500', async () => {
    for (const body of ['['.repeat(2000) + ']'.repeat(2000), '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)]) {
      const res = await send({ method: 'POST', path: '/v1/workflows', headers: { 'content-type': 'application/json' }, body: Buffer.from(body) });
      expect(res.status).toBe(400);
    }
  });
});
