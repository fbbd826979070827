import type * as Jose from 'jose' with { 'resolution-mode': 'import' };

/*
 * jose v6 is published as ES modules only, and this workspace compiles to CommonJS (module node16).
 * Node >= 20.19 (our engines floor) can require() an ES module, but TypeScript refuses a static
 * import of one from CommonJS and Jest's module registry cannot load ES modules at all. So jose is
 * loaded once through Node's own require (the real one, which Jest does not wrap), typed by a
 * type-only import. See docs/adr/0008.
 */
type NodeModuleApi = typeof import('node:module');
const nodeModule = process.getBuiltinModule('node:module') as NodeModuleApi;

/** The jose library, loaded through Node's native require. */
export const jose: typeof Jose = nodeModule.createRequire(__filename)('jose') as typeof Jose;
export type { Jose };
