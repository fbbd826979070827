import fc from 'fast-check';
import { ChatClient, Frame } from '../support/chat-client';
import { SystemUnderTest } from '../support/system';

/*
 * Property-based fuzzing of the chat WebSocket in the running system: arbitrary text and binary
 * frames, `ask` frames with wrong field types, oversized frames and rapid bursts each get exactly
 * one `error` frame with a `code`, the connection stays open, and a valid `ask` afterwards still
 * gets its `answer`. Frames that happen to be valid (`ping`, a well-formed `ask`) are not sent:
 * the generator filters them out with the same rules the gateway documents, so the count of error
 * frames is exact. Replay a failure with FUZZ_SEED=<seed>.
 */
jest.setTimeout(120_000);

// CI replays one fixed seed (a landing must not depend on luck); elsewhere every run explores new inputs.
const SEED = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) : process.env['CI'] ? 20261121 : Date.now() ^ (Math.random() * 0x7fffffff);
const MAX_REQUEST_BYTES = 65_536;
/** Deeper nesting inside an `ask` hits a known bug (see the `it.failing` below). */
const MAX_FUZZ_DEPTH = 1000;

let sut: SystemUnderTest;

beforeAll(async () => {
  sut = await SystemUnderTest.start();
});

afterAll(async () => {
  await sut?.stop();
});

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;
// Optional fields may be absent or null (class-validator's @IsOptional treats null as absent).
const isId = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && ID.test(v));

/** True when the gateway would treat this text frame as valid (pong or accepted) — not fuzz input. */
function wouldBeValid(text: string): boolean {
  let f: unknown;
  try {
    f = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof f !== 'object' || f === null) return false;
  const o = f as Record<string, unknown>;
  if (o['type'] === 'ping') return true;
  if (o['type'] !== 'ask' || Array.isArray(f)) return false;
  const known = new Set(['type', 'question', 'requestId', 'sessionId', 'userId']);
  // A `__proto__` key is silently dropped by class-transformer instead of being rejected as unknown
  // (see the report); treat it like the gateway does so the error count stays exact.
  if (Object.keys(o).some((k) => !known.has(k) && k !== '__proto__')) return false;
  const q = o['question'];
  return typeof q === 'string' && q.length > 0 && q.length <= 4000 && isId(o['requestId']) && isId(o['sessionId']) && isId(o['userId']);
}

type Out = { text: string } | { binary: Buffer };
const describeOut = (o: Out): string => ('text' in o ? `text ${o.text.length} chars: ${JSON.stringify(o.text.slice(0, 120))}` : `binary ${o.binary.length} bytes`);
const withToString = (o: Out): Out => Object.assign(o, { [fc.toStringMethod]: () => describeOut(o) });

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, 0, -1, '', ' ', [], {}, '\u0000', '💥', 'x'.repeat(4001)),
);
const deep = fc.integer({ min: 10, max: MAX_FUZZ_DEPTH }).map((d) => JSON.parse('['.repeat(d) + ']'.repeat(d)) as unknown);

/** `ask` frames with each field's type drawn at random (most of them invalid). */
const wrongAsk = fc.record(
  { type: fc.constant('ask'), question: fc.oneof(anyValue, deep), requestId: anyValue, sessionId: anyValue, userId: anyValue, extra: anyValue },
  { requiredKeys: ['type'] },
).map((o) => JSON.stringify(o));

const textFrame = fc.oneof(
  { arbitrary: fc.string({ maxLength: 200 }), weight: 2 },
  { arbitrary: fc.fullUnicodeString({ maxLength: 100 }), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)), weight: 2 },
  { arbitrary: fc.record({ type: fc.oneof(fc.string(), anyValue) }).map((o) => JSON.stringify(o)), weight: 1 },
  { arbitrary: wrongAsk, weight: 4 },
  { arbitrary: fc.constantFrom('{not json', '', 'null', '[]', '"ask"', '{"type":"ask"', '\ufeff{"type":"ask","question":"hi"}', '{"type":"ASK","question":"hi"}', '{"type":"ask","question":{"toString":"x"}}'), weight: 1 },
  { arbitrary: fc.integer({ min: MAX_REQUEST_BYTES + 1, max: 200_000 }).map((n) => JSON.stringify({ type: 'ask', question: 'x'.repeat(n) })), weight: 1 },
).filter((t) => !wouldBeValid(t));

