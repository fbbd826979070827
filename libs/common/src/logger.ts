import { luhn } from './luhn';
/** Structured JSON logs on stdout, one object per line, with the service and any context fields. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

let globalLevel: LogLevel = (process.env['LOG_LEVEL'] as LogLevel | undefined) ?? 'info';

export function setLogLevel(level: LogLevel): void {
  globalLevel = level;
}

// ---- redaction -------------------------------------------------------------------------------
//
// Logs leave the process (log shippers, support tickets), so personal data and credentials are
// removed from every string that is logged — the message, every field, nested objects, errors and
// their stacks — by shape, whatever the field is called. Free text users wrote (questions, answers,
// prompts) is not logged at all, only its length: it can hold personal data no pattern knows.

/** `Bearer <token>` / `ApiKey <key>` / `Basic <creds>` in any text (an Authorization header quoted in an error). */
const AUTH_SCHEME = /\b(Bearer|ApiKey|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
/** Compact JWS/JWT: base64url JSON header `eyJ…`, payload, signature. */
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
/** Flotilla API keys and the usual provider key shapes (OpenAI `sk-`, GitHub, Slack, AWS access key ids). */
const API_KEY = /\b(?:flk_[a-z0-9]{12}_[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16})/g;
/** Credentials inside URLs: scheme://user:password@host. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/:@]+:[^\s/@]+@/gi;
const EMAIL = /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b/g;
/** 13-19 digits, optionally grouped by spaces or dashes; redacted only when the Luhn check passes (order numbers and ids rarely do). */
const CARD = /(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])/g;
/**
 * Phone numbers as people write them: a leading `+`, or groups of digits separated by spaces,
 * dots, dashes or brackets, 9 to 15 digits in all. Bare digit runs are not phones (they are order,
 * tracking and epoch numbers), and dates, times and IP addresses are left alone.
 */
const PHONE = /(?<![\w+.:/-])(?:\+\d[\d ().-]{7,20}\d|\(?\d{2,4}\)?[ .-]\(?\d{2,4}\)?(?:[ .-]\d{2,5}){1,4})(?![\w.:/-]*\w)/g;
const DATE_OR_IP = /^\d{4}-\d{2}-\d{2}|^\d{1,3}(?:\.\d{1,3}){3}$/;

/** Field names whose values are credentials, whatever they look like. */
const SECRET_FIELD = /^(?:authorization|cookie|set-cookie|password|passwd|secret|client_secret|token|access_token|refresh_token|id_token|api[-_]?key|x-api-key|flotilla-api-key|private[-_]?key|passphrase)$/i;
/** Field names whose values are free text written by users or models: logged as their length only. */
const FREE_TEXT_FIELD = /^(?:question|answer|text|prompt|completion|content|body|message_text|transcript|summary)$/i;


/** The string with credentials and personal data (emails, phone and card numbers, tokens, keys) replaced by `[redacted:<kind>]`. */
export function redactText(text: string): string {
  if (text.length === 0) return text;
  return text
    .replace(JWT, '[redacted:jwt]')
    .replace(AUTH_SCHEME, (_m, scheme: string) => `${scheme} [redacted:token]`)
    .replace(API_KEY, '[redacted:api-key]')
    .replace(URL_CREDENTIALS, (_m, scheme: string) => `${scheme}[redacted:credentials]@`)
    .replace(EMAIL, '[redacted:email]')
    .replace(CARD, (m) => (luhn(m.replace(/\D/g, '')) ? '[redacted:card]' : m))
    .replace(PHONE, (m) => {
      const digits = m.replace(/\D/g, '').length;
      return digits >= 9 && digits <= 15 && !DATE_OR_IP.test(m) ? '[redacted:phone]' : m;
    });
}

const MAX_DEPTH = 8;

/**
 * A copy of `value` safe to log: strings redacted (see redactText), credential fields replaced,
 * free-text fields reduced to their length, errors serialised (message and stack redacted too).
 * Cycles and depth beyond 8 levels are cut.
 */
export function redactValue(value: unknown, key?: string, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (key !== undefined && SECRET_FIELD.test(key) && value !== undefined && value !== null && value !== '') return '[redacted]';
  if (key !== undefined && FREE_TEXT_FIELD.test(key) && typeof value === 'string') return `[redacted:text ${value.length} chars]`;
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[truncated]';
  seen.add(value);
  try {
    if (value instanceof Error) {
      const extra = value as Error & { code?: unknown; retryable?: unknown };
      return {
        name: value.name, message: redactText(value.message), code: redactValue(extra.code, 'code', depth + 1, seen), retryable: extra.retryable,
        stack: value.stack === undefined ? undefined : redactText(value.stack),
      };
    }
    if (Array.isArray(value)) return value.map((v) => redactValue(v, undefined, depth + 1, seen));
    if (value instanceof Date) return value.toISOString();
    if (Buffer.isBuffer(value)) return `[buffer ${value.length} bytes]`;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactValue(v, k, depth + 1, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Where log lines go (stdout; replaced in tests). */
let sink: (line: string) => void = (line) => {
  process.stdout.write(line);
};

/** Replaces where log lines are written; returns the previous sink. For tests. */
export function setLogSink(next: (line: string) => void): (line: string) => void {
  const previous = sink;
  sink = next;
  return previous;
}

export function createLogger(base: Record<string, unknown> = {}): Logger {
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < ORDER[globalLevel]) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg: redactText(msg) };
    for (const [k, v] of Object.entries(base)) record[k] = redactValue(v, k);
    if (fields) for (const [k, v] of Object.entries(fields)) record[k] = redactValue(v, k);
    sink(JSON.stringify(record) + '\n');
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }),
  };
}
