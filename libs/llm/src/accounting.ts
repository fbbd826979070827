import { CompletionResult, Usage } from './port';

/** A model's prices in USD per million tokens. */
export interface ModelPrices {
  inputPer1M: number;
  outputPer1M: number;
}

export const FREE: ModelPrices = Object.freeze({ inputPer1M: 0, outputPer1M: 0 });

/** What a call's usage cost at `prices`, in USD. */
export function costOf(usage: Pick<Usage, 'promptTokens' | 'completionTokens'>, prices: ModelPrices): number {
  return roundUsd((usage.promptTokens * prices.inputPer1M + usage.completionTokens * prices.outputPer1M) / 1_000_000);
}

/** The totals of several calls, shaped like `TokenUsageV1` (what a step reports). */
export interface UsageTotals {
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  calls: number;
  cachedCalls: number;
}

/** Sums results (or earlier totals) into one {@link UsageTotals}: every result is one call. */
export function sumUsage(items: Iterable<Pick<CompletionResult, 'usage' | 'cached'> | UsageTotals>): UsageTotals {
  const total: UsageTotals = { promptTokens: 0, completionTokens: 0, costUsd: 0, calls: 0, cachedCalls: 0 };
  for (const item of items) {
    if ('calls' in item) {
      total.promptTokens += item.promptTokens;
      total.completionTokens += item.completionTokens;
      total.costUsd += item.costUsd;
      total.calls += item.calls;
      total.cachedCalls += item.cachedCalls;
      continue;
    }
    total.promptTokens += item.usage.promptTokens;
    total.completionTokens += item.usage.completionTokens;
    total.costUsd += item.usage.costUsd ?? 0;
    total.calls += 1;
    if (item.cached) total.cachedCalls += 1;
  }
  total.costUsd = roundUsd(total.costUsd);
  return total;
}

/** Nano-dollar precision: exact enough for per-token prices, and sums do not show float noise. */
function roundUsd(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}
