import { createLogger, Logger } from '@flotilla/common';
import { ConversationStore } from './conversation-store';

/**
 * Runs `purgeIdle` every `everyMs`, removing sessions idle for longer than `idleMs` — the TTL
 * cleanup of both adapters (FerretDB v1.24 has no TTL indexes). A failed run is logged and simply
 * runs again at the next tick; `stop()` waits for a run in flight.
 */
export function startIdlePurge(
  store: Pick<ConversationStore, 'purgeIdle'>,
  options: { idleMs: number; everyMs: number; now?: () => Date; logger?: Logger },
): { stop(): Promise<void> } {
  const now = options.now ?? (() => new Date());
  const log = options.logger ?? createLogger({ component: 'memory.idle-purge' });
  let running: Promise<void> | undefined;
  const tick = (): void => {
    if (running) return;
    running = store.purgeIdle(new Date(now().getTime() - options.idleMs))
      .then((purged) => {
        if (purged > 0) log.info('purged idle conversation sessions', { purged, idleMs: options.idleMs });
      }, (err: unknown) => log.warn('purging idle conversation sessions failed; retrying at the next tick', { err }))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, options.everyMs);
  timer.unref();
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
