import { ErrorCode, FlotillaError } from '@flotilla/common';
import { ModelRateLimitedError } from './errors';
import { OpenAiModel } from './openai-model';
import { CompletionRequest } from './port';
import { intentRequest } from './prompts';
import { OpenAiTestServer, rateLimited, serverError, startOpenAiTestServer } from './testing/openai-test-server';

const ask = (content: string): CompletionRequest => ({ purpose: 'compose', tier: 'complex', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content }] });

async function failure(promise: Promise<unknown>): Promise<FlotillaError> {
  const err: unknown = await promise.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof FlotillaError)) throw new Error(`expected a FlotillaError, got ${String(err)}`);
  return err;
}

describe('OpenAiModel against an OpenAI-compatible server', () => {
  let server: OpenAiTestServer;
  let model: OpenAiModel;

  beforeEach(async () => {
    server = await startOpenAiTestServer();
    model = new OpenAiModel({ baseURL: server.url, apiKey: 'sk-test', model: 'test-model', timeoutMs: 2000 });
  });
  afterEach(async () => {
    await server.close();
  });

  it('completes plain text and sends the request in OpenAI format', async () => {
    server.enqueue({ kind: 'text', text: 'Your order is on its way.', usage: { promptTokens: 12, completionTokens: 6 } });
    const result = await model.complete({ ...ask('Where is my order?'), temperature: 0, maxTokens: 50 });
    expect(result).toEqual({
      text: 'Your order is on its way.',
      toolCalls: [],
      model: { provider: 'openai', model: 'test-model', label: 'OpenAI-compatible model test-model' },
      usage: { promptTokens: 12, completionTokens: 6 },
      finishReason: 'stop',
    });
    expect(server.requests).toHaveLength(1);
    const req = server.requests[0]!;
    expect(req.headers['authorization']).toBe('Bearer sk-test');
    expect(req.body).toMatchObject({
      model: 'test-model',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Where is my order?' }],
      temperature: 0,
      max_tokens: 50,
    });
    expect(req.body?.['stream']).toBeFalsy();
  });

  it('forces a tool call and parses its arguments', async () => {
    server.enqueue({ kind: 'tool', name: 'record_intent', arguments: { intent: 'order_status', orderId: '1001', deadline: '2026-11-27' } });
    const result = await model.complete(intentRequest('Will order 1001 arrive by Friday?', '2026-11-21'));
    expect(result.toolCalls).toEqual([{ name: 'record_intent', arguments: { intent: 'order_status', orderId: '1001', deadline: '2026-11-27' } }]);
    expect(result.finishReason).toBe('tool_calls');
    const body = server.requests[0]!.body!;
    expect(body['tool_choice']).toEqual({ type: 'function', function: { name: 'record_intent' } });
    expect(body['tools']).toEqual([expect.objectContaining({ type: 'function', function: expect.objectContaining({ name: 'record_intent' }) as unknown })]);
  });

  it('streams content deltas in order and reports usage from the final chunk', async () => {
    server.enqueue({ kind: 'text', text: 'Order 1001 is in transit.', chunks: ['Order', ' 1001', ' is', ' in transit', '.'], usage: { promptTokens: 40, completionTokens: 7 } });
    const tokens: string[] = [];
    const result = await model.stream(ask('Where is order 1001?'), async (t) => {
      await Promise.resolve();
      tokens.push(t);
    });
    expect(tokens).toEqual(['Order', ' 1001', ' is', ' in transit', '.']);
    expect(result.text).toBe('Order 1001 is in transit.');
    expect(result.usage).toEqual({ promptTokens: 40, completionTokens: 7 });
    expect(result.finishReason).toBe('stop');
    expect(server.requests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('assembles a streamed tool call from its fragments', async () => {
    server.enqueue({ kind: 'tool', name: 'record_intent', arguments: { intent: 'policy_question', topic: 'returns' } });
    const tokens: string[] = [];
    const result = await model.stream(intentRequest('What is your return policy?', '2026-11-21'), (t) => {
      tokens.push(t);
    });
    expect(result.toolCalls).toEqual([{ name: 'record_intent', arguments: { intent: 'policy_question', topic: 'returns' } }]);
    expect(tokens).toEqual([]);
  });

  it('maps 429 to a retryable RateLimited error with the Retry-After in ms', async () => {
    server.enqueue(rateLimited(3));
    const err = await failure(model.complete(ask('hi')));
    expect(err).toBeInstanceOf(ModelRateLimitedError);
    expect(err).toMatchObject({ code: ErrorCode.RateLimited, retryable: true, retryAfterMs: 3000 });
    expect(server.requests).toHaveLength(1);
  });

  it('maps 429 without Retry-After to RateLimited with no wait', async () => {
    server.enqueue(rateLimited());
    const err = await failure(model.stream(ask('hi'), () => undefined));
    expect(err).toMatchObject({ code: ErrorCode.RateLimited, retryable: true, retryAfterMs: undefined });
  });

  it('maps 500 to a retryable DependencyUnavailable and does not retry itself', async () => {
    server.enqueue(serverError(500), { kind: 'text', text: 'too late' });
    const err = await failure(model.complete(ask('hi')));
    expect(err).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
    expect(server.requests).toHaveLength(1);
  });

  it('maps other 4xx to a non-retryable ModelFailed', async () => {
    server.enqueue({ kind: 'error', status: 400, message: 'bad request' });
    const err = await failure(model.complete(ask('hi')));
    expect(err).toMatchObject({ code: ErrorCode.ModelFailed, retryable: false });
  });

  it('maps invalid tool-call JSON to a non-retryable ModelFailed', async () => {
    server.enqueue({ kind: 'tool', name: 'record_intent', arguments: '{"intent": "order_status",' });
    const err = await failure(model.complete(intentRequest('Where is order 1001?', '2026-11-21')));
    expect(err).toMatchObject({ code: ErrorCode.ModelFailed, retryable: false });
    expect(err.message).toMatch(/invalid JSON/);
  });

  it('maps invalid streamed tool-call JSON to a non-retryable ModelFailed', async () => {
    server.enqueue({ kind: 'tool', name: 'record_intent', arguments: 'not json at all' });
    const err = await failure(model.stream(intentRequest('Where is order 1001?', '2026-11-21'), () => undefined));
    expect(err).toMatchObject({ code: ErrorCode.ModelFailed, retryable: false });
  });

  it('fails when a forced tool is not called', async () => {
    server.enqueue({ kind: 'text', text: 'I think it is an order question.' });
    const err = await failure(model.complete(intentRequest('Where is order 1001?', '2026-11-21')));
    expect(err).toMatchObject({ code: ErrorCode.ModelFailed });
  });

  it('times out a slow response as a retryable Timeout', async () => {
    const slow = new OpenAiModel({ baseURL: server.url, apiKey: 'sk-test', model: 'test-model', timeoutMs: 100 });
    server.enqueue({ kind: 'text', text: 'late', latencyMs: 1000 });
    const err = await failure(slow.complete(ask('hi')));
    expect(err).toMatchObject({ code: ErrorCode.Timeout, retryable: true });
  });

  it('times out a stream that stalls after the headers', async () => {
    const slow = new OpenAiModel({ baseURL: server.url, apiKey: 'sk-test', model: 'test-model', timeoutMs: 150 });
    server.enqueue({ kind: 'text', text: 'one two three four', chunkDelayMs: 100 });
    const tokens: string[] = [];
    const err = await failure(slow.stream(ask('hi'), (t) => {
      tokens.push(t);
    }));
    expect(err).toMatchObject({ code: ErrorCode.Timeout, retryable: true });
    expect(tokens.length).toBeLessThan(4);
  });

  it('reports a caller abort as a retryable Timeout', async () => {
    const controller = new AbortController();
    controller.abort();
    server.enqueue({ kind: 'text', text: 'never' });
    const err = await failure(model.complete({ ...ask('hi'), signal: controller.signal }));
    expect(err).toMatchObject({ code: ErrorCode.Timeout, retryable: true });
  });

  it('treats a stream dropped mid-answer as retryable, not as a short answer', async () => {
    server.enqueue({ kind: 'drop', chunks: ['Order', ' 1001'] });
    const err = await failure(model.stream(ask('hi'), () => undefined));
    expect(err).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
  });

  it('maps an unreachable endpoint to a retryable DependencyUnavailable', async () => {
    const url = server.url;
    await server.close();
    server = await startOpenAiTestServer();
    const gone = new OpenAiModel({ baseURL: url, apiKey: 'sk-test', model: 'test-model', timeoutMs: 2000 });
    const err = await failure(gone.complete(ask('hi')));
    expect(err).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
  });

  it('passes an onToken failure through unchanged', async () => {
    server.enqueue({ kind: 'text', text: 'one two three' });
    const boom = new FlotillaError(ErrorCode.DependencyUnavailable, 'bus down');
    const err = await failure(model.stream(ask('hi'), () => {
      throw boom;
    }));
    expect(err).toBe(boom);
  });
});
