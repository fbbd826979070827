import { ErrorCode, FlotillaError, waitFor } from '@flotilla/common';
import { SimulatedClock } from './clock';
import { ModelTimeoutError } from './errors';
import { LocalModel } from './local-model';
import { OpenAiModel } from './openai-model';
import { CompletionRequest, CompletionResult, LanguageModel, ModelInfo } from './port';
import { composeRequest } from './prompts';
import { AttemptTimeouts, ModelRouter } from './router';
import { failureResponse, OpenAiTestServer, startOpenAiTestServer } from './testing/openai-test-server';

/*
 * Per-attempt time limits in simulated time: a hanging provider costs each call one short timeout
 * (then the next model of the chain answers), and its circuit opens after a few of them.
 */

/** A provider that hangs until its call is aborted — or, `ignoresSignal`, for a minute, then answers anyway. */
class HangingModel implements LanguageModel {
  readonly info: ModelInfo;
  calls: CompletionRequest[] = [];
  healthy = false;

  constructor(name: string, private readonly clock: SimulatedClock, private readonly options: { ignoresSignal?: boolean } = {}) {
    this.info = { provider: name === 'local' ? 'local' : 'openai', model: name, label: name };
  }

  complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.stream(request, () => undefined);
  }

  async stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult> {
    this.calls.push(request);
    if (!this.healthy) {
      if (!this.options.ignoresSignal) {
        await this.clock.sleep(3_600_000, request.signal);
        throw new FlotillaError(ErrorCode.Timeout, `${this.info.model} call aborted`, { retryable: true });
      }
      await this.clock.sleep(60_000);
    }
    for (const t of [`${this.info.model} `, 'answer']) await onToken(t);
    return { text: `${this.info.model} answer`, toolCalls: [], model: this.info, usage: { promptTokens: 10, completionTokens: 2 }, finishReason: 'stop' };
  }
}

/**
 * A provider that is answering: it streams one token after each gap of `gapsMs` (on the simulated
 * clock), and stops when its call is aborted, as the OpenAI adapter does.
 */
class TricklingModel implements LanguageModel {
  readonly info: ModelInfo = { provider: 'openai', model: 'provider', label: 'provider' };
  calls = 0;

  constructor(private readonly clock: SimulatedClock, private readonly gapsMs: number[]) {}

  complete(request: CompletionRequest): Promise<CompletionResult> {
    return this.stream(request, () => undefined);
  }

  async stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult> {
    this.calls++;
    let text = '';
    for (const [i, gap] of this.gapsMs.entries()) {
      await this.clock.sleep(gap, request.signal);
      if (request.signal?.aborted) throw new FlotillaError(ErrorCode.Timeout, 'provider call aborted', { retryable: true });
      text += `t${i} `;
      await onToken(`t${i} `);
    }
    return { text, toolCalls: [], model: this.info, usage: { promptTokens: 10, completionTokens: this.gapsMs.length }, finishReason: 'stop' };
  }
}

const ask = (extra: Partial<CompletionRequest> = {}): CompletionRequest => ({
  purpose: 'compose', tier: 'complex', messages: [{ role: 'user', content: 'Where is my order?' }], cache: false, ...extra,
});

let clock: SimulatedClock;
let dateNow: jest.SpyInstance<number, []> | undefined;

function simulatedTime(): void {
  clock = new SimulatedClock();
  // cockatiel times a circuit's open state with Date.now: it must read the same simulated time.
  dateNow = jest.spyOn(Date, 'now').mockImplementation(() => clock.now());
}
afterEach(() => {
  dateNow?.mockRestore();
  dateNow = undefined;
});

function setup(options: { timeouts?: AttemptTimeouts; failures?: number; halfOpenAfterMs?: number; chain?: string[]; ignoresSignal?: boolean } = {}): {
  r: ModelRouter; provider: HangingModel; local: HangingModel;
} {
  const provider = new HangingModel('provider', clock, { ignoresSignal: options.ignoresSignal });
  const local = new HangingModel('local', clock);
  local.healthy = true;
  const chain = options.chain ?? ['provider', 'local'];
  const r = new ModelRouter({
    models: [{ name: 'provider', model: provider }, { name: 'local', model: local }],
    routes: { simple: chain, complex: chain, critical: chain },
    clock,
    timeouts: options.timeouts,
    breaker: { consecutiveFailures: options.failures ?? 5, halfOpenAfterMs: options.halfOpenAfterMs ?? 30_000 },
  });
  return { r, provider, local };
}

