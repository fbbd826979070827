import * as http from 'node:http';
import * as https from 'node:https';
import { ErrorCode, FlotillaError } from '@flotilla/common';
import { alwaysClosedBreaker, CircuitBreaker, CircuitStatus } from './breaker';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpConnectorOptions {
  /** e.g. `http://127.0.0.1:8090`; a path prefix is kept (`http://host/api` + `/orders/1`). */
  baseUrl: string;
  /** Names the dependency in errors and for the circuit breaker; defaults to the base URL's host. */
  integration?: string;
  /** Pooled sockets per host. */
  maxSockets?: number;
  /** Used when a request gives neither `timeoutMs` nor a signal. */
  defaultTimeoutMs?: number;
  maxResponseBytes?: number;
  /** Guards the integration; defaults to none (every call goes through). */
  circuitBreaker?: CircuitBreaker;
}

export interface HttpRequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Cancels the request (the tool's overall deadline); its reason becomes the error when it is a FlotillaError. */
  signal?: AbortSignal;
  /** This request's own timeout, on top of `signal`. */
  timeoutMs?: number;
}

/** A successful answer, or a 404: not found is a fact the tool interprets, not a failure. */
export interface HttpResult<T = unknown> {
  status: number;
  body: T;
}

function describe(body: unknown): string {
  if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>;
    const parts = [b['error'], b['reason'] ?? b['message']].filter((p): p is string => typeof p === 'string');
    if (parts.length) return parts.join(': ');
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * JSON over pooled keep-alive HTTP for one integration, mapping every outcome to what the caller can
 * do about it: 2xx and 404 are returned; 408/504 and timeouts are retryable `Timeout`; 429 is
 * retryable `RateLimited`; other 5xx and network failures are retryable `DependencyUnavailable`;
 * any other status is a non-retryable `ToolFailed`. Retrying is the caller's decision (the registry's
 * retry policy); the connector makes exactly one attempt.
 */
export class HttpConnector {
  readonly integration: string;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly defaultTimeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly breaker: CircuitBreaker;

  constructor(options: HttpConnectorOptions) {
    this.base = new URL(options.baseUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new FlotillaError(ErrorCode.ConfigInvalid, `unsupported protocol in ${options.baseUrl}`, { retryable: false });
    }
    this.integration = options.integration ?? this.base.host;
    this.transport = this.base.protocol === 'https:' ? https : http;
    // Idle sockets are dropped after 4 s, before a Node server's default 5 s keep-alive timeout can
    // close one under a request we are about to send (which would surface as ECONNRESET).
    const agentOptions: http.AgentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16, maxFreeSockets: options.maxSockets ?? 16, scheduling: 'lifo', timeout: 4_000 };
    this.agent = this.base.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 10_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
    this.breaker = options.circuitBreaker ?? alwaysClosedBreaker;
  }

  get<T = unknown>(path: string, options: Omit<HttpRequestOptions, 'body'> = {}): Promise<HttpResult<T>> {
    return this.request<T>('GET', path, options);
  }

  post<T = unknown>(path: string, body: unknown, options: Omit<HttpRequestOptions, 'body'> = {}): Promise<HttpResult<T>> {
    return this.request<T>('POST', path, { ...options, body });
  }

  /**
   * One attempt through the circuit breaker; resolves for 2xx and 404, throws a FlotillaError for
   * everything else — a `CircuitOpenError` without any request while the integration's circuit is open.
   */
  async request<T = unknown>(method: HttpMethod, path: string, options: HttpRequestOptions = {}): Promise<HttpResult<T>> {
    const url = new URL(this.base.pathname.replace(/\/$/, '') + path, this.base);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const label = `${this.integration} ${method} ${url.pathname}`;
    const result = await this.breaker.execute(this.integration, () => this.attempt(method, url, options, label));
    return result as HttpResult<T>;
  }

  /** The integration this connector calls, where, and the state of its circuit. */
  status(): { integration: string; baseUrl: string; circuit: CircuitStatus } {
    return { integration: this.integration, baseUrl: this.base.toString(), circuit: this.breaker.status(this.integration) };
  }

  /** Closes pooled sockets. */
  close(): void {
    this.agent.destroy();
  }

  private async attempt(method: HttpMethod, url: URL, options: HttpRequestOptions, label: string): Promise<HttpResult> {
    // The timeout starts with the attempt, not before a breaker decided to let it through.
    const timeoutMs = options.timeoutMs ?? (options.signal ? undefined : this.defaultTimeoutMs);
    const timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
    const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
    try {
      return await this.send(method, url, options, signal, label, timeoutMs);
    } catch (err) {
      throw FlotillaError.from(err);
    }
  }

  private send(method: HttpMethod, url: URL, options: HttpRequestOptions, signal: AbortSignal, label: string, timeoutMs: number | undefined): Promise<HttpResult> {
    const aborted = (): FlotillaError => {
      const reason: unknown = signal.reason;
      if (reason instanceof FlotillaError) return reason;
      // By name, not instanceof: AbortSignal.timeout's DOMException may come from another realm.
      if (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError') {
        return new FlotillaError(ErrorCode.Timeout, `${label} timed out after ${timeoutMs ?? '?'} ms`, { cause: reason });
      }
      return new FlotillaError(ErrorCode.ToolFailed, `${label} was cancelled`, { retryable: false, cause: reason });
    };
    if (signal.aborted) return Promise.reject(aborted());

    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string | number> = { accept: 'application/json', ...options.headers };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }

    return new Promise<HttpResult>((resolve, reject) => {
      const req = this.transport.request(url, { method, headers, agent: this.agent, signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxResponseBytes) {
            req.destroy();
            reject(new FlotillaError(ErrorCode.ToolFailed, `${label} answered more than ${this.maxResponseBytes} bytes`, { retryable: false }));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => reject(signal.aborted ? aborted() : new FlotillaError(ErrorCode.DependencyUnavailable, `${label} broke off its response: ${err.message}`, { cause: err })));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = null;
          if (text !== '') {
            try {
              body = JSON.parse(text) as unknown;
            } catch {
              body = text;
              if ((status >= 200 && status < 300) || status === 404) {
                reject(new FlotillaError(ErrorCode.ToolFailed, `${label} answered ${status} with a body that is not JSON`, { retryable: false }));
                return;
              }
            }
          }
          try {
            resolve(this.interpret(status, body, label));
          } catch (err) {
            reject(err);
          }
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (signal.aborted) reject(aborted());
        else reject(new FlotillaError(ErrorCode.DependencyUnavailable, `${label} failed: ${err.code ?? err.message}`, { cause: err }));
      });
      req.end(payload);
    });
  }

  private interpret(status: number, body: unknown, label: string): HttpResult {
    if ((status >= 200 && status < 300) || status === 404) return { status, body };
    const detail = `${label} answered ${status}${body === null ? '' : ` (${describe(body)})`}`;
    const cause = Object.assign(new Error(detail), { status, body });
    if (status === 429) return this.fail(ErrorCode.RateLimited, detail, cause);
    if (status === 408 || status === 504) return this.fail(ErrorCode.Timeout, detail, cause);
    if (status >= 500) return this.fail(ErrorCode.DependencyUnavailable, detail, cause);
    throw new FlotillaError(ErrorCode.ToolFailed, detail, { retryable: false, cause });
  }

  private fail(code: ErrorCode, message: string, cause: Error): never {
    throw new FlotillaError(code, message, { retryable: true, cause });
  }
}
