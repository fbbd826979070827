import { createServer, Server } from 'node:http';
import { jose, Jose } from '../jose';

/** Test helpers: sign tokens and serve a JWKS on 127.0.0.1, as an identity provider would. */
export const HS_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface TokenClaims {
  sub?: string;
  tenant_id?: string;
  roles?: string[] | string;
  iss?: string;
  aud?: string;
  [k: string]: unknown;
}

export async function signHs256(claims: TokenClaims, options: { secret?: string; expiresIn?: string | number } = {}): Promise<string> {
  const jwt = new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (options.expiresIn !== undefined) jwt.setExpirationTime(options.expiresIn);
  else jwt.setExpirationTime('5m');
  return jwt.sign(Buffer.from(options.secret ?? HS_SECRET));
}

export interface TestIdp {
  url: string;
  sign(claims: TokenClaims, options?: { expiresIn?: string | number; kid?: string }): Promise<string>;
  close(): Promise<void>;
  requests: number;
}

/** An RSA key pair whose public half is served as a JWKS. */
export async function startTestIdp(): Promise<TestIdp> {
  const { publicKey, privateKey } = await jose.generateKeyPair('RS256');
  const jwk: Jose.JWK = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const state = { requests: 0 };
  const server: Server = createServer((_req, res) => {
    state.requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return state.requests;
    },
    sign: (claims, options = {}) => new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'k1' }).setIssuedAt().setExpirationTime(options.expiresIn ?? '5m').sign(privateKey),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
