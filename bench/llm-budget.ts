/**
 * Shared LLM rate budgets under load, in simulated time (runs in about a second):
 *   npx tsc -b libs/llm && npx tsc -p bench/tsconfig.json && node tmp/bench/bench/llm-budget.js [requests] [replicas] [headroom]
 * Router replicas (default 4) share one CounterStore and one simulated OpenAI-compatible provider
 * that enforces 60 RPM / 40,000 TPM over a rolling minute and answers 429 past them. 500 requests
 * (default) of 300-900 tokens: 70% batch, queued at the start; 30% interactive, arriving throughout
 * with a 30 s deadline. Replica clocks are skewed by up to ±250 ms and calls reach the provider
 * 20-250 ms after admission. Reports the provider's 429s (target 0), the utilisation of the binding
 * limit (target 85-90%), and how long interactive and batch requests waited. Try headroom 0 to see
 * what the headroom is for.
 */
import { runBudgetSimulation } from '@flotilla/llm';

async function main(): Promise<void> {
  const requests = Number(process.argv[2] ?? 500);
  const replicas = Number(process.argv[3] ?? 4);
  const headroom = Number(process.argv[4] ?? 0.1);
  const started = Date.now();
  const r = await runBudgetSimulation({ requests, replicas, headroom });
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  console.log(JSON.stringify(r, null, 2));
  console.log([
    '',
    `${r.requests} requests, ${r.replicas} replicas sharing one counter store, provider limits ${r.limits.rpm} RPM / ${r.limits.tpm} TPM, headroom ${pct(r.headroom)}`,
    `simulated ${s(r.simulatedMs)} in ${Date.now() - started} ms of wall time`,
    `provider: ${r.provider.calls} calls, ${r.provider.rateLimited} answered 429; busiest rolling minute ${r.provider.peakWindow.requests} requests / ${r.provider.peakWindow.tokens} tokens`,
    `utilisation of the binding limit (${r.utilisation.binding}): ${pct(r.utilisation.ofBindingLimit)} steady state `
      + `(rpm ${pct(r.utilisation.rpm)}, tpm ${pct(r.utilisation.tpm)}); whole run incl. the first minute's ramp: rpm ${pct(r.utilisation.wholeRun.rpm)}, tpm ${pct(r.utilisation.wholeRun.tpm)}`,
    ...(['interactive', 'batch'] as const).map((lane) => {
      const w = r.waits[lane];
      return `${lane} (${w.requests}): wait p50 ${s(w.p50Ms)}, p95 ${s(w.p95Ms)}, max ${s(w.maxMs)}, mean ${s(w.meanMs)}; degraded to the fallback ${w.degraded}, failed ${w.failed}`;
    }),
  ].join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
