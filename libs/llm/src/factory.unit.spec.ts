import { ErrorCode } from '@flotilla/common';
import { InMemoryCounterStore } from './counter-store';
import { createLanguageModel } from './factory';
import { LOCAL_MODEL_INFO } from './local-model';
import { composeRequest, intentRequest } from './prompts';
import { ModelRouter } from './router';
import { failureResponse, OpenAiTestServer, rateLimited, startOpenAiTestServer } from './testing/openai-test-server';

describe('createLanguageModel', () => {
  it('routes every tier to the local deterministic model when no API key is configured', async () => {
    const model = createLanguageModel({ OPENAI_MODEL: 'gpt-4o-mini' });
    expect(model).toBeInstanceOf(ModelRouter);
    expect(model.info).toEqual(LOCAL_MODEL_INFO);
    expect(model.status()).toEqual([{ model: 'local', provider: 'local', breaker: 'closed', queued: { interactive: 0, batch: 0 } }]);
    const result = await model.complete(intentRequest('Where is my order 1001?', '2026-11-21'));
    expect(result.model).toEqual(LOCAL_MODEL_INFO);
    expect(result.usage.costUsd).toBe(0);
  });

  it('routes to the OpenAI-compatible model first when an API key is configured, with its limits', () => {
    const model = createLanguageModel({
      OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1', OPENAI_MODEL: 'llama3',
      LLM_MODELS: '[{"name":"llama3","rpm":60,"tpm":40000,"inputPer1M":0,"outputPer1M":0}]', LLM_BUDGET_HEADROOM: 0.2,
    });
    expect(model.info).toEqual({ provider: 'openai', model: 'llama3', label: 'OpenAI-compatible model llama3' });
    expect(model.status().map((s) => s.model)).toEqual(['llama3', 'local']);
    expect(model.status()[0]!.limits).toEqual({ rpm: 60, tpm: 40_000, effectiveRpm: 48, effectiveTpm: 32_000 });
  });

  it('fails fast on invalid model configuration', () => {
    expect(() => createLanguageModel({ OPENAI_MODEL: 'x', LLM_ROUTES: '{"complex":[]}' })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }) as Error);
  });

  describe('against an OpenAI-compatible server', () => {
    let server: OpenAiTestServer;
    beforeEach(async () => {
      server = await startOpenAiTestServer();
    });
    afterEach(async () => {
      await server.close();
    });

    it('answers with the local model when the provider rate-limits, and charges the tenant for what was used', async () => {
      const counters = new InMemoryCounterStore();
      const model = createLanguageModel({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: server.url, OPENAI_MODEL: 'gpt-test', TENANT_DAILY_TOKEN_BUDGET: 1000 }, { counters });
      server.enqueue(rateLimited(3));
      const result = await model.complete({ ...intentRequest('Where is my order 1001?', '2026-11-21'), tenantId: 'acme' });
      expect(server.requests).toHaveLength(1);
      expect(result.model).toEqual(LOCAL_MODEL_INFO);
      expect(result.toolCalls[0]!.arguments).toEqual({ intent: 'order_status', orderId: '1001' });
      const total = result.usage.promptTokens + result.usage.completionTokens;
      expect(await counters.get(`llm:tenant:acme:${new Date().toISOString().slice(0, 10)}`)).toBe(total);
    });

    it('bounds each attempt by LLM_ATTEMPT_TIMEOUT_MS: a hanging provider is replaced by the local model', async () => {
      const model = createLanguageModel({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: server.url, OPENAI_MODEL: 'gpt-test', LLM_ATTEMPT_TIMEOUT_MS: 300, LLM_FIRST_TOKEN_TIMEOUT_MS: 100 });
      server.script(() => failureResponse('timeout', 20_000));
      const t0 = performance.now();
      const result = await model.complete(intentRequest('Where is my order 1001?', '2026-11-21'));
      expect(result.model).toEqual(LOCAL_MODEL_INFO);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
      expect(performance.now() - t0).toBeLessThan(2_000);
    });

    it('bounds a streamed answer\'s silences by LLM_STREAM_IDLE_TIMEOUT_MS, not its length by LLM_ATTEMPT_TIMEOUT_MS', async () => {
      const model = createLanguageModel({
        OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: server.url, OPENAI_MODEL: 'gpt-test',
        LLM_ATTEMPT_TIMEOUT_MS: 300, LLM_FIRST_TOKEN_TIMEOUT_MS: 2_000, LLM_STREAM_IDLE_TIMEOUT_MS: 500, LLM_CACHE_TTL_MS: 0,
      });
      const text = 'Your order 1001 shipped yesterday and should arrive on Monday, as the carrier says.';
      // Word chunks 50 ms apart: longer in all than the attempt timeout, never silent for the idle one.
      server.enqueue({ kind: 'text', text, chunkDelayMs: 50 }, { kind: 'text', text, pauseAt: { chunk: 2, until: new Promise(() => undefined) } });
      const question = composeRequest({ question: 'Where is my order 1001?', today: '2026-11-21', intent: { intent: 'order_status', orderId: '1001' }, facts: {} });
      const t0 = performance.now();
      const long = await model.stream(question, () => undefined);
      expect(long).toMatchObject({ text, model: { model: 'gpt-test' } });
      expect(performance.now() - t0).toBeGreaterThan(300);
      await expect(model.stream(question, () => undefined)).rejects.toMatchObject({ code: ErrorCode.Timeout, retryable: true, limit: 'idle', timeoutMs: 500 });
    });

    it('serves a repeated temperature-0 call from the cache', async () => {
      const model = createLanguageModel({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: server.url, OPENAI_MODEL: 'gpt-test' });
      server.enqueue({ kind: 'tool', name: 'record_intent', arguments: { intent: 'smalltalk' } });
      const first = await model.complete(intentRequest('Hello', '2026-11-21'));
      const second = await model.complete(intentRequest('Hello', '2026-11-21'));
      expect(server.requests).toHaveLength(1);
      expect(first.cached).toBeUndefined();
      expect(second).toMatchObject({ cached: true, toolCalls: first.toolCalls, usage: { promptTokens: 0, completionTokens: 0, costUsd: 0 } });
    });
  });
});
