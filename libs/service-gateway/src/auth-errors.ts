import { HttpException, HttpStatus, ServiceUnavailableException } from '@nestjs/common';
import { Forbidden, Unauthenticated } from '@flotilla/auth';
import { ErrorCode, FlotillaError } from '@flotilla/common';

/** The `WWW-Authenticate` challenge of a 401 (RFC 6750 for Bearer; ApiKey for keys). */
export function challenge(err?: Unauthenticated): string {
  const bearer = err && err.reason !== 'missing'
    ? `Bearer realm="flotilla", error="invalid_token", error_description="credential ${err.reason}"`
    : 'Bearer realm="flotilla"';
  return `${bearer}, ApiKey realm="flotilla"`;
}

export class UnauthorizedError extends HttpException {
  constructor(readonly credential: Unauthenticated) {
    super({ statusCode: 401, error: 'Unauthorized', code: 'UNAUTHENTICATED', reason: credential.reason, message: credential.message }, HttpStatus.UNAUTHORIZED);
  }
}

export class ForbiddenError extends HttpException {
  constructor(message: string, reason: string) {
    super({ statusCode: 403, error: 'Forbidden', code: 'FORBIDDEN', reason, message }, HttpStatus.FORBIDDEN);
  }
}

/** An authentication failure as the HTTP error it is (401, 403, or 503 when the identity provider is unreachable); other errors unchanged. */
export function toHttpError(err: unknown): unknown {
  if (err instanceof Unauthenticated) return new UnauthorizedError(err);
  if (err instanceof Forbidden) return new ForbiddenError(err.message, err.reason);
  if (err instanceof FlotillaError && err.code === ErrorCode.DependencyUnavailable) {
    return new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: 'credentials cannot be checked right now; try again' });
  }
  return err;
}
