import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/*
 * A local OpenAI-compatible server for tests: POST /v1/chat/completions and POST /v1/embeddings
 * answer from a script, in the real response and SSE chunk formats, so the real `openai` client can be exercised without a
 * provider. Only specs import it (the folder is excluded from the build).
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: Record<string, unknown> | undefined;
}

interface Timing {
  /** Delay before the response starts. */
  latencyMs?: number;
  /** Streaming: delay between chunks. */
  chunkDelayMs?: number;
  /**
   * Streaming a text: before content chunk number `chunk` (0-based), wait until `until` settles — a
   * test holds the answer mid-stream while it does something (drops a client, starts a process).
   */
  pauseAt?: { chunk: number; until: Promise<unknown> };
}

export type ScriptedResponse =
  | (Timing & {
    kind: 'text';
    text: string;
    /** Streaming: how to split the text into content deltas (default: word-sized pieces). */
    chunks?: string[];
    finishReason?: string;
    usage?: { promptTokens: number; completionTokens: number };
  })
  | (Timing & {
    kind: 'tool';
    name: string;
    /** An object is JSON-encoded; a string is sent as is (so it can be invalid JSON). */
    arguments: string | Record<string, unknown>;
    text?: string;
    usage?: { promptTokens: number; completionTokens: number };
  })
  | (Timing & {
    kind: 'error';
    status: number;
    message?: string;
    /** Sent as the Retry-After header (seconds). */
    retryAfter?: string;
    headers?: Record<string, string>;
  })
  | (Timing & {
    /** Streaming: sends these deltas, then drops the connection without finishing. */
    kind: 'drop';
    chunks: string[];
  })
  | (Timing & {
    /**
     * POST /v1/embeddings: one vector per input — `vectors` when given (in order), else a
     * deterministic one of `dimension` (default 8) derived from the input text.
     */
    kind: 'embedding';
    dimension?: number;
    vectors?: number[][];
    /** Lists the data items last first (each still carries its `index`). */
    reversed?: boolean;
  });

export interface OpenAiTestServer {
  /** Base URL for the client, ending in `/v1`. */
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Queues responses, used one per request in order. */
  enqueue(...responses: ScriptedResponse[]): void;
  /** Answers requests when the queue is empty (default: HTTP 500 "no scripted response"). */
  script(responder: (request: RecordedRequest) => ScriptedResponse): void;
  close(): Promise<void>;
}

/** Scripted rate limiting, with the Retry-After a provider would send. */
export const rateLimited = (retryAfterSeconds?: number): ScriptedResponse => ({
  kind: 'error', status: 429, message: 'Rate limit reached', ...(retryAfterSeconds !== undefined ? { retryAfter: String(retryAfterSeconds) } : {}),
});
export const serverError = (status = 500): ScriptedResponse => ({ kind: 'error', status, message: 'The server had an error while processing your request.' });