const frame: fc.Arbitrary<Out> = fc.oneof(
  { arbitrary: textFrame.map((text): Out => ({ text })), weight: 5 },
  { arbitrary: fc.uint8Array({ maxLength: 500 }).map((a): Out => ({ binary: Buffer.from(a) })), weight: 1 },
  { arbitrary: fc.constant(0).map((): Out => ({ binary: Buffer.from(JSON.stringify({ type: 'ask', question: 'binary but valid JSON' })) })), weight: 1 },
  { arbitrary: fc.integer({ min: MAX_REQUEST_BYTES + 1, max: 150_000 }).map((n): Out => ({ binary: Buffer.alloc(n, 0x41) })), weight: 1 },
).map(withToString);

const ERROR_CODES = ['INVALID_JSON', 'VALIDATION_FAILED', 'UNKNOWN_FRAME', 'PAYLOAD_TOO_LARGE', 'INVALID_FRAME'];

describe('chat WebSocket under fuzzed frames', () => {
  it('answers every bad frame with exactly one error frame, stays open, and still answers a valid ask', async () => {
    const chat = await ChatClient.connect(sut.wsUrl);
    let framesTried = 0;
    let crashes = 0;
    const codes = new Map<string, number>();
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 12 }), async (burst) => {
          const from = chat.frames.length;
          // A rapid burst: all frames go out before any answer is read.
          for (const f of burst) chat.sendRaw('text' in f ? f.text : f.binary);
          framesTried += burst.length;
          // A ping marks the end of the burst: frames are answered in order, so once the pong is in,
          // every error frame for the burst is too — and no late duplicates can hide behind it.
          chat.send({ type: 'ping' });
          await chat.next((f) => f.type === 'pong', 10_000, from);
          const got = chat.frames.slice(from, chat.frames.findIndex((f, i) => i >= from && f.type === 'pong'));
          const errors = got.filter((f: Frame) => f.type === 'error');
          for (const e of errors) codes.set(String(e['code']), (codes.get(String(e['code'])) ?? 0) + 1);
          expect(got.map((f) => f.type)).toEqual(burst.map(() => 'error'));
          for (const e of errors) {
            expect(ERROR_CODES).toContain(e['code']);
            expect(typeof e['message']).toBe('string');
          }
          if (!chat.open) crashes++;
          expect(chat.open).toBe(true);
        }),
        { seed: SEED, numRuns: 120, endOnFailure: true },
      );
      expect(chat.open).toBe(true);
      const { answer } = await chat.ask('What is your return policy?');
      expect(answer.type).toBe('answer');
    } finally {
      chat.close();
    }
    const byCode = [...codes.entries()].map(([c, n]) => `${c}×${n}`).join(' ');
    console.log(`fuzz websocket: ${framesTried} frames, ${crashes} closed connections, ${[...codes.values()].reduce((a, b) => a + b, 0)} error frames (${byCode}; seed ${SEED})`);
  });

  // KNOWN BUG (found by this fuzzer), severe: one 4 KB text frame {"type":"ask","question":<arrays
  // nested 2000 deep>} kills the process. validateData(AskFrame, frame) in ChatServer's 'message'
  // listener recurses (class-transformer/class-validator) until RangeError: Maximum call stack size
  // exceeded; nothing catches it, so it is an uncaught exception: exit code 1, every connection drops
  // (1006), and in embedded mode the whole system is down. Expected: one VALIDATION_FAILED frame.
  // Runs last because it takes the system down; `it.failing` passes while the bug is there and
  // fails once it is fixed — then make it a plain `it`.
  it('survives an ask frame nested 2000 deep, answering it with VALIDATION_FAILED', async () => {
    const chat = await ChatClient.connect(sut.wsUrl);
    try {
      const from = chat.frames.length;
      chat.sendRaw(JSON.stringify({ type: 'ask', question: JSON.parse('['.repeat(2000) + ']'.repeat(2000)) as unknown }));
      const e = await chat.next((f) => f.type === 'error', 5000, from);
      expect(e['code']).toBe('VALIDATION_FAILED');
      expect(chat.open).toBe(true);
      expect((await fetch(`${sut.gatewayUrl}/healthz`)).status).toBe(200);
    } finally {
      chat.close();
    }
  });
});
