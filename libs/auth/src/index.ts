// Authentication: JWT (HS256, RS256 via JWKS) and hashed API keys. The only importer of `jose`.
export { ApiKeyLookup, ApiKeyRecord, apiKeyMatches, generateApiKey, hashApiKey, parseApiKey } from './api-key';
export { Authenticator, AuthenticatorOptions, authenticatorFrom, Credential, credentialFrom, HeaderBag, requireAuthenticationMethod } from './authenticator';
export { Forbidden, Unauthenticated, UnauthenticatedReason } from './errors';
export { INTAKE_API_KEY_HEADER, INTAKE_ROLE, verifyIntakePublisher } from './intake';
export { JwtVerifier, JwtVerifierOptions, jwtOptionsFrom, looksLikeJwt, VerifiedClaims } from './jwt';
export { ANONYMOUS_ROLES, CredentialKind, hasAnyRole, hasRole, ID_PATTERN, Principal, Role, ROLES } from './principal';
