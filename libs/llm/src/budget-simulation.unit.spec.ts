import { runBudgetSimulation } from './budget-simulation';

describe('budget simulation (small)', () => {
  it('keeps four replicas under the provider\'s limits while using most of them, interactive requests first', async () => {
    const report = await runBudgetSimulation({ requests: 150, replicas: 4 });
    expect(report.provider.rateLimited).toBe(0);
    expect(report.provider.calls).toBe(150);
    expect(report.provider.peakWindow.requests).toBeLessThanOrEqual(60);
    expect(report.provider.peakWindow.tokens).toBeLessThanOrEqual(40_000);
    expect(report.utilisation.binding).toBe('rpm');
    expect(report.utilisation.ofBindingLimit).toBeGreaterThanOrEqual(0.8);
    expect(report.utilisation.ofBindingLimit).toBeLessThanOrEqual(0.9);
    const { interactive, batch } = report.waits;
    expect(interactive.requests + batch.requests).toBe(150);
    expect(interactive.failed + batch.failed).toBe(0);
    expect(interactive.p95Ms).toBeLessThan(batch.p50Ms);
    expect(interactive.p50Ms).toBeLessThan(2_000);
  });

  it('is deterministic for a seed', async () => {
    const a = await runBudgetSimulation({ requests: 40, replicas: 2, seed: 7 });
    const b = await runBudgetSimulation({ requests: 40, replicas: 2, seed: 7 });
    expect(a).toEqual(b);
  });
});
