// Authentication: JWT (HS256, RS256 via JWKS) and hashed API keys. The only importer of `jose`.
export {};
