/**
 * How long a hanging OpenAI-compatible provider keeps its model's circuit closed, in wall time,
 * through the real `openai` client and the model router (up to 2.5 min for `before 1`):
 *   npx tsc -b libs/llm && npx tsc -p bench/tsconfig.json && node tmp/bench/bench/llm-hang.js [after|before] [workers]
 * The provider accepts every request and never answers. Each of `workers` (default 1) runs the
 * planner's calls one after another — a completion (plan), then a streamed answer (compose) — each
 * with the planner's 30 s deadline, until the circuit (5 consecutive failures) opens. `after`: the
 * default per-attempt limits (LLM_ATTEMPT_TIMEOUT_MS 10 s, LLM_FIRST_TOKEN_TIMEOUT_MS 5 s,
 * LLM_STREAM_IDLE_TIMEOUT_MS 5 s — never reached here, the provider sends no token —,
 * LLM_FALLBACK_RESERVE_MS 2 s). `before`: limits that never fire before the deadline, which is how
 * calls ran before per-attempt timeouts. Reports the time to open, and how many calls were answered
 * (by the local fallback) or failed on the way.
 */
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { composeRequest, createLanguageModel, intentRequest } from '@flotilla/llm';

const LIMITS = {
  after: { LLM_ATTEMPT_TIMEOUT_MS: 10_000, LLM_FIRST_TOKEN_TIMEOUT_MS: 5_000, LLM_STREAM_IDLE_TIMEOUT_MS: 5_000, LLM_FALLBACK_RESERVE_MS: 2_000 },
  before: { LLM_ATTEMPT_TIMEOUT_MS: 60_000, LLM_FIRST_TOKEN_TIMEOUT_MS: 59_000, LLM_STREAM_IDLE_TIMEOUT_MS: 59_000, LLM_FALLBACK_RESERVE_MS: 0 },
};
const DEADLINE_MS = 30_000;
const GIVE_UP_MS = 200_000;

async function main(): Promise<void> {
  const mode = process.argv[2] === 'before' ? 'before' : 'after';
  const workers = Number(process.argv[3] ?? 1);
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  const model = createLanguageModel({ OPENAI_API_KEY: 'bench', OPENAI_BASE_URL: url, OPENAI_MODEL: 'gpt-bench', LLM_CACHE_TTL_MS: 0, ...LIMITS[mode] });
  const today = '2026-11-21';
  const question = 'Where is my order 1001?';
  const t0 = Date.now();
  let openedAfterMs: number | undefined;
  let answered = 0;
  let failed = 0;
  const call = async (work: () => Promise<unknown>): Promise<void> => {
    try {
      await work();
      answered++;
    } catch {
      failed++;
    }
    if (openedAfterMs === undefined && model.status()[0]!.breaker === 'open') openedAfterMs = Date.now() - t0;
  };
  await Promise.all(Array.from({ length: workers }, async () => {
    while (openedAfterMs === undefined && Date.now() - t0 < GIVE_UP_MS) {
      await call(() => model.complete({ ...intentRequest(question, today), deadlineMs: Date.now() + DEADLINE_MS }));
      if (openedAfterMs !== undefined) break;
      const compose = composeRequest({ question, today, intent: { intent: 'order_status', orderId: '1001' }, facts: {} });
      await call(() => model.stream({ ...compose, deadlineMs: Date.now() + DEADLINE_MS }, () => undefined));
    }
  }));
  server.closeAllConnections();
  server.close();
  const opened = openedAfterMs === undefined ? `not within ${GIVE_UP_MS / 1000} s` : `after ${(openedAfterMs / 1000).toFixed(1)} s`;
  console.log(`${mode}, ${workers} worker(s): the hanging model's circuit opened ${opened}; calls answered (by the local fallback) ${answered}, failed ${failed}`);
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
