import { BeforeApplicationShutdown, HttpException, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger, FieldError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { CONFIG, withServerSpan } from '@flotilla/platform';
import { Authenticator, credentialFrom, Principal, Unauthenticated } from '@flotilla/auth';
import { Admission, TenantOverBudget } from './admission';
import { asActor } from './actor-context';
import { AUTHENTICATOR } from './auth.tokens';
import { FrameRateLimiter, RateLimited, RateLimiter } from './rate-limiter';
import { authenticateUpgrade, selectProtocol, upgradeCredential } from './ws-auth';
import { actingUser } from './workflows.controller';
import { AskFrame, ConfirmFrame } from './dto';
import { checkFrame } from './frame-check';
import { ConfirmationRefused, Confirmations } from './confirmations';
import { LiveUpdates } from './live-updates';
import { AnswerStream, resumeStream, StreamServerFrame } from './stream-resume';
import { Submissions } from './submissions';
import { DEFAULT_TENANT } from './workflows.controller';

export const CHAT_PATH = '/v1/chat';
export const CHAT_PROTOCOL = 'flotilla.chat.v1';
/** Close code of a connection whose credential expired (4000-4999: application codes; 4401 reads as "401"). */
export const CREDENTIAL_EXPIRED = 4401;

const log = createLogger({ service: 'gateway', component: 'chat' });

type ServerFrame =
  | { type: 'welcome'; protocol: string; tenantId: string }
  | { type: 'accepted'; requestId: string; workflowId: string }
  /** A `confirm` frame was passed on: the stream goes on with the step (approve) or the final answer (decline). */
  | { type: 'confirming'; workflowId: string; stepId: string; approve: boolean; summary: string }
  // step, token, revision, answer, resumed (stream-resume.ts)
  | StreamServerFrame
  | { type: 'error'; code: string; message: string; fields?: FieldError[]; requestId?: string; workflowId?: string; retryAfterSeconds?: number }
  | { type: 'pong' };

/**
 * The chat edge: WebSocket at /v1/chat. A client sends `ask` frames and receives `accepted`, `step`,
 * `token` and finally `answer` (or `error`) for each; a client that reconnected sends `resume` with
 * the last cursor it got and receives the rest (stream-resume.ts). A malformed or invalid frame gets
 * an `error` frame saying why, and the connection stays open.
 */
@Injectable()
export class ChatServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private wss?: WebSocketServer;
  /** The principal each upgrade request authenticated as, until its connection opens. */
  private readonly principals = new WeakMap<IncomingMessage, Principal>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly submissions: Submissions,
    private readonly live: LiveUpdates,
    private readonly admission: Admission,
    @Inject(CONFIG) private readonly config: FlotillaConfig,
    @Inject(AUTHENTICATOR) private readonly auth: Authenticator,
    private readonly limits: RateLimiter,
    private readonly confirmations: Confirmations,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    // ws enforces a hard cap; frames between our limit and it get a polite error frame instead.
    // The credential is checked at upgrade (ws-auth.ts): a refused client gets an HTTP 401/403, never a socket.
    this.wss = new WebSocketServer({
      server, path: CHAT_PATH, maxPayload: this.config.MAX_REQUEST_BYTES * 4,
      handleProtocols: (protocols) => selectProtocol(protocols, CHAT_PROTOCOL),
      verifyClient: (info, done) => {
        void authenticateUpgrade(this.auth, info.req).then((d) => {
          if (!d.ok) return done(false, d.status, d.message, d.headers);
          this.principals.set(info.req, d.principal);
          done(true);
        });
      },
    });
    this.wss.on('connection', (socket, req) => this.onConnection(socket, req));
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.wss) return;
    for (const client of this.wss.clients) client.close(1001, 'server shutting down');
    await new Promise<void>((resolve) => this.wss!.close(() => resolve()));
  }

  private onConnection(socket: WebSocket, req: IncomingMessage): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const principal = this.principals.get(req);
    if (!principal) {
      socket.close(1011, 'not authenticated');
      return;
    }
    this.principals.delete(req);
    // The credential's tenant; only an anonymous development connection (AUTH_REQUIRED off) names one.
    const tenant = principal.via === 'anonymous' ? (url.searchParams.get('tenant') ?? DEFAULT_TENANT) : principal.tenantId;
    const frames = new FrameRateLimiter(this.config.WS_MESSAGES_PER_SECOND, this.config.WS_MESSAGE_BURST);
    // A connection lives no longer than its credential: when the JWT (or API key) expires (plus the
    // clock tolerance the token was checked with), it is closed with 4401, and the client reconnects
    // with a fresh one (and `resume`s its streams).
    const validMs = principal.expiresAt === undefined ? undefined : principal.expiresAt + this.config.AUTH_CLOCK_TOLERANCE_SECONDS * 1000 - Date.now();
    if (validMs !== undefined && validMs < 2 ** 31 - 1) {
      const expiry = setTimeout(() => socket.close(CREDENTIAL_EXPIRED, 'credential expired'), Math.max(0, validMs));
      socket.once('close', () => clearTimeout(expiry));
    }
    const send = (frame: ServerFrame): void => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    };
    const keyStillValid = this.watchApiKey(principal, req, socket, send);
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
      const allowed = frames.take();
      if (!allowed.ok) {
        send({ type: 'error', code: 'RATE_LIMITED', message: `more than ${this.config.WS_MESSAGES_PER_SECOND} frames per second; this frame was dropped`, retryAfterSeconds: allowed.retryAfterSeconds });
        return;
      }
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
      if (type === 'resume') {
        resumeStream(this.live, frame, tenant, send, unwatch, this.config.WORKFLOW_TIMEOUT_MS);
        return;
      }
      if (type === 'confirm') {
        void keyStillValid().then((valid) => {
          if (valid) this.confirm(principal, frame, tenant, send);
        });
        return;
      }
      if (type !== 'ask') {
        send({ type: 'error', code: 'UNKNOWN_FRAME', message: `unknown frame type ${JSON.stringify(type)}; expected "ask", "confirm", "resume" or "ping"` });
        return;
      }
      const ask = checkFrame(AskFrame, frame, 'ask', send);
      if (!ask) return;
      // One trace per question (docs/adr/0011): the workflow the ask starts runs under this span.
      void keyStillValid().then(async (valid) => {
        if (valid) await withServerSpan('chat ask', { 'flotilla.tenant.id': tenant, 'flotilla.channel': 'chat', 'network.protocol.name': 'websocket', 'user_agent.original': req.headers['user-agent'] }, () => this.askAs(principal, ask, tenant, send, unwatch));
      }).catch((err: unknown) => {
        if (err instanceof TenantOverBudget) {
          send({ type: 'error', code: 'TENANT_TOKEN_BUDGET', message: err.message, requestId: ask.requestId });
          return;
        }
        log.error('ask failed', { err });
        send({ type: 'error', code: 'UNAVAILABLE', message: 'the request could not be accepted; try again', requestId: ask.requestId });
      });
    });
  }

  /**
   * A connection opened with an API key lives no longer than the key: before each ask or confirm, and
   * every AUTH_API_KEY_CACHE_MS (at least 5 s) while idle, the key is verified again (through the
   * authenticator's short cache, so a revocation on any replica is seen within that time). A revoked
   * or expired key gets an UNAUTHENTICATED error frame and the socket is closed with 4401; its
   * in-flight workflows go on and can be resumed with a valid credential. If the key store cannot be
   * reached the connection is kept: an outage of the store must not drop every chat.
   * Returns the check to run before a frame is acted on (always true for other credentials).
   */
  private watchApiKey(principal: Principal, req: IncomingMessage, socket: WebSocket, send: (f: ServerFrame) => void): () => Promise<boolean> {
    const token = principal.via === 'api-key' ? (upgradeCredential(req) ?? credentialFrom(req.headers))?.token : undefined;
    if (token === undefined) return () => Promise.resolve(true);
    const check = async (): Promise<boolean> => {
      try {
        await this.auth.verifyApiKey(token);
        return true;
      } catch (err) {
        if (!(err instanceof Unauthenticated)) {
          log.warn('API key of an open chat connection could not be re-checked; keeping it', { keyId: principal.keyId, err });
          return true;
        }
        log.info('chat connection closed: its API key is no longer valid', { keyId: principal.keyId, reason: err.reason });
        send({ type: 'error', code: 'UNAUTHENTICATED', message: `the connection's API key is no longer valid (${err.reason}); reconnect with a valid credential` });
        socket.close(CREDENTIAL_EXPIRED, 'credential revoked');
        return false;
      }
    };
    const every = setInterval(() => void check(), Math.max(5_000, this.config.AUTH_API_KEY_CACHE_MS));
    every.unref();
    socket.once('close', () => clearInterval(every));
    return check;
  }

  /**
   * A `confirm` frame: the user's answer to a `confirmation` question, passed on as the REST confirm
   * API does it (Confirmations). A refused answer gets an error frame — NOT_FOUND,
   * NOT_AWAITING_CONFIRMATION or ALREADY_ANSWERED — and the connection stays open.
   */
  private confirm(principal: Principal, raw: unknown, tenantId: string, send: (f: ServerFrame) => void): void {
    const checked = checkFrame(ConfirmFrame, raw, 'confirm', send);
    if (!checked) return;
    const { workflowId, approve } = checked;
    this.confirmations.answer(principal, tenantId, workflowId, approve).then(
      (accepted) => send({ type: 'confirming', workflowId, stepId: accepted.stepId, approve, summary: accepted.summary }),
      (err: unknown) => {
        if (err instanceof ConfirmationRefused) {
          send({ type: 'error', code: err.code, message: err.message, workflowId });
          return;
        }
        log.error('confirm failed', { workflowId, err });
        send({ type: 'error', code: 'UNAVAILABLE', message: 'the answer could not be passed on; send it again', workflowId });
      },
    );
  }

  /**
   * An ask as the connection's principal: a signed-in user asks only as themself (a frame naming
   * another user gets a FORBIDDEN error frame), and the per-user and per-tenant rate limits apply
   * (RATE_LIMITED with retryAfterSeconds). The connection stays open either way.
   */
  private async askAs(principal: Principal, frame: AskFrame, tenantId: string, send: (f: ServerFrame) => void, unwatch: (() => void)[]): Promise<void> {
    let userId: string | undefined;
    try {
      userId = actingUser(principal, frame.userId);
      await this.limits.admit({ ...principal, tenantId }, userId);
    } catch (err) {
      if (err instanceof RateLimited) {
        send({ type: 'error', code: 'RATE_LIMITED', message: `more than ${err.limit} questions per minute for this ${err.scope}`, retryAfterSeconds: err.retryAfterSeconds, requestId: frame.requestId });
        return;
      }
      if (err instanceof HttpException && err.getStatus() === 403) {
        send({ type: 'error', code: 'FORBIDDEN', message: 'a signed-in user can only ask as themself', requestId: frame.requestId });
        return;
      }
      throw err;
    }
    // The audit records this submission as the principal's (the ask path is not handed it).
    return asActor(principal.subject, () => this.ask({ ...frame, userId }, tenantId, send, unwatch));
  }

  private async ask(frame: AskFrame, tenantId: string, send: (f: ServerFrame) => void, unwatch: (() => void)[]): Promise<void> {
    await this.admission.admit(tenantId);
    const requestId = frame.requestId;
    // Watch before submitting so no update can be missed; the answer stream (stream-resume.ts) merges
    // live updates with the read model, so whatever went by before the watch is still sent, in order.
    const provisional = requestId ? this.submissions.workflowIdOf(tenantId, requestId) : undefined;
    const follow = (workflowId: string, rid: string): AnswerStream => {
      const stream = new AnswerStream(this.live, { workflowId, tenantId, requestId: rid, send, timeoutMs: this.config.WORKFLOW_TIMEOUT_MS });
      unwatch.push(() => stream.stop());
      return stream;
    };
    const early = provisional ? follow(provisional, requestId!) : undefined;
    let accepted: { workflowId: string; requestId: string };
    try {
      accepted = await this.submissions.submit({ tenantId, question: frame.question, requestId, sessionId: frame.sessionId, userId: frame.userId, channel: 'chat' });
    } catch (err) {
      early?.stop();
      throw err;
    }
    const stream = early ?? follow(accepted.workflowId, accepted.requestId);
    send({ type: 'accepted', requestId: accepted.requestId, workflowId: accepted.workflowId });
    await stream.start().catch((err: unknown) => {
      log.error('answer stream failed', { workflowId: accepted.workflowId, err });
      send({ type: 'error', code: 'UNAVAILABLE', message: `the answer could not be streamed; resume it or GET /v1/workflows/${accepted.workflowId}`, workflowId: accepted.workflowId, requestId: accepted.requestId });
    });
  }
}