/** Runs `work` in simulated time; resolves with its outcome and how long it took. */
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const t0 = clock.now();
  try {
    const value = await clock.run(work);
    return { ms: clock.now() - t0, value };
  } catch (error) {
    return { ms: clock.now() - t0, error };
  }
}

const breakerOf = (r: ModelRouter): string => r.status().find((s) => s.model === 'provider')!.breaker;

describe('ModelRouter attempt timeouts', () => {
  beforeEach(simulatedTime);

  it('gives up on a hanging model after the attempt timeout and answers with the next model, within the deadline', async () => {
    const { r, provider } = setup({ timeouts: { attemptMs: 3_000 } });
    const { ms, value } = await timed(() => r.complete(ask({ deadlineMs: clock.now() + 30_000 })));
    expect(ms).toBe(3_000);
    expect(value).toMatchObject({ text: 'local answer', model: { model: 'local' } });
    // The provider's request was cancelled, not left running.
    expect(provider.calls[0]!.signal?.aborted).toBe(true);
    expect(provider.calls[0]!.signal?.reason).toBeInstanceOf(ModelTimeoutError);
  });

  it('streaming: a model that sends no first token within the first-token timeout is replaced before anything reaches the customer', async () => {
    const { r } = setup({ timeouts: { attemptMs: 10_000, firstTokenMs: 1_500 } });
    const tokens: string[] = [];
    const { ms, value } = await timed(() => r.stream(ask(), (t) => void tokens.push(t)));
    expect(ms).toBe(1_500);
    expect(value?.model.model).toBe('local');
    expect(tokens).toEqual(['local ', 'answer']);
  });

  it('does not apply the first-token timeout to a stream that offers tools (a tool call streams no text)', async () => {
    const { r } = setup({ timeouts: { attemptMs: 4_000, firstTokenMs: 1_000 } });
    const tools = [{ name: 'submit_plan', description: 'plan', parameters: { type: 'object' } }];
    const { ms, value } = await timed(() => r.stream(ask({ tools }), () => undefined));
    expect(ms).toBe(4_000);
    expect(value?.model.model).toBe('local');
  });

  it('does not wait for a model that ignores its signal, and its late tokens never reach the customer', async () => {
    const { r } = setup({ timeouts: { attemptMs: 10_000, firstTokenMs: 2_000 }, ignoresSignal: true });
    const tokens: string[] = [];
    const { ms, value } = await timed(() => r.stream(ask(), (t) => void tokens.push(t)));
    expect(ms).toBe(2_000);
    expect(value?.model.model).toBe('local');
    await clock.advance(120_000); // the provider "answers" at 60 s
    expect(tokens).toEqual(['local ', 'answer']);
  });

  it('says the timeout is retryable, which limit ran out and which model, when no model is left', async () => {
    const { r } = setup({ timeouts: { attemptMs: 2_000 }, chain: ['provider'] });
    const { ms, error } = await timed(() => r.complete(ask()));
    expect(ms).toBe(2_000);
    expect(error).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
    const cause = (error as Error).cause;
    expect(cause).toBeInstanceOf(ModelTimeoutError);
    expect((cause as ModelTimeoutError).toJSON()).toMatchObject({ code: ErrorCode.Timeout, retryable: true, model: 'provider', limit: 'attempt', timeoutMs: 2_000 });
  });

  it('refuses limits that are not a positive number of ms at construction', () => {
    expect(() => setup({ timeouts: { attemptMs: 0 } })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }) as Error);
    expect(() => setup({ timeouts: { firstTokenMs: Number.NaN } })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }) as Error);
    expect(() => setup({ timeouts: { fallbackReserveMs: 0 } })).not.toThrow();
  });

  describe('capped by the deadline', () => {
    it('gives a model that is not the last at most the time left before the deadline less the fallback reserve', async () => {
      const { r } = setup({ timeouts: { attemptMs: 10_000, fallbackReserveMs: 2_000 } });
      const { ms, value } = await timed(() => r.complete(ask({ deadlineMs: clock.now() + 5_000 })));
      expect(ms).toBe(3_000);
      expect(value?.model.model).toBe('local');
    });

    it('gives the last model of the chain all the time left, then fails Timeout (retryable) at the deadline', async () => {
      const { r } = setup({ timeouts: { attemptMs: 10_000, fallbackReserveMs: 2_000 }, chain: ['provider'] });
      const { ms, error } = await timed(() => r.complete(ask({ deadlineMs: clock.now() + 5_000 })));
      expect(ms).toBe(5_000);
      expect(error).toMatchObject({ code: ErrorCode.Timeout, retryable: true });
      expect((error as Error).message).toContain('missed its deadline');
    });

    it('skips a model without calling it when less than the reserve is left, and does not count that against it', async () => {
      const { r, provider } = setup({ timeouts: { attemptMs: 10_000, fallbackReserveMs: 2_000 }, failures: 1 });
      const { ms, value } = await timed(() => r.complete(ask({ deadlineMs: clock.now() + 1_500 })));
      expect(ms).toBe(0);
      expect(value?.model.model).toBe('local');
      expect(provider.calls).toHaveLength(0);
      expect(breakerOf(r)).toBe('closed');
    });
  });

  describe('circuit breaker', () => {
    it('opens after N consecutive timeouts, then skips the hanging model at once', async () => {
      const { r, provider } = setup({ timeouts: { attemptMs: 2_000 }, failures: 3 });
      const t0 = clock.now();
      for (let i = 0; i < 3; i++) {
        expect(breakerOf(r)).toBe('closed');
        expect((await clock.run(r.complete(ask()))).model.model).toBe('local');
      }
      expect(breakerOf(r)).toBe('open');
      expect(clock.now() - t0).toBe(6_000);
      expect(r.status()[0]!.lastFailure).toContain('did not answer within 2000 ms');
      const skipped = await timed(() => r.complete(ask()));
      expect(skipped).toMatchObject({ ms: 0, value: { model: { model: 'local' } } });
      expect(provider.calls).toHaveLength(3);
    });

    it('probes after halfOpenAfter: a probe that still hangs re-opens it after one timeout; a healthy one closes it', async () => {
      const { r, provider } = setup({ timeouts: { attemptMs: 2_000 }, failures: 2, halfOpenAfterMs: 10_000 });
      await clock.run(r.complete(ask()));
      await clock.run(r.complete(ask()));
      expect(breakerOf(r)).toBe('open');

      await clock.advance(10_000);
      const probe = await timed(() => r.complete(ask()));
      expect(probe).toMatchObject({ ms: 2_000, value: { model: { model: 'local' } } });
      expect(breakerOf(r)).toBe('open');
      expect(provider.calls).toHaveLength(3);

      await clock.advance(10_000);
      provider.healthy = true;
      const recovered = await timed(() => r.complete(ask()));
      expect(recovered).toMatchObject({ ms: 0, value: { model: { model: 'provider' } } });
      expect(breakerOf(r)).toBe('closed');
      expect((await clock.run(r.complete(ask()))).model.model).toBe('provider');
    });
  });

  /*
   * A streamed text answer is bounded by its first token, the silence between tokens and the deadline,
   * not by the attempt timeout: a long answer that keeps coming must not be cut and streamed again.
   */
  describe('streams: idle timeout instead of the attempt timeout', () => {
    const limits: AttemptTimeouts = { attemptMs: 3_000, firstTokenMs: 1_500, idleMs: 2_000, fallbackReserveMs: 2_000 };

    function trickling(gapsMs: number[], failures = 5): { r: ModelRouter; provider: TricklingModel; local: HangingModel } {
      const provider = new TricklingModel(clock, gapsMs);
      const local = new HangingModel('local', clock);
      local.healthy = true;
      const chain = ['provider', 'local'];
      const r = new ModelRouter({
        models: [{ name: 'provider', model: provider }, { name: 'local', model: local }],
        routes: { simple: chain, complex: chain, critical: chain },
        clock,
        timeouts: limits,
        breaker: { consecutiveFailures: failures },
      });
      return { r, provider, local };
    }
    const everySecond = (n: number): number[] => Array<number>(n).fill(1_000);
    const tokensOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `t${i} `);

    it('lets a stream that sends a token every second run past the attempt timeout to its end', async () => {
      const { r, local } = trickling(everySecond(8));
      const tokens: string[] = [];
      const { ms, value, error } = await timed(() => r.stream(ask({ deadlineMs: clock.now() + 30_000 }), (t) => void tokens.push(t)));
      expect(error).toBeUndefined();
      expect(ms).toBe(8_000);
      expect(value).toMatchObject({ model: { model: 'provider' }, text: tokensOf(8).join('') });
      expect(tokens).toEqual(tokensOf(8));
      expect(local.calls).toHaveLength(0);
      expect(breakerOf(r)).toBe('closed');
    });

    it('still cuts the same answer as a whole-response call at the attempt timeout', async () => {
      const { r } = trickling(everySecond(8));
      const { ms, value } = await timed(() => r.complete(ask({ deadlineMs: clock.now() + 30_000 })));
      expect(ms).toBe(3_000);
      expect(value?.model.model).toBe('local');
    });

    it('does not count the time the caller takes to take a token as the model\'s silence', async () => {
      const { r } = trickling(everySecond(4));
      const tokens: string[] = [];
      const slowCaller = async (t: string): Promise<void> => {
        await clock.sleep(3_000);
        tokens.push(t);
      };
      const { ms, value } = await timed(() => r.stream(ask({ deadlineMs: clock.now() + 30_000 }), slowCaller));
      expect(ms).toBe(16_000);
      expect(value?.model.model).toBe('provider');
      expect(tokens).toEqual(tokensOf(4));
    });

    it('fails a stream that goes silent mid-answer after the idle timeout, retryable, counted against the model', async () => {
      const { r, provider, local } = trickling([...everySecond(3), 60_000, 1_000], 1);
      const tokens: string[] = [];
      const { ms, error } = await timed(() => r.stream(ask({ deadlineMs: clock.now() + 30_000 }), (t) => void tokens.push(t)));
      expect(ms).toBe(3_000 + 2_000);
      expect(error).toBeInstanceOf(ModelTimeoutError);
      expect((error as ModelTimeoutError).toJSON()).toMatchObject({ code: ErrorCode.Timeout, retryable: true, model: 'provider', limit: 'idle', timeoutMs: 2_000 });
      // As for any failure after the first token: no other model's answer is spliced onto the tokens sent.
      expect(tokens).toEqual(tokensOf(3));
      expect(local.calls).toHaveLength(0);
      // The timeout counted as the model's failure: the caller's retry is answered by the next model at once.
      expect(breakerOf(r)).toBe('open');
      const retry = await timed(() => r.stream(ask({ deadlineMs: clock.now() + 30_000 }), () => undefined));
      expect(retry).toMatchObject({ ms: 0, value: { model: { model: 'local' } } });
      expect(provider.calls).toBe(1);
    });

    it('falls back as before when the silence comes before the first token', async () => {
      const { r } = trickling([1_600, ...everySecond(3)]);
      const tokens: string[] = [];
      const { ms, value } = await timed(() => r.stream(ask({ deadlineMs: clock.now() + 30_000 }), (t) => void tokens.push(t)));
      expect(ms).toBe(1_500);
      expect(value?.model.model).toBe('local');
      expect(tokens).toEqual(['local ', 'answer']);
    });

    it('cuts a stream that is still sending at the deadline less the fallback reserve', async () => {
      const { r } = trickling(everySecond(60));
      const tokens: string[] = [];
      const { ms, error } = await timed(() => r.stream(ask({ deadlineMs: clock.now() + 10_000 }), (t) => void tokens.push(t)));
      expect(ms).toBe(8_000);
      expect((error as ModelTimeoutError).toJSON()).toMatchObject({ code: ErrorCode.Timeout, retryable: true, model: 'provider', limit: 'attempt', timeoutMs: 8_000 });
      expect((error as Error).message).toContain('the time left before the call\'s deadline, less 2000 ms kept for the next model');
      expect(tokens).toEqual(tokensOf(7));
    });

    it('cuts a stream at the deadline itself when its model is the last of the chain', async () => {
      const only = new ModelRouter({
        models: [{ name: 'provider', model: new TricklingModel(clock, everySecond(60)) }],
        routes: { simple: ['provider'], complex: ['provider'], critical: ['provider'] },
        clock,
        timeouts: limits,
      });
      const { ms, error } = await timed(() => only.stream(ask({ deadlineMs: clock.now() + 10_000 }), () => undefined));
      expect(ms).toBe(10_000);
      expect(error).toMatchObject({ code: ErrorCode.Timeout, retryable: true });
      expect((error as Error).message).toContain('missed its deadline');
    });
  });

  /*
   * How long a hanging provider keeps its circuit closed, with the default limits and breaker (5
   * consecutive failures), for calls made one after another under the planner's 30 s deadline. Before
   * the per-attempt limits, only that deadline stopped a call (reproduced here by limits that never
   * fire first): each call waited 30 s and then failed, with no fallback.
   */
  describe('time for a hanging provider\'s circuit to open (defaults, one call at a time)', () => {
    async function untilOpen(r: ModelRouter, call: () => Promise<CompletionResult>): Promise<{ ms: number; answered: number; failed: number }> {
      const t0 = clock.now();
      let answered = 0;
      let failed = 0;
      while (breakerOf(r) !== 'open') {
        const outcome = await timed(call);
        if (outcome.error) failed++;
        else answered++;
      }
      return { ms: clock.now() - t0, answered, failed };
    }
    const deadline = (): number => clock.now() + 30_000;

    it('before: only the 30 s deadline stops a call — 150 s, and every caller gets an error', async () => {
      const { r } = setup({ timeouts: { attemptMs: 60_000, firstTokenMs: 60_000, fallbackReserveMs: 0 } });
      expect(await untilOpen(r, () => r.complete(ask({ deadlineMs: deadline() })))).toEqual({ ms: 150_000, answered: 0, failed: 5 });
    });

    it('after: completions time out in 10 s — 50 s, every caller answered by the fallback', async () => {
      const { r } = setup();
      expect(await untilOpen(r, () => r.complete(ask({ deadlineMs: deadline() })))).toEqual({ ms: 50_000, answered: 5, failed: 0 });
    });

    it('after: streams time out at the first token in 5 s — 25 s, every caller answered by the fallback', async () => {
      const { r } = setup();
      expect(await untilOpen(r, () => r.stream(ask({ deadlineMs: deadline() }), () => undefined))).toEqual({ ms: 25_000, answered: 5, failed: 0 });
    });

    it('after: five callers at once open it in one first-token timeout, 5 s', async () => {
      const { r } = setup();
      const t0 = clock.now();
      const results = await clock.run(Promise.all(Array.from({ length: 5 }, () => r.stream(ask({ deadlineMs: deadline() }), () => undefined))));
      expect(results.map((x) => x.model.model)).toEqual(Array(5).fill('local'));
      expect(breakerOf(r)).toBe('open');
      expect(clock.now() - t0).toBe(5_000);
    });
  });
});

