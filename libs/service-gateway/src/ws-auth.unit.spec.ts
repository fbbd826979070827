import type { IncomingMessage } from 'node:http';
import { ApiKeyRecord, Authenticator, generateApiKey, JwtVerifier } from '@flotilla/auth';
import { authenticateUpgrade, selectProtocol, upgradeCredential } from './ws-auth';

const req = (url: string, headers: Record<string, string> = {}): IncomingMessage => ({ url, headers } as unknown as IncomingMessage);

describe('WebSocket upgrade authentication', () => {
  const records = new Map<string, ApiKeyRecord>();
  const add = (tenantId: string, roles: string[]): string => {
    const { key, keyId, hash } = generateApiKey();
    records.set(keyId, { keyId, hash, tenantId, roles, name: 't', createdAt: '2026-01-01T00:00:00.000Z', createdBy: 't' });
    return key;
  };
  const auth = (required: boolean): Authenticator => new Authenticator({ required, jwt: new JwtVerifier({}), apiKeys: { findByKeyId: async (id) => records.get(id) ?? null } });

  it('finds the credential in the bearer. subprotocol or ?access_token=, and never answers with the credential subprotocol', () => {
    expect(upgradeCredential(req('/v1/chat', { 'sec-websocket-protocol': 'flotilla.chat.v1, bearer.abc' }))).toEqual({ token: 'abc', source: 'subprotocol' });
    expect(upgradeCredential(req('/v1/chat?access_token=xyz'))).toEqual({ token: 'xyz', source: 'query' });
    expect(upgradeCredential(req('/v1/chat'))).toBeUndefined();
    expect(selectProtocol(new Set(['flotilla.chat.v1', 'bearer.abc']), 'flotilla.chat.v1')).toBe('flotilla.chat.v1');
    expect(selectProtocol(new Set(['bearer.abc']), 'flotilla.chat.v1')).toBe(false);
  });

  it('401 without a credential when required (with a challenge), 403 without the chat role or for another ?tenant=', async () => {
    expect(await authenticateUpgrade(auth(true), req('/v1/chat'))).toMatchObject({ ok: false, status: 401, headers: { 'WWW-Authenticate': expect.stringContaining('Bearer') } });
    expect(await authenticateUpgrade(auth(true), req('/v1/chat', { 'x-api-key': add('acme', ['workflows:read']) }))).toMatchObject({ ok: false, status: 403 });
    const chatKey = add('acme', ['chat']);
    expect(await authenticateUpgrade(auth(true), req('/v1/chat?tenant=globex', { 'x-api-key': chatKey }))).toMatchObject({ ok: false, status: 403 });
    expect(await authenticateUpgrade(auth(true), req(`/v1/chat?access_token=${chatKey}`))).toMatchObject({ ok: true, principal: { tenantId: 'acme' } });
    expect(await authenticateUpgrade(auth(false), req('/v1/chat?tenant=globex'))).toMatchObject({ ok: true, principal: { via: 'anonymous' } });
  });
});
