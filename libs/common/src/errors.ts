/**
 * Every failure in Flotilla says whether retrying can help (KafkaJS `KafkaJSError.retriable`,
 * Temporal `ApplicationFailure.nonRetryable`). Consumers route retryable errors to the retry path
 * and everything else straight to the dead-letter topic.
 */
export enum ErrorCode {
  InvalidMessage = 'INVALID_MESSAGE',
  UnknownMessageType = 'UNKNOWN_MESSAGE_TYPE',
  ValidationFailed = 'VALIDATION_FAILED',
  NotFound = 'NOT_FOUND',
  Conflict = 'CONFLICT',
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  DependencyUnavailable = 'DEPENDENCY_UNAVAILABLE',
  Timeout = 'TIMEOUT',
  /** A workflow step attempt did not report within its time. */
  StepTimeout = 'STEP_TIMEOUT',
  RateLimited = 'RATE_LIMITED',
  ToolFailed = 'TOOL_FAILED',
  ModelFailed = 'MODEL_FAILED',
  ConfigInvalid = 'CONFIG_INVALID',
  Internal = 'INTERNAL',
}

/** Whether an error of this code may succeed when tried again. Exhaustive by construction. */
export function isRetryableCode(code: ErrorCode): boolean {
  switch (code) {
    case ErrorCode.DependencyUnavailable:
    case ErrorCode.Timeout:
    case ErrorCode.StepTimeout:
    case ErrorCode.RateLimited:
    case ErrorCode.Internal:
      return true;
    case ErrorCode.InvalidMessage:
    case ErrorCode.UnknownMessageType:
    case ErrorCode.ValidationFailed:
    case ErrorCode.NotFound:
    case ErrorCode.Conflict:
    case ErrorCode.PayloadTooLarge:
    case ErrorCode.ToolFailed:
    case ErrorCode.ModelFailed:
    case ErrorCode.ConfigInvalid:
      return false;
  }
}

export interface FieldError {
  field: string;
  reasons: string[];
}

/** The one error type Flotilla code throws on purpose. */
export class FlotillaError extends Error {
  readonly retryable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown; fields?: FieldError[] } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'FlotillaError';
    this.retryable = options.retryable ?? isRetryableCode(code);
    this.fields = options.fields ?? [];
  }

  readonly fields: FieldError[];

  static from(err: unknown): FlotillaError {
    if (err instanceof FlotillaError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new FlotillaError(ErrorCode.Internal, message, { cause: err });
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean; fields?: FieldError[] } {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.fields.length ? { fields: this.fields } : {}) };
  }
}
