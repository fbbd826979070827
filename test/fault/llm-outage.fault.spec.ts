import { FailureMode, failureWindows, FailureWindows, OpenAiTestServer, RecordedRequest, ScriptedResponse, startOpenAiTestServer } from '../../libs/llm/src/testing/openai-test-server';
import { SystemUnderTest } from '../support/system';
import { CaseRow, debug, elapsed, Load, readEventLog, recordRow, sleep, tail, tally } from './support/fault-kit';
import { WORKFLOWS } from './support/kill-case';

/*
 * The LLM provider fails for a window — 429s, then 500s, then no answer in time — while workflows
 * keep coming: each time the model's circuit breaker opens (GET /v1/models on the planner), the
 * built-in local model serves the answers meanwhile (the fallback), and after the window the breaker
 * probes, closes, and the provider answers again. No workflow may be lost. The provider is the local
 * OpenAI-compatible test server, with time-windowed failure modes.
 *
 * A hang is cut short by the router's per-attempt limits (defaults: LLM_ATTEMPT_TIMEOUT_MS 10 s for a
 * completion, LLM_FIRST_TOKEN_TIMEOUT_MS 5 s for a stream), counted against the model's circuit, and
 * answered by the fallback. Before those limits only the planner's 30 s step deadline stopped a hung
 * call, with no fallback, and the breaker took about a minute to open; now it must open within
 * HANG_OPENS_WITHIN_MS of the hang starting.
 */
jest.setTimeout(900_000);

/** Three attempt timeouts at the default LLM_ATTEMPT_TIMEOUT_MS (10 s). */
const HANG_OPENS_WITHIN_MS = 30_000;

const MODEL = 'gpt-test';
let provider: OpenAiTestServer;
let windows: FailureWindows;
let sut: SystemUnderTest;

function isPlanCall(req: RecordedRequest): boolean {
  return ((req.body?.['tools'] as { function?: { name?: string } }[] | undefined) ?? []).some((t) => t.function?.name === 'submit_plan');
}

/** A healthy provider: a valid order-status plan for plan calls, a short grounded answer otherwise. */
function healthy(req: RecordedRequest): ScriptedResponse {
  const orderId = /order #?(\d{4})/i.exec(JSON.stringify(req.body?.['messages'] ?? ''))?.[1] ?? '1001';
  if (isPlanCall(req)) {
    return { kind: 'tool', name: 'submit_plan', arguments: { intent: { intent: 'order_status', orderId }, steps: [
      { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId } }, dependsOn: [] },
      { id: 'compose', kind: 'compose', input: {}, dependsOn: ['lookup-order'] },
      { id: 'validate', kind: 'validate', input: { answer: '${steps.compose.output.answer}' }, dependsOn: ['compose'] },
    ] } };
  }
  return { kind: 'text', text: `Here is the latest on order ${orderId}.` };
}

async function breaker(): Promise<string> {
  try {
    const r = await fetch(`http://127.0.0.1:${sut.procs.get('planner')!.port}/v1/models`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { models: { model: string; breaker: string }[] };
    return body.models.find((m) => m.model === MODEL)?.breaker ?? 'absent';
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  }
}

async function waitBreaker(state: string, timeoutMs: number): Promise<number | undefined> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if ((await breaker()) === state) return Date.now() - t0;
    await sleep(500);
  }
  return undefined;
}

beforeAll(async () => {
  provider = await startOpenAiTestServer();
  windows = failureWindows(healthy, { hangMs: 45_000 });
  provider.script(windows.responder);
  sut = await SystemUnderTest.start('distributed', { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: provider.url, OPENAI_MODEL: MODEL, LLM_CACHE_TTL_MS: '0' });
}, 300_000);

afterAll(async () => {
  await sut?.stop();
  await provider?.close();
});

