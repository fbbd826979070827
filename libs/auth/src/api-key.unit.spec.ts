import { apiKeyMatches, generateApiKey, hashApiKey, parseApiKey } from './api-key';

describe('API keys', () => {
  it('are flk_<12-char id>_<43-char secret>, and only their hash is needed to check them', () => {
    const { key, keyId, hash } = generateApiKey();
    expect(key).toMatch(/^flk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(parseApiKey(key)).toEqual({ keyId, secret: key.slice(17) });
    expect(hash).toBe(hashApiKey(key));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(key.slice(17));
    expect(apiKeyMatches(key, hash)).toBe(true);
  });

  it('refuse a key whose secret differs by one character', () => {
    const { key, hash } = generateApiKey();
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    expect(apiKeyMatches(key.slice(0, -1) + last, hash)).toBe(false);
  });

  it('are unique', () => {
    const ids = new Set(Array.from({ length: 500 }, () => generateApiKey().keyId));
    expect(ids.size).toBe(500);
  });

  it('parse nothing that is not exactly a key', () => {
    const { key } = generateApiKey();
    for (const bad of ['', 'flk_', key + 'x', key.slice(0, -1), key.replace('flk_', 'flx_'), key.toUpperCase(), `Bearer ${key}`]) expect(parseApiKey(bad)).toBeNull();
  });

  it('compare safely against a malformed stored hash', () => {
    const { key } = generateApiKey();
    expect(apiKeyMatches(key, 'not-hex')).toBe(false);
    expect(apiKeyMatches(key, '')).toBe(false);
  });
});
