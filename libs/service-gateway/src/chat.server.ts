import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger, FieldError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { validateData, WorkflowEvent } from '@flotilla/contracts';
import { CONFIG } from '@flotilla/platform';
import { Admission, TenantOverBudget } from './admission';
import { AskFrame } from './dto';
import { LiveUpdate, LiveUpdates } from './live-updates';
import { Submissions } from './submissions';
import { DEFAULT_TENANT } from './workflows.controller';

export const CHAT_PATH = '/v1/chat';
export const CHAT_PROTOCOL = 'flotilla.chat.v1';

const log = createLogger({ service: 'gateway', component: 'chat' });

type ServerFrame =
  | { type: 'welcome'; protocol: string; tenantId: string }
  | { type: 'accepted'; requestId: string; workflowId: string }
  | { type: 'step'; workflowId: string; stepId: string; kind?: string; status: 'scheduled' | 'completed' | 'failed'; attempt: number }
  | { type: 'token'; workflowId: string; seq: number; text: string }
  | { type: 'revision'; workflowId: string; revision: number; reasons: string[] }
  | { type: 'answer'; workflowId: string; requestId: string; text: string; sources: unknown[]; validated: boolean; model?: unknown }
  | { type: 'error'; code: string; message: string; fields?: FieldError[]; requestId?: string; workflowId?: string }
  | { type: 'pong' };

/**
 * The chat edge: WebSocket at /v1/chat. A client sends `ask` frames and receives `accepted`, `step`,
 * `token` and finally `answer` (or `error`) for each. A malformed or invalid frame gets an `error`
 * frame saying why, and the connection stays open.
 */
