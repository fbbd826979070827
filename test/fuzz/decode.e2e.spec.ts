import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FlotillaError, Logger } from '@flotilla/common';
import { ALL_TOPICS, decode, Headers, MAX_MESSAGE_BYTES, MessageDef, Messages, SubmitRequestV1, TopicDef, Topics } from '@flotilla/contracts';
import { connectBus, consume, EmbeddedMessageBus, IncomingMessage, on, outgoing, OutgoingMessage } from '@flotilla/messaging';

/*
 * Property-based fuzzing of the consumer edge (STYLE.md "validate once, at the edge"): whatever bytes
 * arrive on a topic, `decode` answers ok or a non-retryable error with a reason — it never throws —
 * and `consume` dead-letters each poison message exactly once while every valid message still
 * reaches its handler exactly once. No running system is needed; the bus is the embedded log on a
 * temp file. Seeds are printed by fast-check on failure (replay with FUZZ_SEED=<seed>).
 */
jest.setTimeout(60_000);

// CI replays one fixed seed (a landing must not depend on luck); elsewhere every run explores new inputs.
const SEED = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) : process.env['CI'] ? 20261121 : Date.now() ^ (Math.random() * 0x7fffffff);
const params = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, endOnFailure: true });

// ---- generators -------------------------------------------------------------------------------

const idChar = fc.constantFrom(...'ABCxyz019_.:-'.split(''));
const validId = fc.stringOf(idChar, { minLength: 1, maxLength: 40 });
const anyText = fc.oneof(fc.string(), fc.fullUnicodeString(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', ' ', '\u0000', '\ud800', '💥'.repeat(50), 'x'.repeat(5000)));

/** A `SubmitRequest` data object the contract accepts. */
const validSubmit: fc.Arbitrary<SubmitRequestV1> = fc.record(
  {
    requestId: validId,
    tenantId: validId,
    question: fc.oneof(fc.string({ minLength: 1, maxLength: 200 }), fc.fullUnicodeString({ minLength: 1, maxLength: 100 })).filter((s) => s.length <= 4000),
    sessionId: validId,
    userId: validId,
    channel: fc.constantFrom('chat' as const, 'api' as const, 'intake' as const),
    callbackUrl: fc.constantFrom('http://localhost:8080/cb', 'https://example.com/hook?x=1'),
  },
  { requiredKeys: ['requestId', 'tenantId', 'question'] },
);

/** Keys that have tripped object-handling code elsewhere: prototype names, empties, odd unicode. */
const nastyKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', '\u0000', 'type', 'data', 'version'), fc.string({ maxLength: 8 }));

/** Arbitrary JSON text, including prototype-polluting keys that JSON.parse keeps as own properties. */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant('null'), fc.boolean().map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
    fc.constantFrom('1e400', '-0', '123456789012345678901234567890', '1.5', '-1'),
    anyText.map((s) => JSON.stringify(s)),
    fc.array(tie('value'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
    fc.array(fc.tuple(nastyKey, tie('value')), { maxLength: 5 }).map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).value as fc.Arbitrary<string>;

const deepNesting = fc.integer({ min: 100, max: 5000 }).chain((d) => fc.constantFrom('[', '{"a":').map((open) => {
  const close = open === '[' ? ']' : '}';
  return `${open.repeat(d)}1${close.repeat(d)}`;
}));

/** Every topic, widened so one property can feed any of them to `decode`. */
const TOPICS = ALL_TOPICS as readonly TopicDef<readonly MessageDef<string, object>[]>[];

const messageTypes = [...new Set(ALL_TOPICS.flatMap((t) => t.messages.map((m) => m.type)))];

/** An envelope-shaped object: the right keys with wrong, random or almost-right values. */
const envelope = fc.record(
  {
    type: fc.oneof(fc.constantFrom(...messageTypes), anyText, fc.integer(), fc.constant(null)),
    version: fc.oneof(fc.constantFrom(1, 0, -1, 2, 1.5, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER), fc.integer(), fc.string(), fc.constant(null)),
    id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    data: fc.oneof(fc.object({ maxDepth: 3 }), validSubmit, validSubmit.chain((v) => fc.tuple(fc.constantFrom(...Object.keys(v)), fc.anything()).map(([k, x]) => ({ ...v, [k]: x }))), fc.anything({ maxDepth: 2 })),
    metadata: fc.oneof(fc.object({ maxDepth: 2 }), fc.anything({ maxDepth: 1 })),
  },
  { requiredKeys: [] },
).map((e) => JSON.stringify(e));

/** Anything a producer could put on a topic, as the bytes the consumer sees. */
const rawPayload: fc.Arbitrary<Buffer | string | null> = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  anyText,
  jsonValue,
  envelope,
  envelope.map((s) => Buffer.from(s, 'utf8')),
  envelope.map((s) => s.slice(0, Math.max(0, s.length - 3))),
  deepNesting,
  fc.constantFrom(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]), '\ufeff{}'),
);

