import WebSocket from 'ws';

export type Frame = { type: string; [k: string]: unknown };

/** A WebSocket chat client speaking the gateway's protocol, for tests and benchmarks. */
export class ChatClient {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
  }

  static async connect(url: string): Promise<ChatClient> {
    const ws = new WebSocket(url);
    const client = new ChatClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await client.next((f) => f.type === 'welcome', 5000);
    return client;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The next frame (including already received ones after `from`) matching `match`. */
  next(match: (f: Frame) => boolean, timeoutMs = 30_000, from = 0): Promise<Frame> {
    const seen = this.frames.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({ match, resolve: (f) => { clearTimeout(timer); resolve(f); } });
    });
  }

  /** Asks a question and collects everything until its answer (or error) arrives. */
  async ask(question: string, opts: { requestId?: string; sessionId?: string; timeoutMs?: number } = {}): Promise<{ workflowId: string; requestId: string; tokens: Frame[]; steps: Frame[]; answer: Frame; ms: number }> {
    const from = this.frames.length;
    const started = Date.now();
    this.send({ type: 'ask', question, ...(opts.requestId ? { requestId: opts.requestId } : {}), ...(opts.sessionId ? { sessionId: opts.sessionId } : {}) });
    const accepted = await this.next((f) => f.type === 'accepted' || f.type === 'error', 10_000, from);
    if (accepted.type === 'error') throw new Error(`ask rejected: ${JSON.stringify(accepted)}`);
    const workflowId = accepted['workflowId'] as string;
    const answer = await this.next((f) => (f.type === 'answer' || f.type === 'error') && f['workflowId'] === workflowId, opts.timeoutMs ?? 60_000, from);
    const mine = this.frames.slice(from).filter((f) => f['workflowId'] === workflowId);
    return {
      workflowId, requestId: accepted['requestId'] as string, answer, ms: Date.now() - started,
      tokens: mine.filter((f) => f.type === 'token'), steps: mine.filter((f) => f.type === 'step'),
    };
  }

  close(): void {
    this.ws.close();
  }
}

/** Polls `GET /v1/workflows/:id` until `until` holds. */
export async function pollWorkflow(gatewayUrl: string, workflowId: string, until: (w: Record<string, unknown>) => boolean, timeoutMs = 30_000, tenant?: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const r = await fetch(`${gatewayUrl}/v1/workflows/${workflowId}`, { headers: tenant ? { 'x-tenant-id': tenant } : {} });
    if (r.status === 200) {
      const body = (await r.json()) as Record<string, unknown>;
      last = body;
      if (until(body)) return body;
    } else last = r.status;
    if (Date.now() > deadline) throw new Error(`workflow ${workflowId} did not reach the expected state: ${JSON.stringify(last).slice(0, 2000)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
