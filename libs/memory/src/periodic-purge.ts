import { Logger } from '@flotilla/common';

/**
 * Runs `purge(now − ageMs)` every `everyMs` — the TTL cleanup of stores on FerretDB v1.24, which has
 * no TTL indexes. A failed run is logged and simply runs again at the next tick; runs never overlap;
 * `stop()` waits for a run in flight.
 */
export function startPeriodicPurge(
  purge: (olderThan: Date) => Promise<number>,
  options: { ageMs: number; everyMs: number; what: string; log: Logger; now?: () => Date; details?: Record<string, unknown> },
): { stop(): Promise<void> } {
  const now = options.now ?? (() => new Date());
  let running: Promise<void> | undefined;
  const tick = (): void => {
    if (running) return;
    running = purge(new Date(now().getTime() - options.ageMs))
      .then((purged) => {
        if (purged > 0) options.log.info(`purged ${options.what}`, { purged, ...options.details });
      }, (err: unknown) => options.log.warn(`purging ${options.what} failed; retrying at the next tick`, { err }))
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