export async function startOpenAiTestServer(): Promise<OpenAiTestServer> {
  const queue: ScriptedResponse[] = [];
  const requests: RecordedRequest[] = [];
  let responder: (request: RecordedRequest) => ScriptedResponse = () => ({ kind: 'error', status: 500, message: 'no scripted response' });
  let counter = 0;

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(err), type: 'server_error' } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
    requests.push(recorded);
    const embeddings = req.url === '/v1/embeddings';
    if (req.method !== 'POST' || (req.url !== '/v1/chat/completions' && !embeddings)) {
      sendJson(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } });
      return;
    }
    const scripted = queue.shift() ?? responder(recorded);
    if (scripted.latencyMs) await sleep(scripted.latencyMs);
    if (res.destroyed) return;
    if (scripted.kind !== 'error' && embeddings !== (scripted.kind === 'embedding')) {
      sendJson(res, 500, { error: { message: `scripted ${scripted.kind} response for ${req.url}`, type: 'server_error' } });
      return;
    }
    const model = typeof body?.['model'] === 'string' ? body['model'] : 'test-model';
    const id = `chatcmpl-test${++counter}`;
    const streaming = body?.['stream'] === true;
    const includeUsage = (body?.['stream_options'] as { include_usage?: boolean } | undefined)?.include_usage === true;

    switch (scripted.kind) {
      case 'error': {
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(scripted.headers ?? {}) };
        if (scripted.retryAfter !== undefined) headers['retry-after'] = scripted.retryAfter;
        const type = scripted.status === 429 ? 'rate_limit_error' : scripted.status >= 500 ? 'server_error' : 'invalid_request_error';
        res.writeHead(scripted.status, headers);
        res.end(JSON.stringify({ error: { message: scripted.message ?? `HTTP ${scripted.status}`, type, param: null, code: null } }));
        return;
      }
      case 'embedding':
        sendJson(res, 200, embeddingResponse(body, scripted));
        return;
      case 'text':
      case 'tool':
      case 'drop':
        if (streaming) await streamResponse(res, id, model, scripted, includeUsage);
        else sendJson(res, 200, completion(id, model, scripted));
        return;
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...responses) => {
      queue.push(...responses);
    },
    script: (r) => {
      responder = r;
    },
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    }),
  };
}

type ChatResponse = Exclude<ScriptedResponse, { kind: 'error' } | { kind: 'embedding' }>;

function embeddingResponse(body: Record<string, unknown> | undefined, r: Extract<ScriptedResponse, { kind: 'embedding' }>): Record<string, unknown> {
  const raw = body?.['input'];
  const inputs = Array.isArray(raw) ? raw.map(String) : [String(raw ?? '')];
  const dimension = r.dimension ?? 8;
  const data = inputs.map((text, index) => ({ object: 'embedding', index, embedding: r.vectors?.[index] ?? deterministicVector(text, dimension) }));
  const tokens = inputs.reduce((n, t) => n + t.split(/\s+/).filter(Boolean).length, 0);
  if (r.reversed) data.reverse();
  return { object: 'list', data, model: typeof body?.['model'] === 'string' ? body['model'] : 'test-embedding', usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

/** Values in [-1, 1) from the text's character codes: the same text always gets the same vector. */
export function deterministicVector(text: string, dimension: number): number[] {
  const v = new Array<number>(dimension).fill(0);
  for (let i = 0; i < text.length; i++) v[i % dimension] = ((v[i % dimension]! * 31 + text.charCodeAt(i)) % 1000);
  return v.map((x) => x / 500 - 1);
}

function completion(id: string, model: string, r: ChatResponse): Record<string, unknown> {
  const text = r.kind === 'drop' ? r.chunks.join('') : r.kind === 'text' ? r.text : (r.text ?? null);
  const toolCalls = r.kind === 'tool' ? [{ id: `call_${id}`, type: 'function', function: { name: r.name, arguments: argumentsText(r) } }] : undefined;
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{
      index: 0,
      message: { role: 'assistant', content: text, refusal: null, ...(toolCalls ? { tool_calls: toolCalls } : {}) },
      logprobs: null,
      finish_reason: r.kind === 'tool' ? 'tool_calls' : r.kind === 'text' ? (r.finishReason ?? 'stop') : 'stop',
    }],
    usage: usageOf(r, text ?? ''),
    system_fingerprint: null,
  };
}

