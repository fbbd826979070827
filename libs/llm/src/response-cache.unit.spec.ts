import { sumUsage, costOf } from './accounting';
import { SimulatedClock } from './clock';
import { CompletionRequest, CompletionResult } from './port';
import { cacheKey, InMemoryResponseCache, isCacheable } from './response-cache';

const request: CompletionRequest = {
  purpose: 'compose', tier: 'complex', temperature: 0, maxTokens: 100,
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
  tools: [{ name: 't', description: 'd', parameters: { type: 'object', properties: { a: { type: 'string' } } } }],
};
const result = (text: string): CompletionResult => ({ text, toolCalls: [], model: { provider: 'openai', model: 'm', label: 'm' }, usage: { promptTokens: 1, completionTokens: 1 }, finishReason: 'stop' });

describe('cacheKey', () => {
  it('depends on the model, messages, tools, tool choice, temperature and token limit only', () => {
    const base = cacheKey('m', request);
    expect(cacheKey('m', { ...request, purpose: 'other', lane: 'batch', tenantId: 'x', deadlineMs: 1 })).toBe(base);
    // Property order inside a tool schema does not matter.
    const reordered = { ...request, tools: [{ parameters: { properties: { a: { type: 'string' } }, type: 'object' }, description: 'd', name: 't' }] };
    expect(cacheKey('m', reordered)).toBe(base);
    expect(cacheKey('other', request)).not.toBe(base);
    expect(cacheKey('m', { ...request, messages: [...request.messages, { role: 'user', content: 'more' }] })).not.toBe(base);
    expect(cacheKey('m', { ...request, toolChoice: { name: 't' } })).not.toBe(base);
    expect(cacheKey('m', { ...request, temperature: 0.2 })).not.toBe(base);
    expect(cacheKey('m', { ...request, maxTokens: 101 })).not.toBe(base);
  });

  it('caches temperature-0 calls by default, others only when asked', () => {
    expect(isCacheable(request)).toBe(true);
    expect(isCacheable({ ...request, cache: false })).toBe(false);
    expect(isCacheable({ ...request, temperature: 0.7 })).toBe(false);
    expect(isCacheable({ ...request, temperature: undefined })).toBe(false);
    expect(isCacheable({ ...request, temperature: 0.7, cache: true })).toBe(true);
  });
});

describe('InMemoryResponseCache', () => {
  it('expires entries after their TTL', async () => {
    const clock = new SimulatedClock();
    const cache = new InMemoryResponseCache({ clock });
    await cache.set('a', result('A'), 1_000);
    await clock.advance(999);
    expect((await cache.get('a'))?.text).toBe('A');
    await clock.advance(1);
    expect(await cache.get('a')).toBeUndefined();
  });

  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const cache = new InMemoryResponseCache({ maxEntries: 2 });
    await cache.set('a', result('A'), 60_000);
    await cache.set('b', result('B'), 60_000);
    await cache.get('a'); // a is now more recent than b
    await cache.set('c', result('C'), 60_000);
    expect(cache.size).toBe(2);
    expect(await cache.get('b')).toBeUndefined();
    expect((await cache.get('a'))?.text).toBe('A');
    expect((await cache.get('c'))?.text).toBe('C');
  });

  it('serves copies, so a caller changing its result cannot change what others get', async () => {
    const cache = new InMemoryResponseCache();
    await cache.set('a', result('A'), 60_000);
    const first = (await cache.get('a'))!;
    first.text = 'changed';
    expect((await cache.get('a'))?.text).toBe('A');
  });
});

describe('accounting', () => {
  it('prices usage per million tokens', () => {
    expect(costOf({ promptTokens: 1_000_000, completionTokens: 500_000 }, { inputPer1M: 0.15, outputPer1M: 0.6 })).toBeCloseTo(0.45, 9);
    expect(costOf({ promptTokens: 123, completionTokens: 45 }, { inputPer1M: 0, outputPer1M: 0 })).toBe(0);
  });

  it('sums results and earlier totals into a TokenUsageV1-shaped total, counting cached calls', () => {
    const priced = (p: number, c: number, cost: number, cached = false): Pick<CompletionResult, 'usage' | 'cached'> =>
      ({ usage: { promptTokens: p, completionTokens: c, costUsd: cost }, ...(cached ? { cached: true as const } : {}) });
    const step = sumUsage([priced(100, 20, 0.1), priced(0, 0, 0, true)]);
    expect(step).toEqual({ promptTokens: 100, completionTokens: 20, costUsd: 0.1, calls: 2, cachedCalls: 1 });
    expect(sumUsage([step, priced(10, 5, 0.2), { usage: { promptTokens: 1, completionTokens: 1 } }]))
      .toEqual({ promptTokens: 111, completionTokens: 26, costUsd: 0.3, calls: 4, cachedCalls: 1 });
  });
});