describe('LLM provider outage', () => {
  it('429 / 500 / timeouts for a window: the breaker opens, the fallback serves, the breaker recovers; 0 lost', async () => {
    const started = Date.now();
    expect(await breaker()).toBe('closed');
    // Enough to keep traffic (and so the breaker's probes) going until the last recovery; stopped then.
    const count = Math.max(WORKFLOWS, 600);
    // A steady trickle over the whole outage (one or two workflows a second), stopped after the last recovery.
    const load = new Load(sut, { count, concurrency: 2, paceMs: 1000, wsShare: 0.2, prefix: 'llm', retryForMs: 60_000, question: (i) => `Where is my order 100${(i % 5) + 1}?` }).start();
    await sleep(5000);

    const cycles: { mode: FailureMode; openedAfterMs?: number; recoveredAfterMs?: number; window: [number, number] }[] = [];
    for (const mode of ['rate-limit', 'server-error', 'timeout'] as FailureMode[]) {
      const t0 = Date.now();
      // A hang fails a call only at its attempt timeout (10 s), and calls made after a short window
      // succeed in between (the breaker counts consecutive failures): the timeout window is longer.
      const windowMs = mode === 'timeout' ? 30_000 : 10_000;
      windows.open(mode, windowMs);
      const openedAfterMs = await waitBreaker('open', windowMs + 30_000);
      await sleep(Math.max(0, windowMs - (Date.now() - t0)));
      windows.close();
      const closedAt = Date.now();
      // cockatiel lets one probe through after 30 s; a healthy probe closes the circuit.
      const recovered = openedAfterMs === undefined ? undefined : await waitBreaker('closed', 80_000);
      cycles.push({ mode, openedAfterMs, recoveredAfterMs: recovered === undefined ? undefined : Date.now() - t0, window: [t0 - started, closedAt - started] });
      debug(`llm: ${mode} opened after ${openedAfterMs} ms, recovered after ${recovered === undefined ? 'never' : Date.now() - t0} ms`);
    }
    const recoveredAt = Date.now();
    // A few more after the last recovery (answered by the provider again), then no more.
    await sleep(10_000);
    load.stop();
    const t = await tally(sut, load, 240_000);
    load.close();

    // Who answered: the provider or the local fallback, from the WorkflowCompleted events, by when the workflow was accepted.
    const log = readEventLog(sut, new Set(load.accepted.map((s) => s.workflowId!)));
    let byProvider = 0;
    let byFallback = 0;
    let providerAfterRecovery = 0;
    for (const s of load.accepted) {
      const done = log.get(s.workflowId!)?.events.find((e) => e.type === 'WorkflowCompleted');
      const model = done?.data['model'] as { provider?: string; model?: string } | undefined;
      if (!model) continue;
      if (model.provider === 'local') byFallback += 1;
      else {
        byProvider += 1;
        if ((s.acceptedAt ?? 0) > recoveredAt) providerAfterRecovery += 1;
      }
    }
    // What the planner said about it (its recent log): breaker transitions, fallbacks, missed deadlines.
    const plannerLog = sut.logs('planner');
    const said = (re: RegExp): number => (plannerLog.match(re) ?? []).length;
    const plannerSaid = `planner log (recent): ${said(/model circuit opened/g)} circuit opened, ${said(/model circuit closed/g)} closed, ${said(/falling back/g)} fallbacks, `
      + `${said(/did not answer within|sent no first token within/g)} attempt timeouts, ${said(/missed its deadline/g)} missed deadlines, ${said(/step errored/g)} steps errored`;
    const problems: string[] = [];
    for (const c of cycles) {
      if (c.openedAfterMs === undefined) problems.push(`${c.mode}: the breaker never opened`);
      else if (c.recoveredAfterMs === undefined) problems.push(`${c.mode}: the breaker never closed again`);
    }
    const hang = cycles.find((c) => c.mode === 'timeout');
    if (hang?.openedAfterMs !== undefined && hang.openedAfterMs > HANG_OPENS_WITHIN_MS) {
      problems.push(`timeout: the breaker took ${(hang.openedAfterMs / 1000).toFixed(1)} s to open a hanging provider's circuit (want <= ${HANG_OPENS_WITHIN_MS / 1000} s)`);
    }
    if (byFallback === 0) problems.push('no workflow was answered by the fallback model');
    if (providerAfterRecovery === 0) problems.push('no workflow accepted after recovery was answered by the provider');
    if (t.lost.length) problems.push(`${t.lost.length} lost: ${t.lost.slice(0, 10).join(', ')}`);
    if (t.logProblems.length) problems.push(`event log: ${t.logProblems.slice(0, 10).join(' | ')}`);
    if (t.notAccepted.length) problems.push(`${t.notAccepted.length} never accepted`);

    const row: CaseRow = {
      case: 'LLM provider 429 / 500 / timeout windows', accepted: t.accepted, completed: t.completed, failed: t.failed, failedReasons: t.failedReasons, lost: t.lost.length,
      duplicated: t.logProblems.filter((p) => /terminal|twice/.test(p)).length,
      notes: [
        `hang → breaker open in ${hang?.openedAfterMs === undefined ? 'NEVER' : `${(hang.openedAfterMs / 1000).toFixed(1)} s`} (default per-attempt limits: 10 s attempt, 5 s first token)`,
        cycles.map((c) => `${c.mode}: breaker open after ${c.openedAfterMs === undefined ? 'NEVER' : `${(c.openedAfterMs / 1000).toFixed(1)} s`}, closed ${c.recoveredAfterMs === undefined ? 'NEVER' : `${(c.recoveredAfterMs / 1000).toFixed(0)} s`} after the window opened`).join(', '),
        `answers by provider ${byProvider} (${providerAfterRecovery} after recovery), by local fallback ${byFallback}`,
        `provider saw ${windows.served['rate-limit']}×429, ${windows.served['server-error']}×500, ${windows.served.timeout}×hang, ${windows.served.healthy} healthy`,
        plannerSaid,
        `read model ${t.viaGet.terminal}/${t.viaGet.checked} terminal`,
      ].join('; '),
      seconds: elapsed(started), ok: problems.length === 0,
    };
    recordRow(row);
    if (problems.length) throw new Error(`- ${problems.join('\n- ')}\n\n${tail(sut, 'planner')}\n${tail(sut, 'coordinator')}`);
  });
});
