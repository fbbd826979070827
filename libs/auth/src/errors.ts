import { ErrorCode, FlotillaError } from '@flotilla/common';

/** Why a credential was not accepted (never shown in more detail than this to the client). */
export type UnauthenticatedReason = 'missing' | 'malformed' | 'invalid' | 'expired' | 'revoked' | 'unsupported';

/**
 * 401: no credential, or one that does not prove who the caller is. Never retryable with the same
 * credential. `reason` is safe to return to the client; `detail` is for logs only.
 */
export class Unauthenticated extends FlotillaError {
  readonly status = 401;
  constructor(readonly reason: UnauthenticatedReason, readonly detail?: string) {
    super(ErrorCode.ValidationFailed, `authentication required: credential ${reason}`, { retryable: false });
    this.name = 'Unauthenticated';
  }
}

/** 403: the caller is known, but may not do this (a role it lacks, another tenant, another user). */
export class Forbidden extends FlotillaError {
  readonly status = 403;
  constructor(message: string, readonly reason: 'role' | 'tenant' | 'user' = 'role') {
    super(ErrorCode.ValidationFailed, message, { retryable: false });
    this.name = 'Forbidden';
  }
}