@Injectable()
export class ChatServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private wss?: WebSocketServer;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly submissions: Submissions,
    private readonly live: LiveUpdates,
    private readonly admission: Admission,
    @Inject(CONFIG) private readonly config: FlotillaConfig,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    // ws enforces a hard cap; frames between our limit and it get a polite error frame instead.
    this.wss = new WebSocketServer({ server, path: CHAT_PATH, maxPayload: this.config.MAX_REQUEST_BYTES * 4 });
    this.wss.on('connection', (socket, req) => this.onConnection(socket, req));
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.wss) return;
    for (const client of this.wss.clients) client.close(1001, 'server shutting down');
    await new Promise<void>((resolve) => this.wss!.close(() => resolve()));
  }

  private onConnection(socket: WebSocket, req: IncomingMessage): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const tenant = url.searchParams.get('tenant') ?? DEFAULT_TENANT;
    const send = (frame: ServerFrame): void => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    };
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(tenant)) {
      send({ type: 'error', code: 'INVALID_TENANT', message: 'tenant must be 1-128 characters of letters, digits, _ . : -' });
      socket.close(1008, 'invalid tenant');
      return;
    }
    const unwatch: (() => void)[] = [];
    socket.on('close', () => unwatch.forEach((u) => u()));
    socket.on('error', (err) => log.warn('socket error', { err }));
    send({ type: 'welcome', protocol: CHAT_PROTOCOL, tenantId: tenant });

    socket.on('message', (data, isBinary) => {
      const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
      if (size > this.config.MAX_REQUEST_BYTES) {
        send({ type: 'error', code: 'PAYLOAD_TOO_LARGE', message: `frame of ${size} bytes exceeds ${this.config.MAX_REQUEST_BYTES}` });
        return;
      }
      if (isBinary) {
        send({ type: 'error', code: 'INVALID_FRAME', message: 'frames must be JSON text' });
        return;
      }
      let frame: unknown;
      try {
        frame = JSON.parse(String(data));
      } catch (err) {
        send({ type: 'error', code: 'INVALID_JSON', message: `malformed JSON: ${(err as Error).message}` });
        return;
      }
      const type = typeof frame === 'object' && frame !== null ? (frame as { type?: unknown }).type : undefined;
      if (type === 'ping') {
        send({ type: 'pong' });
        return;
      }
      if (type !== 'ask') {
        send({ type: 'error', code: 'UNKNOWN_FRAME', message: `unknown frame type ${JSON.stringify(type)}; expected "ask" or "ping"` });
        return;
      }
      let checked: ReturnType<typeof validateData<AskFrame>>;
      try {
        checked = validateData(AskFrame, frame);
      } catch (err) {
        // A frame must never take the process down: whatever the validator chokes on is invalid.
        log.warn('ask frame could not be validated', { err });
        send({ type: 'error', code: 'VALIDATION_FAILED', message: 'invalid ask frame' });
        return;
      }
      if (!checked.ok) {
        send({ type: 'error', code: 'VALIDATION_FAILED', message: 'invalid ask frame', fields: checked.fields });
        return;
      }
      void this.ask(checked.value, tenant, send, unwatch).catch((err: unknown) => {
        if (err instanceof TenantOverBudget) {
          send({ type: 'error', code: 'TENANT_TOKEN_BUDGET', message: err.message, requestId: checked.value.requestId });
          return;
        }
        log.error('ask failed', { err });
        send({ type: 'error', code: 'UNAVAILABLE', message: 'the request could not be accepted; try again', requestId: checked.value.requestId });
      });
    });
  }

  private async ask(frame: AskFrame, tenantId: string, send: (f: ServerFrame) => void, unwatch: (() => void)[]): Promise<void> {
    await this.admission.admit(tenantId);
    const requestId = frame.requestId;
    // Watch before submitting so no update can be missed.
    const provisional = requestId ? this.submissions.workflowIdOf(tenantId, requestId) : undefined;
    let stop: (() => void) | undefined;
    const streams = new Map<string, number>();
    let timer: NodeJS.Timeout | undefined = undefined;
    const finish = (): void => {
      stop?.();
      if (timer) clearTimeout(timer);
    };
    // Tokens and events travel on different topics, so the final event can overtake the last
    // tokens: the answer is held until every token the composer reported streaming was forwarded.
    let composed: { taskId: string; tokens: number } | undefined;
    let held: ServerFrame | undefined;
    let holdTimer: NodeJS.Timeout | undefined;
    const release = (): void => {
      if (!held) return;
      send(held);
      held = undefined;
      if (holdTimer) clearTimeout(holdTimer);
      finish();
    };
    const streamedAll = (): boolean => !composed || (streams.get(composed.taskId) ?? 0) >= composed.tokens;
    const onUpdate = (workflowId: string, rid: () => string) => (update: LiveUpdate): void => {
      if (update.kind === 'token') {
        const t = update.token.data;
        const next = streams.get(t.taskId) ?? 0;
        if (t.seq !== next) return; // a redelivered (or, after a retried compose, superseded) token
        streams.set(t.taskId, t.seq + 1);
        send({ type: 'token', workflowId, seq: t.seq, text: t.text });
        if (held && streamedAll()) release();
        return;
      }
      const event = update.event;
      if (event.type === 'StepCompleted' && typeof event.data.output['streamedTokens'] === 'number') {
        composed = { taskId: event.data.taskId, tokens: event.data.output['streamedTokens'] };
      }
      const frame = this.frameFor(event, workflowId, rid());
      if (event.type === 'WorkflowCompleted' || event.type === 'WorkflowFailed') {
        held = frame;
        if (streamedAll()) release();
        else holdTimer = setTimeout(release, 5000);
        return;
      }
      if (frame) send(frame);
    };
    if (provisional) {
      stop = this.live.watch(provisional, onUpdate(provisional, () => requestId!));
      unwatch.push(() => stop?.());
    }
    const accepted = await this.submissions.submit({ tenantId, question: frame.question, requestId, sessionId: frame.sessionId, userId: frame.userId, channel: 'chat' });
    if (!provisional) {
      const wf = accepted.workflowId;
      const rid = accepted.requestId;
      stop = this.live.watch(wf, onUpdate(wf, () => rid));
      unwatch.push(() => stop?.());
    }
    send({ type: 'accepted', requestId: accepted.requestId, workflowId: accepted.workflowId });
    timer = setTimeout(() => {
      send({ type: 'error', code: 'TIMEOUT', message: `no answer within ${this.config.WORKFLOW_TIMEOUT_MS} ms; the workflow continues — GET /v1/workflows/${accepted.workflowId}`, workflowId: accepted.workflowId, requestId: accepted.requestId });
      finish();
    }, this.config.WORKFLOW_TIMEOUT_MS);
    timer.unref();
  }

  private frameFor(event: WorkflowEvent, workflowId: string, requestId: string): ServerFrame | undefined {
    switch (event.type) {
      case 'StepScheduled':
        return { type: 'step', workflowId, stepId: event.data.stepId, kind: event.data.kind, status: 'scheduled', attempt: event.data.attempt };
      case 'StepCompleted':
        return { type: 'step', workflowId, stepId: event.data.stepId, status: 'completed', attempt: event.data.attempt };
      case 'StepFailed':
        return { type: 'step', workflowId, stepId: event.data.stepId, status: 'failed', attempt: event.data.attempt };
      case 'WorkflowCompleted':
        return { type: 'answer', workflowId, requestId, text: event.data.answer, sources: event.data.sources, validated: event.data.validated, model: event.data.model };
      case 'WorkflowFailed':
        return { type: 'error', code: event.data.code, message: event.data.reason, workflowId, requestId };
      case 'AnswerRevisionRequested':
        // The text streamed so far was rejected by the validator; a revised answer follows.
        return { type: 'revision', workflowId, revision: event.data.revision, reasons: event.data.reasons };
      case 'WorkflowStarted':
      case 'PlanAccepted':
        return undefined;
    }
  }
}