/*
 * The same through the real `openai` client against the OpenAI-compatible test server, in real time
 * with short limits: the SDK request is cancelled, and the built-in local model answers.
 */
describe('ModelRouter attempt timeouts against a hanging OpenAI-compatible server', () => {
  let server: OpenAiTestServer;
  const question = composeRequest({ question: 'Where is my order 1001?', today: '2026-11-21', intent: { intent: 'order_status', orderId: '1001' }, facts: {} });

  beforeEach(async () => {
    server = await startOpenAiTestServer();
  });
  afterEach(async () => {
    await server.close();
  });

  function routed(timeouts: AttemptTimeouts, failures = 5): ModelRouter {
    // The adapter's own whole-call timeout is far off: the router's limits are the ones under test.
    const remote = new OpenAiModel({ baseURL: server.url, apiKey: 'sk-test', model: 'gpt-test', timeoutMs: 30_000 });
    return new ModelRouter({
      models: [{ name: 'gpt-test', model: remote }, { name: 'local', model: new LocalModel() }],
      routes: { simple: ['gpt-test', 'local'], complex: ['gpt-test', 'local'], critical: ['gpt-test', 'local'] },
      timeouts,
      breaker: { consecutiveFailures: failures },
    });
  }

  async function wallClock<T>(work: Promise<T>): Promise<{ ms: number; value: T }> {
    const t0 = performance.now();
    const value = await work;
    return { ms: performance.now() - t0, value };
  }

  it('a server that never sends headers: the local model answers after the first-token timeout', async () => {
    server.script(() => failureResponse('timeout', 20_000));
    const tokens: string[] = [];
    const { ms, value } = await wallClock(routed({ attemptMs: 3_000, firstTokenMs: 300 }).stream(question, (t) => void tokens.push(t)));
    expect(value.model.provider).toBe('local');
    expect(tokens.join('')).toBe(value.text);
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(2_000);
    // It did reach the provider (recorded once its body is read, which a busy machine may delay).
    await waitFor(() => server.requests.length === 1, 5_000, 'the hung request at the server');
  });

  it('a stream that starts and then stalls before any text: the first-token timeout catches what a header timeout would not', async () => {
    server.script(() => ({ kind: 'text', text: 'never sent', pauseAt: { chunk: 0, until: new Promise(() => undefined) } }));
    const { ms, value } = await wallClock(routed({ attemptMs: 3_000, firstTokenMs: 300 }).stream(question, () => undefined));
    expect(value.model.provider).toBe('local');
    expect(ms).toBeLessThan(2_000);
  });

  it('a long answer whose chunks keep coming runs past the attempt timeout to its end', async () => {
    const text = Array.from({ length: 20 }, (_, i) => `word${i} `).join('');
    // 22 chunks 50 ms apart (role, 20 words, finish): over a second, against a 300 ms attempt timeout.
    server.script(() => ({ kind: 'text', text, chunkDelayMs: 50 }));
    const tokens: string[] = [];
    const { ms, value } = await wallClock(routed({ attemptMs: 300, firstTokenMs: 2_000, idleMs: 2_000 }).stream(question, (t) => void tokens.push(t)));
    expect(value).toMatchObject({ model: { model: 'gpt-test' }, text });
    expect(tokens.join('')).toBe(text);
    expect(ms).toBeGreaterThanOrEqual(1_000);
  });

  it('a stream that stalls mid-answer: the idle timeout cuts it, and says so', async () => {
    const text = 'One two three four five six.';
    server.script(() => ({ kind: 'text', text, pauseAt: { chunk: 3, until: new Promise(() => undefined) } }));
    const tokens: string[] = [];
    const t0 = performance.now();
    const error: unknown = await routed({ attemptMs: 30_000, firstTokenMs: 2_000, idleMs: 400 }).stream(question, (t) => void tokens.push(t)).catch((e: unknown) => e);
    const ms = performance.now() - t0;
    expect(error).toBeInstanceOf(ModelTimeoutError);
    expect((error as ModelTimeoutError).toJSON()).toMatchObject({ code: ErrorCode.Timeout, retryable: true, model: 'gpt-test', limit: 'idle', timeoutMs: 400 });
    expect(tokens.join('')).toBe('One two three ');
    expect(ms).toBeGreaterThanOrEqual(390);
    expect(ms).toBeLessThan(5_000);
  });

  it('a completion that hangs: the attempt timeout; after two, the circuit is open and the server is not called again', async () => {
    server.script(() => failureResponse('timeout', 20_000));
    const r = routed({ attemptMs: 300, firstTokenMs: 100 }, 2);
    for (let i = 0; i < 2; i++) {
      const { ms, value } = await wallClock(r.complete(question));
      expect(value.model.provider).toBe('local');
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(2_000);
    }
    expect(r.status()[0]).toMatchObject({ model: 'gpt-test', breaker: 'open' });
    await waitFor(() => server.requests.length === 2, 5_000, 'both hung requests at the server');
    const skipped = await wallClock(r.complete(question));
    expect(skipped.value.model.provider).toBe('local');
    expect(skipped.ms).toBeLessThan(250);
    expect(server.requests).toHaveLength(2);
  });
});