async function streamResponse(res: ServerResponse, id: string, model: string, r: ChatResponse, includeUsage: boolean): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const created = Math.floor(Date.now() / 1000);
  const send = async (choices: unknown[], usage: unknown = null): Promise<void> => {
    if (r.chunkDelayMs) await sleep(r.chunkDelayMs);
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices, usage })}\n\n`);
  };
  const delta = (d: Record<string, unknown>, finish: string | null = null): unknown[] => [{ index: 0, delta: d, logprobs: null, finish_reason: finish }];

  await send(delta({ role: 'assistant', content: '', refusal: null }));
  if (r.kind === 'drop') {
    for (const c of r.chunks) await send(delta({ content: c }));
    res.destroy();
    return;
  }
  let text = '';
  if (r.kind === 'text') {
    text = r.text;
    const chunks = r.chunks ?? (r.text.match(/^\s+|\S+\s*/g) ?? []);
    for (const [i, c] of chunks.entries()) {
      if (r.pauseAt?.chunk === i) await r.pauseAt.until;
      await send(delta({ content: c }));
    }
    await send(delta({}, r.finishReason ?? 'stop'));
  } else {
    const args = argumentsText(r);
    await send(delta({ tool_calls: [{ index: 0, id: `call_${id}`, type: 'function', function: { name: r.name, arguments: '' } }] }));
    // Arguments arrive in fragments, as they do from real providers.
    for (let i = 0; i < args.length; i += 8) await send(delta({ tool_calls: [{ index: 0, function: { arguments: args.slice(i, i + 8) } }] }));
    await send(delta({}, 'tool_calls'));
    text = args;
  }
  if (includeUsage) {
    const u = usageOf(r, text);
    await send([], u);
  }
  res.write('data: [DONE]\n\n');
  res.end();
}

function argumentsText(r: { arguments: string | Record<string, unknown> }): string {
  return typeof r.arguments === 'string' ? r.arguments : JSON.stringify(r.arguments);
}

function usageOf(r: ScriptedResponse, text: string): Record<string, number> {
  const usage = 'usage' in r ? r.usage : undefined;
  const prompt = usage?.promptTokens ?? 10;
  const completionTokens = usage?.completionTokens ?? text.split(/\s+/).filter(Boolean).length;
  return { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Unreferenced, so a test that closes the server mid-delay does not keep Jest alive. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A provider failure mode for fault tests: rate limited (429), server error (500), or no answer in time. */
export type FailureMode = 'rate-limit' | 'server-error' | 'timeout';

/** The scripted response of a failure mode; `timeout` holds the response for `hangMs` (the caller's deadline should fire first). */
export function failureResponse(mode: FailureMode, hangMs = 45_000): ScriptedResponse {
  switch (mode) {
    case 'rate-limit':
      return rateLimited(1);
    case 'server-error':
      return serverError(500);
    case 'timeout':
      return { kind: 'error', status: 504, message: 'upstream timed out', latencyMs: hangMs };
  }
}

export interface FailureWindows {
  /** Pass to `OpenAiTestServer.script`: failing while a window is open, `healthy` otherwise. */
  responder: (request: RecordedRequest) => ScriptedResponse;
  /** Opens a window of `mode` for `durationMs` from now (closing any open one). */
  open(mode: FailureMode, durationMs: number): void;
  close(): void;
  /** The mode in force now, if any. */
  current(): FailureMode | undefined;
  /** Requests answered per mode ('healthy' included). */
  served: Record<FailureMode | 'healthy', number>;
}

/** Time-windowed failure modes over a healthy responder: a provider outage with a beginning and an end. */
export function failureWindows(healthy: (request: RecordedRequest) => ScriptedResponse, options: { hangMs?: number; now?: () => number } = {}): FailureWindows {
  const now = options.now ?? Date.now;
  let window: { mode: FailureMode; until: number } | undefined;
  const served: Record<FailureMode | 'healthy', number> = { 'rate-limit': 0, 'server-error': 0, timeout: 0, healthy: 0 };
  const current = (): FailureMode | undefined => (window && now() < window.until ? window.mode : undefined);
  return {
    served,
    current,
    open: (mode, durationMs) => {
      window = { mode, until: now() + durationMs };
    },
    close: () => {
      window = undefined;
    },
    responder: (request) => {
      const mode = current();
      served[mode ?? 'healthy'] += 1;
      return mode ? failureResponse(mode, options.hangMs) : healthy(request);
    },
  };
}
