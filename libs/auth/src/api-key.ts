import type { ApiKeyRecord } from '@flotilla/contracts';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys: `flk_<keyId>_<secret>`. The key id (12 lowercase letters and digits) is public — it
 * names the key in listings and audit records and finds its record; the secret is 32 random bytes
 * (base64url, 43 characters). Only SHA-256 of the whole key is stored: with 256 bits of entropy a
 * fast hash is as safe as a slow one (nothing to brute-force), and it keeps every request cheap.
 */
const KEY = /^flk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export type { ApiKeyRecord };

/** Finds a stored key by its id (null when there is none). */
export interface ApiKeyLookup {
  findByKeyId(keyId: string): Promise<ApiKeyRecord | null>;
}

/** SHA-256 (hex) of a full key, as stored. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The key id and secret of a well-formed key, or null. */
export function parseApiKey(key: string): { keyId: string; secret: string } | null {
  const m = KEY.exec(key);
  return m ? { keyId: m[1]!, secret: m[2]! } : null;
}

/** Whether `key` hashes to `hash`, compared in constant time. */
export function apiKeyMatches(key: string, hash: string): boolean {
  const expected = Buffer.from(hash, 'hex');
  const actual = createHash('sha256').update(key, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A new random key: the full key (shown once), its id and the hash to store. */
export function generateApiKey(): { key: string; keyId: string; hash: string } {
  const bytes = randomBytes(12);
  let keyId = '';
  for (const b of bytes) keyId += ID_ALPHABET[b % ID_ALPHABET.length];
  const key = `flk_${keyId}_${randomBytes(32).toString('base64url')}`;
  return { key, keyId, hash: hashApiKey(key) };
}