// ---- decode -----------------------------------------------------------------------------------

describe('decode on every topic', () => {
  it('never throws; answers ok with a known type, or a non-retryable FlotillaError with a reason', () => {
    let inputs = 0;
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom(...TOPICS), rawPayload, (topic, raw) => {
        inputs++;
        const result = decode(topic, raw);
        if (result.ok) {
          accepted++;
          expect(topic.messages.map((m) => m.type)).toContain(result.message.type);
          return;
        }
        expect(result.error).toBeInstanceOf(FlotillaError);
        expect(result.error.retryable).toBe(false);
        expect(result.error.message.trim()).not.toBe('');
      }),
      params(3000),
    );
    // The oversized path is exercised once explicitly rather than allocating megabytes per run.
    for (const topic of TOPICS) {
      const big = decode(topic, Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20));
      expect(big.ok).toBe(false);
      inputs++;
    }
    console.log(`fuzz decode: ${inputs} inputs across ${ALL_TOPICS.length} topics, 0 throws, ${accepted} accepted (seed ${SEED})`);
  });

  it('accepts every valid SubmitRequest on the intake topic, as a string or as bytes', () => {
    fc.assert(
      fc.property(validSubmit, validId, fc.boolean(), (data, id, asBuffer) => {
        const value = outgoing(Topics.intake, Messages.SubmitRequest, data.requestId, data, { tenantId: data.tenantId }, id).value as string;
        const result = decode(Topics.intake, asBuffer ? Buffer.from(value, 'utf8') : value);
        if (!result.ok) throw result.error;
        expect(result.message.data).toEqual(expect.objectContaining({ requestId: data.requestId, question: data.question }));
      }),
      params(500),
    );
  });
});

// ---- consume ----------------------------------------------------------------------------------

type Item = { kind: 'valid'; data: SubmitRequestV1 } | { kind: 'poison'; value: Buffer | string; headers: Record<string, string> };

/** A payload that decode must reject on the intake topic (checked, so the oracle cannot drift). */
const poison = fc.record({
  value: fc.oneof(
    rawPayload.filter((v): v is Buffer | string => v !== null),
    fc.constant(Buffer.alloc(0)),
    validSubmit.map((d) => JSON.stringify({ type: 'SubmitRequest', version: 1, id: 'x', data: { ...d, question: '' } })),
    validSubmit.map((d) => JSON.stringify({ type: 'SubmitRequest', version: 1, id: 'x', data: { ...d, requestId: 'has spaces' } })),
    validSubmit.map((d) => JSON.stringify({ type: 'SubmitRequest', version: 2, id: 'x', data: d })),
    validSubmit.map((d) => JSON.stringify({ type: 'WorkflowStarted', version: 1, id: 'x', data: d })),
  ).filter((v) => !decode(Topics.intake, v).ok),
  headers: fc.dictionary(fc.constantFrom(Headers.tenantId, Headers.workflowId, Headers.traceparent, 'x-junk'), anyText, { maxKeys: 3 }),
}).map((p): Item => ({ kind: 'poison', ...p }));

const stream = fc.array(fc.oneof({ arbitrary: poison, weight: 2 }, { arbitrary: validSubmit.map((data): Item => ({ kind: 'valid', data })), weight: 1 }), { minLength: 1, maxLength: 25 });

/** Dead-lettering is expected here by the thousand; keep the output to the summary lines. */
const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

