import { ClassConstructor, plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { ErrorCode, FieldError, FlotillaError } from '@flotilla/common';
import { Envelope, Metadata } from './envelope';

/**
 * A message contract: its explicit wire name, its current version and the class that validates its
 * data. Older versions are listed with an upcaster to the next version, so a consumer only ever
 * handles the current shape and handlers carry no back-compat branches.
 */
export interface MessageDef<TType extends string, TData extends object> {
  readonly type: TType;
  readonly version: number;
  readonly schema: ClassConstructor<TData>;
  readonly upcasters: Readonly<Record<number, (data: Record<string, unknown>) => Record<string, unknown>>>;
}

export function defineMessage<TType extends string, TData extends object>(
  type: TType,
  version: number,
  schema: ClassConstructor<TData>,
  upcasters: Record<number, (data: Record<string, unknown>) => Record<string, unknown>> = {},
): MessageDef<TType, TData> {
  return { type, version, schema, upcasters };
}

/** The typed message a def describes. */
export type MessageOf<D> = D extends MessageDef<infer T, infer P> ? Envelope<T, P> : never;

/** A topic: its wire name, partition count, what keys it and which messages it carries. */
export interface TopicDef<TDefs extends readonly MessageDef<string, object>[]> {
  readonly name: string;
  readonly partitions: number;
  /** Human description of the key, for docs. */
  readonly key: string;
  readonly messages: TDefs;
  /** Retention; `compact` topics keep the latest message per key. */
  readonly cleanupPolicy: 'delete' | 'compact';
}

export type TopicMessage<T> = T extends TopicDef<infer D> ? MessageOf<D[number]> : never;

export function defineTopic<const TDefs extends readonly MessageDef<string, object>[]>(t: {
  name: string;
  partitions: number;
  key: string;
  messages: TDefs;
  cleanupPolicy?: 'delete' | 'compact';
}): TopicDef<TDefs> {
  return { cleanupPolicy: 'delete', ...t };
}

export type DecodeResult<M> = { ok: true; message: M } | { ok: false; error: FlotillaError };

/**
 * The deepest JSON nesting any contract accepts. class-transformer and class-validator recurse, so
 * a few kilobytes of `[[[…]]]` would otherwise exhaust the stack (found by the fuzz suite).
 */
export const MAX_JSON_DEPTH = 32;

/** Whether a parsed JSON value nests deeper than `limit` — checked iteratively, never recursively. */
export function exceedsDepth(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/** The largest payload a consumer will parse; bigger ones are dead-lettered unread. */
export const MAX_MESSAGE_BYTES = 1_000_000;

function flatten(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) out.push({ field, reasons: Object.values(e.constraints) });
    if (e.children?.length) out.push(...flatten(e.children, field));
  }
  return out;
}

/** Validates a plain object against a contract class; returns the typed instance or field errors. */
export function validateData<T extends object>(schema: ClassConstructor<T>, data: unknown): { ok: true; value: T } | { ok: false; fields: FieldError[] } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, fields: [{ field: 'data', reasons: ['data must be an object'] }] };
  }
  if (exceedsDepth(data, MAX_JSON_DEPTH)) {
    return { ok: false, fields: [{ field: 'data', reasons: [`nested deeper than ${MAX_JSON_DEPTH} levels`] }] };
  }
  const instance = plainToInstance(schema, data);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length) return { ok: false, fields: flatten(errors) };
  return { ok: true, value: instance };
}

function invalid(message: string, fields: FieldError[] = [], code = ErrorCode.InvalidMessage): { ok: false; error: FlotillaError } {
  return { ok: false, error: new FlotillaError(code, message, { retryable: false, fields }) };
}

/**
 * The one validating factory at every consumer's edge: bytes in, a typed, current-version message
 * out — or a non-retryable error that says exactly what is wrong, for the dead-letter record.
 */
export function decode<TDefs extends readonly MessageDef<string, object>[]>(
  topic: TopicDef<TDefs>,
  raw: Buffer | string | null,
): DecodeResult<MessageOf<TDefs[number]>> {
  if (raw === null || raw.length === 0) return invalid('empty message (tombstone or missing value)');
  if (raw.length > MAX_MESSAGE_BYTES) return invalid(`message of ${raw.length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`, [], ErrorCode.PayloadTooLarge);
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    return invalid(`invalid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return invalid('message must be a JSON object');
  const env = parsed as Record<string, unknown>;
  const fields: FieldError[] = [];
  if (typeof env['type'] !== 'string') fields.push({ field: 'type', reasons: ['type must be a string'] });
  if (!Number.isInteger(env['version'])) fields.push({ field: 'version', reasons: ['version must be an integer'] });
  if (typeof env['data'] !== 'object' || env['data'] === null || Array.isArray(env['data'])) fields.push({ field: 'data', reasons: ['data must be an object'] });
  if (env['id'] !== undefined && typeof env['id'] !== 'string') fields.push({ field: 'id', reasons: ['id must be a string'] });
  if (env['metadata'] !== undefined && (typeof env['metadata'] !== 'object' || env['metadata'] === null)) fields.push({ field: 'metadata', reasons: ['metadata must be an object'] });
  if (fields.length) return invalid('message envelope is invalid', fields);

  const type = env['type'] as string;
  const def = topic.messages.find((m) => m.type === type);
  if (!def) {
    return invalid(`unknown message type "${type}" on ${topic.name}; expected one of ${topic.messages.map((m) => m.type).join(', ')}`, [], ErrorCode.UnknownMessageType);
  }
  let version = env['version'] as number;
  let data = env['data'] as Record<string, unknown>;
  if (version > def.version) return invalid(`${type} version ${version} is newer than this consumer understands (${def.version})`, [], ErrorCode.UnknownMessageType);
  while (version < def.version) {
    const up = def.upcasters[version];
    if (!up) return invalid(`${type} version ${version} is not supported (no upcaster to ${version + 1})`, [], ErrorCode.UnknownMessageType);
    data = up(data);
    version += 1;
  }
  const checked = validateData(def.schema, data);
  if (!checked.ok) return invalid(`${type} v${def.version} failed validation: ${checked.fields.map((f) => `${f.field}: ${f.reasons.join('; ')}`).join(' | ')}`, checked.fields);
  const metadata = (env['metadata'] as Metadata | undefined) ?? { occurredAt: new Date().toISOString() };
  const message = { type, version, id: (env['id'] as string | undefined) ?? '', data: checked.value, metadata };
  return { ok: true, message: message as MessageOf<TDefs[number]> };
}

/** Builds the wire form of a message of a given contract. */
export function encode<TType extends string, TData extends object>(
  def: MessageDef<TType, TData>,
  id: string,
  data: TData,
  metadata: Metadata,
): Envelope<TType, TData> {
  return { type: def.type, version: def.version, id, data, metadata };
}
