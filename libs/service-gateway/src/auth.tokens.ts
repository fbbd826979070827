/** The gateway's Authenticator (libs/auth) over its API key store. */
export const AUTHENTICATOR = Symbol('flotilla.authenticator');
/** The API key store (libs/memory). */
export const API_KEYS = Symbol('flotilla.api-key-store');
