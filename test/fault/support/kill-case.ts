import { CaseRow, debug, elapsed, Load, publishRefundTasks, recordRow, refundLedger, RefundLedger, sleep, stepResultsFor, tail, Tally, tally } from './fault-kit';
import { SystemUnderTest } from '../../support/system';

/** How many workflows each load case keeps in flight (FAULT_WORKFLOWS overrides; default 200). */
export const WORKFLOWS = Number(process.env['FAULT_WORKFLOWS'] ?? 200);
/** Refund tasks published next to each case's workflows: the side effects counted at the sample service. */
export const REFUND_TASKS = Number(process.env['FAULT_REFUND_TASKS'] ?? 20);

export interface LoadCaseResult { row: CaseRow; tally: Tally; problems: string[] }

/**
 * One load case: `count` workflows submitted (REST + WebSocket, bounded concurrency) and
 * REFUND_TASKS refund tasks published; once most are accepted and in flight, `fault` runs; then
 * everything must end (bounded), each workflow once, each refund once.
 */
export async function loadCase(sut: SystemUnderTest, name: string, fault: (load: Load) => Promise<string>, opts: { prefix: string; acceptedBeforeFault: number; boundMs?: number }): Promise<LoadCaseResult> {
  const started = Date.now();
  const before: RefundLedger = await refundLedger(sut);
  const load = new Load(sut, { count: WORKFLOWS, concurrency: 16, wsShare: 0.2, prefix: opts.prefix, retryForMs: 120_000 }).start();
  const waitUntil = Date.now() + 120_000;
  while (load.accepted.length < opts.acceptedBeforeFault && Date.now() < waitUntil && load.items.some((s) => !s.workflowId && !s.rejected)) await sleep(100);
  const refunds = publishRefundTasks(sut, REFUND_TASKS, opts.prefix.replace(/[^a-z0-9]/gi, ''));
  debug(`${name}: fault at ${elapsed(started)}s with ${load.accepted.length} accepted`);
  const faultNote = await fault(load);
  debug(`${name}: fault done at ${elapsed(started)}s (${faultNote})`);
  const t = await tally(sut, load, opts.boundMs ?? 240_000);
  load.close();

  // Side effects at the sample service: at most one refund per idempotency key; each refund task reported.
  let refundsReported = 0;
  const reported = new Map<string, string[]>();
  for (let i = 0; i < 20; i++) {
    for (const [k, v] of stepResultsFor(sut, new Set(refunds.taskIds))) reported.set(k, v);
    refundsReported = reported.size;
    if (refundsReported === refunds.taskIds.length) break;
    await sleep(2000);
  }
  const after = await refundLedger(sut);
  const newKeys = Object.entries(after.keys).filter(([k]) => !(k in before.keys) || after.keys[k]!.created !== before.keys[k]!.created || after.keys[k]!.requests !== before.keys[k]!.requests);
  const duplicatedRefunds = Object.values(after.keys).reduce((n, k) => n + Math.max(0, k.created - 1), 0);
  const createdNow = after.refundsCreated - before.refundsCreated;
  const replays = newKeys.reduce((n, [, k]) => n + k.requests, 0) - createdNow;

  const problems: string[] = [];
  if (t.lost.length) problems.push(`${t.lost.length} lost: ${t.lost.slice(0, 10).join(', ')}`);
  if (duplicatedRefunds) problems.push(`${duplicatedRefunds} refund(s) created twice for one idempotency key`);
  if (t.logProblems.length) problems.push(`event log: ${t.logProblems.slice(0, 10).join(' | ')}`);
  if (refundsReported < refunds.taskIds.length) problems.push(`refund tasks: ${refunds.taskIds.length - refundsReported} of ${refunds.taskIds.length} never reported a step result (lost side-effect tasks)`);
  if (createdNow !== refunds.taskIds.length) problems.push(`refunds created ${createdNow}, expected exactly ${refunds.taskIds.length}`);
  if (t.viaGet.mismatched.length) problems.push(`read model disagrees with the log: ${t.viaGet.mismatched.slice(0, 5).join(', ')}`);
  if (t.notAccepted.length) problems.push(`${t.notAccepted.length} submission(s) never accepted: ${[...new Set(t.notAccepted.map((s) => s.rejected))].slice(0, 3).join(' | ')}`);

  const notes = [
    faultNote,
    `refund tasks ${refundsReported}/${refunds.taskIds.length} reported, ${createdNow} refunds created, ${replays} idempotent replays`,
    `read model (GET /v1/workflows/:id): ${t.viaGet.terminal}/${t.viaGet.checked} terminal (${Object.entries(t.viaGet.statuses).map(([k, v]) => `${v} ${k}`).join(', ')})`,
    t.repeats ? `${t.repeats} redelivered event records (same id)` : '',
    t.notAccepted.length ? `${t.notAccepted.length} not accepted` : '',
    t.logProblems.length ? `${t.logProblems.length} event-log problems` : '',
  ].filter(Boolean).join('; ');
  const row: CaseRow = {
    case: name, accepted: t.accepted, completed: t.completed, failed: t.failed, failedReasons: t.failedReasons, lost: t.lost.length,
    duplicated: duplicatedRefunds + t.logProblems.filter((p) => /terminal|twice/.test(p)).length, notes, seconds: elapsed(started), ok: problems.length === 0,
  };
  recordRow(row);
  return { row, tally: t, problems };
}

/** Fails the case with everything needed to diagnose it. */
export function expectClean(sut: SystemUnderTest, r: LoadCaseResult, services: string[]): void {
  if (r.problems.length === 0) return;
  throw new Error(`${r.row.case}:\n- ${r.problems.join('\n- ')}\n\n${services.map((s) => tail(sut, s, 2500)).join('\n')}`);
}
