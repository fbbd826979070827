import { ErrorCode } from '@flotilla/common';
import { extractiveSummariser, normaliseTurn, planFold, resolveConversationOptions, selectRecent, Turn } from './conversation-store';

const t = (tokens: number, extra: Partial<Turn> = {}): Turn => ({
  tenantId: 't', sessionId: 's', turnId: `turn-${tokens}`, role: 'user', text: 'hello', tokens, at: '2026-01-01T00:00:00.000Z', ...extra,
});

describe('selectRecent', () => {
  it('takes the newest turns that fit, as a contiguous tail in conversation order', () => {
    const turns = [t(5), t(50), t(10), t(20)];
    expect(selectRecent(turns, 30)).toEqual([t(10), t(20)]);
    expect(selectRecent(turns, 29)).toEqual([t(20)]);
    expect(selectRecent(turns, 85)).toEqual(turns);
    expect(selectRecent(turns, 0)).toEqual([]);
  });
});

describe('planFold', () => {
  const budget = { compressAboveTokens: 100, retainTokens: 40 };

  it('folds nothing up to the budget, and past it the oldest turns until retainTokens remain', () => {
    expect(planFold([t(50), t(50)], budget)).toEqual([]);
    expect(planFold([t(30), t(30), t(30), t(30)], budget)).toEqual([t(30), t(30), t(30)]);
  });

  it('never folds the newest turn, however large it is', () => {
    expect(planFold([t(10), t(500)], budget)).toEqual([t(10)]);
    expect(planFold([t(500)], budget)).toEqual([]);
  });
});

describe('extractiveSummariser', () => {
  it('keeps each folded turn as its role, its facts and its shortened text, after the previous summary', () => {
    const summarise = extractiveSummariser({ textChars: 12 });
    const summary = summarise({
      previous: 'user: earlier',
      turns: [t(1, { text: 'Where   is my\norder 1001 today?', facts: { intent: 'order_status', orderId: '1001' } }), t(2, { role: 'assistant', text: 'In transit.' })],
    });
    expect(summary).toBe('user: earlier\nuser {"intent":"order_status","orderId":"1001"}: Where is my…\nassistant: In transit.');
  });

  it('is deterministic and stays within maxChars by dropping the oldest lines', () => {
    const summarise = extractiveSummariser({ maxChars: 100 });
    const input = { turns: Array.from({ length: 30 }, (_, i) => t(i, { text: `message number ${i}` })) };
    const summary = summarise(input) as string;
    expect(summary).toBe(summarise(input));
    expect(summary.length).toBeLessThanOrEqual(100);
    expect(summary.endsWith('user: message number 29')).toBe(true);
    expect(summary).not.toContain('message number 0\n');
  });
});

describe('normaliseTurn and options', () => {
  it('normalises the timestamp so turns sort as text', () => {
    expect(normaliseTurn(t(1, { at: '2026-01-01T01:00:00+01:00' })).at).toBe('2026-01-01T00:00:00.000Z');
  });

  it('lists every invalid field at once', () => {
    expect(() => normaliseTurn(t(-1, { at: 'soon', tenantId: '' }))).toThrow(expect.objectContaining({
      code: ErrorCode.ValidationFailed,
      fields: [expect.objectContaining({ field: 'tenantId' }), expect.objectContaining({ field: 'tokens' }), expect.objectContaining({ field: 'at' })],
    }));
  });

  it('defaults to a 2,000-token budget retaining half, and fails fast on a bad one', () => {
    expect(resolveConversationOptions()).toMatchObject({ compressAboveTokens: 2000, retainTokens: 1000 });
    expect(() => resolveConversationOptions({ compressAboveTokens: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    expect(() => resolveConversationOptions({ compressAboveTokens: 100, retainTokens: 200 })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
  });
});
