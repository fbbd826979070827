import { ErrorCode, FieldError, FlotillaError } from '@flotilla/common';

export type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';

/**
 * The subset of JSON Schema that tool arguments use. The same object validates arguments here and is
 * published to LLMs as the tool's parameters, so it stays plain JSON Schema (no custom keywords).
 */
export interface JsonSchema {
  type: JsonType | readonly JsonType[];
  description?: string;
  enum?: readonly (string | number | boolean | null)[];
  // strings
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  /** `date` is a real calendar date `YYYY-MM-DD`; `date-time` an ISO 8601 timestamp. */
  format?: 'date' | 'date-time';
  // numbers
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  multipleOf?: number;
  // objects
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  /** Only `false` is acted on: unknown properties are then rejected. */
  additionalProperties?: boolean;
  // arrays
  items?: JsonSchema;
  maxItems?: number;
}

/** A tool's arguments: always an object at the top. */
export interface ArgsSchema extends JsonSchema {
  type: 'object';
  properties: Readonly<Record<string, JsonSchema>>;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const patterns = new Map<string, RegExp>();

/** True when `value` is `YYYY-MM-DD` naming a day that exists (no 2025-02-30). */
export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeOf(value: unknown): JsonType | undefined {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return Number.isFinite(value) ? (Number.isInteger(value) ? 'integer' : 'number') : undefined;
    case 'boolean':
      return 'boolean';
    case 'object':
      return 'object';
    case 'bigint':
    case 'symbol':
    case 'undefined':
    case 'function':
      return undefined;
  }
}

function accepts(type: JsonType, actual: JsonType | undefined): boolean {
  return type === actual || (type === 'number' && actual === 'integer');
}

function article(type: JsonType): string {
  switch (type) {
    case 'null':
      return 'null';
    case 'integer':
    case 'object':
    case 'array':
      return `an ${type}`;
    case 'string':
    case 'number':
    case 'boolean':
      return `a ${type}`;
  }
}

function collect(schema: JsonSchema, value: unknown, path: string, out: Map<string, string[]>): void {
  const field = path === '' ? 'args' : path;
  const add = (reason: string): void => {
    out.set(field, [...(out.get(field) ?? []), reason]);
  };
  const types: readonly JsonType[] = typeof schema.type === 'string' ? [schema.type] : schema.type;
  const actual = typeOf(value);
  if (!types.some((t) => accepts(t, actual))) {
    add(`must be ${types.map(article).join(' or ')}`);
    return;
  }
  if (schema.enum && !schema.enum.includes(value as string | number | boolean | null)) {
    add(`must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) add(`must be at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) add(`must be at most ${schema.maxLength} characters`);
    if (schema.pattern !== undefined) {
      let re = patterns.get(schema.pattern);
      if (!re) patterns.set(schema.pattern, (re = new RegExp(schema.pattern, 'u')));
      if (!re.test(value)) add(`must match ${schema.pattern}`);
    }
    if (schema.format === 'date' && !isCalendarDate(value)) add('must be a calendar date YYYY-MM-DD');
    if (schema.format === 'date-time' && !(DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)))) add('must be an ISO 8601 timestamp');
  } else if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) add(`must be >= ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) add(`must be <= ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) add(`must be > ${schema.exclusiveMinimum}`);
    if (schema.multipleOf !== undefined) {
      const q = value / schema.multipleOf;
      // Tolerant of binary fractions: 19.99 / 0.01 is 1998.9999999999998.
      if (Math.abs(q - Math.round(q)) > 1e-9 * Math.max(1, Math.abs(q))) add(`must be a multiple of ${schema.multipleOf}`);
    }
  } else if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) add(`must have at most ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => collect(schema.items as JsonSchema, v, `${path}[${i}]`, out));
  } else if (isRecord(value)) {
    const prefix = path === '' ? '' : `${path}.`;
    for (const key of schema.required ?? []) {
      if (!Object.hasOwn(value, key) || value[key] === undefined) out.set(`${prefix}${key}`, [...(out.get(`${prefix}${key}`) ?? []), 'is required']);
    }
    for (const [key, v] of Object.entries(value)) {
      const child = schema.properties && Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
      if (child) {
        if (v !== undefined) collect(child, v, `${prefix}${key}`, out);
      } else if (schema.additionalProperties === false) {
        out.set(`${prefix}${key}`, [...(out.get(`${prefix}${key}`) ?? []), 'is not allowed']);
      }
    }
  }
}

/** Every problem with `value` against `schema`, one entry per field path (`shipment.origin.postalCode`). */
export function validateValue(schema: JsonSchema, value: unknown): FieldError[] {
  const out = new Map<string, string[]>();
  collect(schema, value, '', out);
  return [...out].map(([field, reasons]) => ({ field, reasons }));
}

/**
 * Checks a tool's arguments before anything is called. Invalid arguments can never succeed on retry,
 * so the error is non-retryable and lists every field with its reasons.
 */
export function validateArgs(toolName: string, schema: ArgsSchema, args: unknown): asserts args is Record<string, unknown> {
  const fields = validateValue(schema, args);
  if (fields.length === 0) return;
  const summary = fields.map((f) => `${f.field} ${f.reasons.join(' and ')}`).join('; ');
  throw new FlotillaError(ErrorCode.ValidationFailed, `${toolName}: ${summary}`, { retryable: false, fields });
}