async function until(cond: () => boolean, what: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const b64 = (v: Buffer | string | null): string => (v === null ? '' : Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8')).toString('base64');

describe('consume on the intake topic of an embedded bus', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-fuzz-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('dead-letters each poison message exactly once with a reason, and delivers each valid one exactly once', async () => {
    let run = 0;
    let poisonCount = 0;
    let validCount = 0;
    await fc.assert(
      fc.asyncProperty(stream, async (items) => {
        run++;
        const bus = new EmbeddedMessageBus(join(dir, `run-${run}.db`));
        await connectBus(bus);
        const handled: string[] = [];
        const dlq: IncomingMessage[] = [];
        const sub = await consume(bus, {
          groupId: 'fuzz-intake',
          logger: silent,
          handlers: [on(Topics.intake, async (m) => void handled.push(m.id))],
        });
        const dlqSub = await bus.subscribe({ groupId: 'fuzz-dlq', topics: [Topics.deadLetters.name], fromBeginning: true, handler: async (m) => void dlq.push(m) });
        try {
          const messages: OutgoingMessage[] = items.map((it, i) => it.kind === 'valid'
            ? outgoing(Topics.intake, Messages.SubmitRequest, it.data.requestId, it.data, { tenantId: it.data.tenantId }, `ok_${i}`)
            : { topic: Topics.intake.name, key: `poison-${i}`, value: it.value, headers: it.headers });
          // Published one by one and in a batch alternately, as producers do both.
          if (run % 2) await bus.publish(messages);
          else for (const m of messages) await bus.publish([m]);

          const poisons = items.filter((it): it is Extract<Item, { kind: 'poison' }> => it.kind === 'poison');
          const valid = items.map((it, i) => (it.kind === 'valid' ? `ok_${i}` : '')).filter(Boolean);
          poisonCount += poisons.length;
          validCount += valid.length;
          await until(() => handled.length >= valid.length && dlq.length >= poisons.length, () => `handled ${handled.length}/${valid.length}, dead-lettered ${dlq.length}/${poisons.length}`);
          // Give a duplicate the chance to show up before counting exactly.
          await new Promise((r) => setTimeout(r, 20));

          expect([...handled].sort()).toEqual([...valid].sort());
          expect(dlq).toHaveLength(poisons.length);
          const records = dlq.map((m) => {
            const d = decode(Topics.deadLetters, m.value);
            if (!d.ok) throw new Error(`dead-letter record does not decode: ${d.error.message}`);
            return d.message;
          });
          expect(new Set(records.map((r) => r.id)).size).toBe(poisons.length);
          for (const r of records) {
            expect(r.data.sourceTopic).toBe(Topics.intake.name);
            expect(r.data.reason.trim()).not.toBe('');
            expect(r.data.attempts).toBe(1);
            expect(r.data.consumerGroup).toBe('fuzz-intake');
          }
          // The records carry the poison payloads losslessly (as a multiset).
          const got = records.map((r) => (r.data.payloadEncoding === 'base64' ? r.data.payload : Buffer.from(r.data.payload, 'utf8').toString('base64'))).sort();
          expect(got).toEqual(poisons.map((p) => b64(p.value)).sort());
        } finally {
          await sub.stop();
          await dlqSub.stop();
          await bus.disconnect();
        }
      }),
      params(30),
    );
    console.log(`fuzz consume: ${run} streams, ${poisonCount} poison + ${validCount} valid messages, ${poisonCount} dead-lettered once, ${validCount} handled once (seed ${SEED})`);
  });
});

// KNOWN BUG (found by this fuzzer): `decode` throws instead of returning an error when `data` holds
// JSON nested ~2000 deep (a 4 KB message; the limit is 1 MB): validateData → class-transformer /
// class-validator recurse until RangeError: Maximum call stack size exceeded. In `consume` the throw
// escapes the handler before any dead-letter is written, so the bus treats it as a processing
// failure and redelivers the same offset forever — one poison message blocks its partition.
// `it.failing` passes while the bug is there and fails once it is fixed: then make them plain `it`.
describe('decode on deeply nested data (known bug)', () => {
  const nested = (d: number): string => `{"type":"SubmitRequest","version":1,"id":"x","data":{"requestId":"r","tenantId":"t","question":${'['.repeat(d)}${']'.repeat(d)}}}`;

  it('returns a non-retryable error rather than throwing', () => {
    const result = decode(Topics.intake, nested(2000));
    expect(result.ok).toBe(false);
  });

  it('dead-letters the message and moves on to the next one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-fuzz-deep-'));
    const bus = new EmbeddedMessageBus(join(dir, 'bus.db'));
    await connectBus(bus);
    const handled: string[] = [];
    const sub = await consume(bus, { groupId: 'fuzz-deep', logger: silent, handlers: [on(Topics.intake, async (m) => void handled.push(m.id))] });
    try {
      const data = { requestId: 'after', tenantId: 't', question: 'Where is my order 1001?' };
      // Same key, so both land on one partition, in order.
      await bus.publish([{ topic: Topics.intake.name, key: 'k', value: nested(2000) }, { ...outgoing(Topics.intake, Messages.SubmitRequest, 'k', data, {}, 'ok_after'), key: 'k' }]);
      await until(() => handled.includes('ok_after'), () => `valid message behind the deep one not handled (handled: ${JSON.stringify(handled)})`, 3000);
      expect(await bus.endOffsets(Topics.deadLetters.name)).toEqual(new Map([[0, 1n]]));
    } finally {
      await sub.stop();
      await bus.disconnect();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

