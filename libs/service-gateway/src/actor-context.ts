import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Who is acting, for code deep in a call chain that records it (the audit of a submission) but is
 * not handed the principal — the WebSocket ask path. Set with `asActor`, read with `currentActor`.
 */
const storage = new AsyncLocalStorage<string>();

export function asActor<T>(actor: string, run: () => T): T {
  return storage.run(actor, run);
}

export function currentActor(): string | undefined {
  return storage.getStore();
}
