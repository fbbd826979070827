import { createLogger, Logger } from '@flotilla/common';
import { ConversationStore } from './conversation-store';
import { startPeriodicPurge } from './periodic-purge';

/**
 * Runs `purgeIdle` every `everyMs`, removing sessions idle for longer than `idleMs` — the TTL
 * cleanup of both adapters (FerretDB v1.24 has no TTL indexes). A failed run is logged and simply
 * runs again at the next tick; `stop()` waits for a run in flight.
 */
export function startIdlePurge(
  store: Pick<ConversationStore, 'purgeIdle'>,
  options: { idleMs: number; everyMs: number; now?: () => Date; logger?: Logger },
): { stop(): Promise<void> } {
  return startPeriodicPurge((olderThan) => store.purgeIdle(olderThan), {
    ageMs: options.idleMs, everyMs: options.everyMs, now: options.now, what: 'idle conversation sessions',
    log: options.logger ?? createLogger({ component: 'memory.idle-purge' }), details: { idleMs: options.idleMs },
  });
}
