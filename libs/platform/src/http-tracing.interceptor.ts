import { CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { from, lastValueFrom, Observable } from 'rxjs';
import { withRemoteParent, withSpan } from '@flotilla/telemetry';

/** Probes are polled every few seconds by every orchestrator; a span each would drown the traces. */
const UNTRACED = new Set(['/healthz', '/readyz']);

interface HttpRequestLike {
  method: string;
  protocol?: string;
  route?: { path?: string };
  headers: Record<string, string | string[] | undefined>;
}

const header = (req: HttpRequestLike, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/**
 * A SERVER span per REST request (docs/adr/0011), named by method and route template
 * (`POST /v1/workflows`, `GET /v1/workflows/:id`) — never the raw path or query, which can hold
 * what a user typed or an access token. It continues the caller's `traceparent` when one is sent,
 * and is the active span while the handler runs, so the SubmitRequest the handler publishes — and
 * the whole workflow after it — belongs to this trace. 4xx answers are not span errors. Installed
 * on every service by `bootstrap`; it runs after the guards, so a request refused by
 * authentication (401/403) has no span.
 */
@Injectable()
export class HttpTracingInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const req = http.getRequest<HttpRequestLike>();
    const res = http.getResponse<{ statusCode: number }>();
    const route = req.route?.path ?? 'unknown';
    if (UNTRACED.has(route)) return next.handle();
    const declared = Reflect.getMetadata(HTTP_CODE_METADATA, context.getHandler()) as number | undefined;
    return from(withRemoteParent(header(req, 'traceparent'), () => withSpan(`${req.method} ${route}`, {
      'http.request.method': req.method,
      'http.route': route,
      'url.scheme': req.protocol,
      // Free-form, so it may name a person (`bot/1.0 (+mailto:…)`): redacted on export like every attribute.
      'user_agent.original': header(req, 'user-agent'),
    }, async (span) => {
      try {
        const result = await lastValueFrom(next.handle(), { defaultValue: undefined });
        span.setAttribute('http.response.status_code', res.statusCode !== 200 ? res.statusCode : declared ?? (req.method === 'POST' ? 201 : 200));
        return result;
      } catch (err) {
        const status = err instanceof HttpException ? err.getStatus() : 500;
        span.setAttribute('http.response.status_code', status);
        if (status < 500) span.setAttribute('error.type', String(status));
        throw err;
      }
    }, { kind: 'server', expected: (err) => err instanceof HttpException && err.getStatus() < 500 }), header(req, 'tracestate')));
  }
}
