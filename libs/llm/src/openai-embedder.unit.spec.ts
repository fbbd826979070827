import { ErrorCode, FlotillaError } from '@flotilla/common';
import { ModelRateLimitedError } from './errors';
import { OpenAiEmbedder } from './openai-embedder';
import { deterministicVector, OpenAiTestServer, rateLimited, serverError, startOpenAiTestServer } from './testing/openai-test-server';

async function failure(promise: Promise<unknown>): Promise<FlotillaError> {
  const err: unknown = await promise.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof FlotillaError)) throw new Error(`expected a FlotillaError, got ${String(err)}`);
  return err;
}

describe('OpenAiEmbedder against an OpenAI-compatible server', () => {
  let server: OpenAiTestServer;
  const embedder = (extra: Partial<ConstructorParameters<typeof OpenAiEmbedder>[0]> = {}): OpenAiEmbedder =>
    new OpenAiEmbedder({ baseURL: server.url, apiKey: 'sk-test', model: 'text-embedding-test', dimension: 4, timeoutMs: 2000, ...extra });

  beforeEach(async () => {
    server = await startOpenAiTestServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('embeds texts in order, in batches, as floats', async () => {
    server.enqueue({ kind: 'embedding', dimension: 4 }, { kind: 'embedding', dimension: 4 });
    const texts = ['returns policy', 'warranty', 'shipping'];
    const e = embedder({ batchSize: 2 });
    expect(e).toMatchObject({ name: 'text-embedding-test/4', dimension: 4 });
    expect(await e.embed(texts)).toEqual(texts.map((t) => deterministicVector(t, 4)));
    expect(server.requests.map((r) => [r.path, r.body?.['input']])).toEqual([['/v1/embeddings', ['returns policy', 'warranty']], ['/v1/embeddings', ['shipping']]]);
    expect(server.requests[0]!.body).toMatchObject({ model: 'text-embedding-test', encoding_format: 'float' });
    expect(server.requests[0]!.body?.['dimensions']).toBeUndefined();
    expect(server.requests[0]!.headers['authorization']).toBe('Bearer sk-test');
  });

  it('puts vectors back in input order whatever order the server lists them in', async () => {
    const vectors = [[1, 0, 0, 0], [0, 1, 0, 0]];
    server.enqueue({ kind: 'embedding', vectors, reversed: true });
    expect(await embedder().embed(['a', 'b'])).toEqual(vectors);
  });

  it('asks for the dimension when told to, and sends no request for no texts', async () => {
    expect(await embedder().embed([])).toEqual([]);
    expect(server.requests).toHaveLength(0);
    server.enqueue({ kind: 'embedding', dimension: 4 });
    await embedder({ requestDimensions: true }).embed(['']);
    expect(server.requests[0]!.body).toMatchObject({ dimensions: 4, input: [' '] });
  });

  it('maps 429 to a retryable RateLimited with the wait, 5xx to retryable, 4xx to non-retryable', async () => {
    server.enqueue(rateLimited(2), serverError(503), { kind: 'error', status: 400, message: 'bad model' });
    const limited = await failure(embedder().embed(['x']));
    expect(limited).toBeInstanceOf(ModelRateLimitedError);
    expect(limited).toMatchObject({ code: ErrorCode.RateLimited, retryable: true, retryAfterMs: 2000 });
    expect(await failure(embedder().embed(['x']))).toMatchObject({ code: ErrorCode.DependencyUnavailable, retryable: true });
    expect(await failure(embedder().embed(['x']))).toMatchObject({ code: ErrorCode.ModelFailed, retryable: false });
  });

  it('fails non-retryably when the vectors do not have the configured dimension', async () => {
    server.enqueue({ kind: 'embedding', dimension: 8 });
    expect(await failure(embedder().embed(['x']))).toMatchObject({ code: ErrorCode.ConfigInvalid, retryable: false, message: 'text-embedding-test returned 8-dimensional embeddings, configured 4' });
  });

  it('times out a request that takes too long', async () => {
    server.enqueue({ kind: 'embedding', latencyMs: 500 });
    expect(await failure(embedder({ timeoutMs: 100 }).embed(['x']))).toMatchObject({ code: ErrorCode.Timeout, retryable: true });
  });

  it('rejects a dimension that is not a positive whole number', () => {
    expect(() => new OpenAiEmbedder({ apiKey: 'k', model: 'm', dimension: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }) as Error);
  });
});
