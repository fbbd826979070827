import { ErrorCode, FlotillaError } from '@flotilla/common';
import { ArgsSchema, isCalendarDate, validateArgs, validateValue } from './schema';

const schema: ArgsSchema = {
  type: 'object',
  properties: {
    orderId: { type: 'string', pattern: '^[A-Za-z0-9-]{1,32}$' },
    amount: { type: 'number', exclusiveMinimum: 0, multipleOf: 0.01 },
    reason: { type: 'string', minLength: 1, maxLength: 5 },
    kind: { type: 'string', enum: ['a', 'b'] },
    count: { type: 'integer', minimum: 1, maximum: 3 },
    flag: { type: 'boolean' },
    on: { type: ['string', 'null'], format: 'date' },
    nested: { type: ['object', 'null'], properties: { zip: { type: 'string', pattern: '^\\d{5}$' } }, required: ['zip'] },
  },
  required: ['orderId'],
  additionalProperties: false,
};

function thrown(fn: () => void): FlotillaError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FlotillaError) return err;
    throw err;
  }
  throw new Error('expected a FlotillaError');
}

describe('argument validation', () => {
  it('accepts valid arguments, including nulls where allowed and whole numbers as numbers', () => {
    expect(validateValue(schema, { orderId: '1001', amount: 20, reason: 'late', kind: 'a', count: 2, flag: true, on: null, nested: null })).toEqual([]);
    expect(validateValue(schema, { orderId: 'A-1', amount: 19.99, on: '2024-02-29', nested: { zip: '98101', extra: 1 } })).toEqual([]);
  });

  it('throws a non-retryable ValidationFailed naming the tool, field and reason', () => {
    const err = thrown(() => validateArgs('order.lookup', schema, { orderId: 1001 }));
    expect(err.code).toBe(ErrorCode.ValidationFailed);
    expect(err.retryable).toBe(false);
    expect(err.message).toBe('order.lookup: orderId must be a string');
    expect(err.fields).toEqual([{ field: 'orderId', reasons: ['must be a string'] }]);
  });

  it('lists every problem', () => {
    const fields = validateValue(schema, {
      amount: 0.001, reason: '', kind: 'c', count: 1.5, flag: 'yes', on: '2025-02-30', nested: {}, surprise: 1,
    });
    expect(fields).toEqual(expect.arrayContaining([
      { field: 'orderId', reasons: ['is required'] },
      { field: 'amount', reasons: ['must be a multiple of 0.01'] },
      { field: 'reason', reasons: ['must be at least 1 characters'] },
      { field: 'kind', reasons: ['must be one of "a", "b"'] },
      { field: 'count', reasons: ['must be an integer'] },
      { field: 'flag', reasons: ['must be a boolean'] },
      { field: 'on', reasons: ['must be a calendar date YYYY-MM-DD'] },
      { field: 'nested.zip', reasons: ['is required'] },
      { field: 'surprise', reasons: ['is not allowed'] },
    ]));
    expect(fields).toHaveLength(9);
  });

  it('checks patterns, lengths, bounds and union types', () => {
    expect(validateValue(schema, { orderId: 'has space' })).toEqual([{ field: 'orderId', reasons: ['must match ^[A-Za-z0-9-]{1,32}$'] }]);
    expect(validateValue(schema, { orderId: '1', reason: 'too long' })).toEqual([{ field: 'reason', reasons: ['must be at most 5 characters'] }]);
    expect(validateValue(schema, { orderId: '1', amount: -1 })).toEqual([{ field: 'amount', reasons: ['must be > 0'] }]);
    expect(validateValue(schema, { orderId: '1', count: 4 })).toEqual([{ field: 'count', reasons: ['must be <= 3'] }]);
    expect(validateValue(schema, { orderId: '1', on: 5 })).toEqual([{ field: 'on', reasons: ['must be a string or null'] }]);
    expect(validateValue(schema, { orderId: '1', nested: { zip: 98101 } })).toEqual([{ field: 'nested.zip', reasons: ['must be a string'] }]);
    expect(validateValue(schema, { orderId: '1', amount: Number.NaN })).toEqual([{ field: 'amount', reasons: ['must be a number'] }]);
  });

  it('requires an object at the top and ignores inherited keys', () => {
    expect(validateValue(schema, ['1001'])).toEqual([{ field: 'args', reasons: ['must be an object'] }]);
    expect(validateValue(schema, null)).toEqual([{ field: 'args', reasons: ['must be an object'] }]);
    expect(validateValue({ type: 'object', properties: {}, required: ['toString'] }, {})).toEqual([{ field: 'toString', reasons: ['is required'] }]);
    expect(validateValue(schema, JSON.parse('{"orderId":"1","constructor":1}'))).toEqual([{ field: 'constructor', reasons: ['is not allowed'] }]);
  });

  it('knows real calendar dates', () => {
    expect(['2024-02-29', '2025-12-31'].map(isCalendarDate)).toEqual([true, true]);
    expect(['2025-02-29', '2025-13-01', '2025-1-01', 'tomorrow'].map(isCalendarDate)).toEqual([false, false, false, false]);
  });
});
