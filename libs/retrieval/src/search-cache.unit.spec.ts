import { normaliseQuery, SearchCache } from './search-cache';
import { ScoredChunk } from './vector-store';

const hit = (id: string): ScoredChunk => ({ id, score: 0.9, payload: { tenantId: 't', docId: id, docVersion: 1, chunkIndex: 0, title: id, text: id } });

describe('SearchCache', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('misses, then hits the same normalised question of the same tenant with the same topK and minScore', () => {
    const cache = new SearchCache({ now: clock });
    const key = SearchCache.key('t', 'What is your  return policy?', 3, 0.1);
    expect(cache.get(key)).toBeUndefined();
    cache.set('t', key, [hit('a')], cache.generation('t'));
    expect(cache.get(SearchCache.key('t', '  what is your return POLICY? ', 3, 0.1))).toEqual([hit('a')]);
    expect(cache.get(SearchCache.key('t', 'what is your return policy?', 5, 0.1))).toBeUndefined();
    expect(cache.get(SearchCache.key('t', 'what is your return policy?', 3, 0.5))).toBeUndefined();
    expect(cache.get(SearchCache.key('other', 'what is your return policy?', 3, 0.1))).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 4, size: 1 });
  });

  it('normalises Unicode width, case and white space only', () => {
    expect(normaliseQuery(' Ｒｅｔｕｒｎ\tPolicy\n? ')).toBe('return policy ?');
  });

  it('expires entries after the TTL', () => {
    const cache = new SearchCache({ ttlMs: 1000, now: clock });
    const key = SearchCache.key('t', 'q', 3, 0.1);
    cache.set('t', key, [hit('a')], 0);
    now += 999;
    expect(cache.get(key)).toEqual([hit('a')]);
    now += 1;
    expect(cache.get(key)).toBeUndefined();
    expect(cache.stats().size).toBe(0);
  });

  it('is bounded: the least recently used entry goes first', () => {
    const cache = new SearchCache({ maxEntries: 2, now: clock });
    const [a, b, c] = ['a', 'b', 'c'].map((q) => SearchCache.key('t', q, 3, 0.1)) as [string, string, string];
    cache.set('t', a, [hit('a')], 0);
    cache.set('t', b, [hit('b')], 0);
    cache.get(a); // a is now more recent than b
    cache.set('t', c, [hit('c')], 0);
    expect(cache.get(b)).toBeUndefined();
    expect(cache.get(a)).toEqual([hit('a')]);
    expect(cache.get(c)).toEqual([hit('c')]);
    expect(cache.stats()).toMatchObject({ size: 2, evictions: 1 });
  });

  it('invalidates one tenant only', () => {
    const cache = new SearchCache({ now: clock });
    const mine = SearchCache.key('t', 'q', 3, 0.1);
    const theirs = SearchCache.key('u', 'q', 3, 0.1);
    cache.set('t', mine, [hit('a')], 0);
    cache.set('u', theirs, [hit('b')], 0);
    cache.invalidateTenant('t');
    expect(cache.get(mine)).toBeUndefined();
    expect(cache.get(theirs)).toEqual([hit('b')]);
  });

  it('drops a result computed before its tenant was invalidated (a search racing an ingestion)', () => {
    const cache = new SearchCache({ now: clock });
    const key = SearchCache.key('t', 'q', 3, 0.1);
    const generation = cache.generation('t');
    cache.invalidateTenant('t'); // the documents changed while the search ran
    cache.set('t', key, [hit('stale')], generation);
    expect(cache.get(key)).toBeUndefined();
  });

  it('hands out copies: a caller changing its result does not change the cache', () => {
    const cache = new SearchCache({ now: clock });
    const key = SearchCache.key('t', 'q', 3, 0.1);
    cache.set('t', key, [hit('a')], 0);
    cache.get(key)!.pop();
    expect(cache.get(key)).toEqual([hit('a')]);
  });
});
