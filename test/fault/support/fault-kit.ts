import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Topics } from '@flotilla/contracts';

/** FAULT_DEBUG=<file>: progress lines appended to that file (Jest buffers console output). */
export function debug(line: string): void {
  const file = process.env['FAULT_DEBUG'];
  if (file) appendFileSync(file, `${new Date().toISOString().slice(11, 19)} ${line}\n`);
}
import { ChatClient } from '../../support/chat-client';
import { KcatMessage } from '../../support/kcat';
import { SystemUnderTest } from '../../support/system';

/*
 * The fault suite's toolkit: load generation through the public edges (REST and WebSocket), the
 * bookkeeping every case reports (accepted / completed / failed / lost / duplicated side effects),
 * event-log checks, and the results table (tmp/fault-table.md). Everything here goes through public
 * behaviour: REST, WebSocket, the topics @flotilla/contracts defines (driven by kcat), and the sample
 * business service's test-control routes.
 */

function findRoot(dir: string): string {
  for (let d = dir; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, 'nx.json'))) return d;
  throw new Error(`no nx.json above ${dir}`);
}
export const ROOT = findRoot(__dirname);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One row of the results table. */
export interface CaseRow {
  case: string;
  accepted: number;
  completed: number;
  failed: number;
  failedReasons: Record<string, number>;
  lost: number;
  duplicated: number;
  notes: string;
  seconds: number;
  ok: boolean;
}

const ROWS_FILE = join(ROOT, 'tmp', 'fault-rows.json');
const TABLE_FILE = join(ROOT, 'tmp', 'fault-table.md');

/**
 * Appends a row and rewrites tmp/fault-table.md. Jest runs the suite's files in one process
 * (--runInBand), so rows left by an earlier process (an earlier run) are dropped.
 */
export function recordRow(row: CaseRow): void {
  mkdirSync(dirname(ROWS_FILE), { recursive: true });
  let state: { pid: number; rows: CaseRow[] } = { pid: process.pid, rows: [] };
  try {
    const prev = JSON.parse(readFileSync(ROWS_FILE, 'utf8')) as typeof state;
    if (prev.pid === process.pid) state = prev;
  } catch {
    // first row of this run
  }
  state.rows = state.rows.filter((r) => r.case !== row.case).concat(row);
  writeFileSync(ROWS_FILE, JSON.stringify(state, null, 2));
  const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '| case | accepted | completed | failed (terminal, with reason) | lost | duplicated side effects | notes / time |',
    '|---|---|---|---|---|---|---|',
    ...state.rows.map((r) => {
      const reasons = Object.entries(r.failedReasons).map(([k, v]) => `${v}× ${k}`).join('; ');
      return `| ${r.ok ? '' : '**FAIL** '}${esc(r.case)} | ${r.accepted} | ${r.completed} | ${r.failed}${reasons ? ` (${esc(reasons)})` : ''} | ${r.lost} | ${r.duplicated} | ${esc(r.notes)}; ${r.seconds} s |`;
    }),
  ];
  writeFileSync(TABLE_FILE, `${lines.join('\n')}\n`);
}

/** Every message on a topic (kcat; a large output buffer, as the event log of 1000+ workflows is big). */
export function consumeAll(sut: SystemUnderTest, topic: string, timeoutMs = 60_000): KcatMessage[] {
  const out = execFileSync('kcat', ['-b', sut.kafkaBrokers, '-C', '-t', sut.namespace + topic, '-o', 'beginning', '-e', '-J', '-q', '-X', 'fetch.message.max.bytes=4000000'], { timeout: timeoutMs, maxBuffer: 1024 * 1024 * 1024 }).toString();
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as KcatMessage);
}

/** JSON.parse that yields undefined for what is not JSON (topics may hold poison messages). */
export function parseOrUndefined<T>(text: string | null | undefined): T | undefined {
  try {
    return JSON.parse(text ?? '') as T;
  } catch {
    return undefined;
  }
}

/** Request ids answered on the results topic (RequestAnswered), a cheap progress signal. */
export function answeredRequestIds(sut: SystemUnderTest): Set<string> {
  const ids = new Set<string>();
  for (const m of consumeAll(sut, Topics.results.name)) if (m.key) ids.add(m.key);
  return ids;
}

// --- workload -------------------------------------------------------------------------------------

/** The workload mix: order status (tool agent), policy (retriever), refund asks, product search. */
export function questionFor(i: number): string {
  const orders = ['1001', '1002', '1003', '1004', '1005'];
  const order = orders[i % orders.length]!;
  switch (i % 10) {
    case 0: case 3: case 6:
      return `Where is my order ${order} and can I get delivery by tomorrow?`;
    case 1: case 7:
      return i % 20 < 10 ? 'What is your warranty policy?' : 'How long do I have to return an item?';
    case 2: case 8:
      // No amount: the order is looked up and the answer asks for one. A refund with an amount would
      // wait for a confirmation nobody in the load gives (docs/adr/0012) and end expired.
      return `Can I get a refund on order ${order}?`;
    case 4:
      return 'Do you sell a rechargeable headlamp?';
    default:
      return `What is the status of order ${order}?`;
  }
}

export interface Submitted {
  requestId: string;
  workflowId?: string;
  channel: 'rest' | 'ws';
  /** When the 202 / accepted frame arrived. */
  acceptedAt?: number;
  /** Why it was never accepted, if so. */
  rejected?: string;
  /** Never submitted: the load was stopped first. */
  skipped?: boolean;
}

export interface LoadOptions {
  count: number;
  concurrency: number;
  /** Share of asks sent over WebSocket (the rest through REST). */
  wsShare: number;
  prefix: string;
  /** How long a single submission keeps retrying (e.g. while the gateway is down). */
  retryForMs: number;
  question?: (i: number) => string;
  /** Pause between submissions of one worker (spreads the load over time). */
  paceMs?: number;
}

/** Submits `count` workflows at bounded concurrency; resolves when every submission was accepted or gave up. */
export class Load {
  readonly items: Submitted[] = [];
  private readonly chats: (ChatClient | undefined)[] = [];
  private stopped = false;
  done: Promise<void> = Promise.resolve();

  constructor(private readonly sut: SystemUnderTest, private readonly opts: LoadOptions) {
    for (let i = 0; i < opts.count; i++) {
      this.items.push({ requestId: `${opts.prefix}-${i}-${randomBytes(3).toString('hex')}`, channel: (i * 7919) % 100 < opts.wsShare * 100 ? 'ws' : 'rest' });
    }
  }

  get accepted(): Submitted[] {
    return this.items.filter((s) => s.workflowId);
  }

  start(): this {
    let next = 0;
    const worker = async (w: number): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= this.items.length) return;
        if (this.stopped) {
          this.items[i]!.skipped = true;
          continue;
        }
        await this.submit(i, w);
        if (this.opts.paceMs) await sleep(this.opts.paceMs);
      }
    };
    this.done = Promise.all(Array.from({ length: this.opts.concurrency }, (_, w) => worker(w))).then(() => undefined);
    return this;
  }

  /** Submits nothing more (what was not submitted yet is left out of the case). */
  stop(): void {
    this.stopped = true;
  }

  close(): void {
    for (const c of this.chats) c?.close();
  }

  private async chat(w: number): Promise<ChatClient | undefined> {
    const c = this.chats[w];
    if (c?.open) return c;
    try {
      this.chats[w] = await ChatClient.connect(this.sut.wsUrl);
    } catch {
      this.chats[w] = undefined;
    }
    return this.chats[w];
  }

  private async submit(i: number, w: number): Promise<void> {
    const item = this.items[i]!;
    const question = (this.opts.question ?? questionFor)(i);
    const deadline = Date.now() + this.opts.retryForMs;
    let lastError = '';
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      // WebSocket first for its share; a dropped connection falls back to REST with the same requestId.
      if (item.channel === 'ws' && attempt === 0) {
        const chat = await this.chat(w);
        if (chat) {
          const from = chat.frames.length;
          try {
            chat.send({ type: 'ask', question, requestId: item.requestId });
            const f = await chat.next((fr) => (fr.type === 'accepted' && fr['requestId'] === item.requestId) || (fr.type === 'error' && fr['requestId'] === item.requestId), 10_000, from);
            if (f.type === 'accepted') {
              item.workflowId = f['workflowId'] as string;
              item.acceptedAt = Date.now();
              return;
            }
            lastError = `ws error ${JSON.stringify(f)}`;
          } catch (err) {
            lastError = `ws: ${(err as Error).message.slice(0, 200)}`;
          }
        }
      }
      try {
        const r = await fetch(`${this.sut.gatewayUrl}/v1/workflows`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question, requestId: item.requestId }), signal: AbortSignal.timeout(15_000),
        });
        const body = (await r.json().catch(() => ({}))) as Record<string, unknown>;
        if (r.status === 202) {
          item.workflowId = body['workflowId'] as string;
          item.acceptedAt = Date.now();
          return;
        }
        lastError = `HTTP ${r.status} ${JSON.stringify(body).slice(0, 200)}`;
        if (r.status >= 400 && r.status < 500 && r.status !== 429) break;
      } catch (err) {
        lastError = `${(err as Error).message}${(err as { cause?: Error }).cause ? `: ${(err as { cause: Error }).cause.message}` : ''}`;
      }
      await sleep(Math.min(2000, 200 * 2 ** Math.min(attempt, 4)));
    }
    item.rejected = lastError || 'gave up';
  }
}

// --- terminal states and event-log checks --------------------------------------------------------

export interface WorkflowView {
  workflowId: string;
  status: string;
  failure?: { code: string; reason: string };
  model?: { provider: string; model: string };
  events: { sequence: number; type: string; id: string; data: Record<string, unknown> }[];
}

export async function getWorkflow(sut: SystemUnderTest, workflowId: string, timeoutMs = 10_000): Promise<WorkflowView | undefined> {
  try {
    const r = await fetch(`${sut.gatewayUrl}/v1/workflows/${workflowId}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (r.status !== 200) return undefined;
    return (await r.json()) as WorkflowView;
  } catch {
    return undefined;
  }
}

const TERMINAL = new Set(['completed', 'failed']);

interface Envelope { type: string; id: string; data: Record<string, unknown>; metadata?: Record<string, unknown> }

/** One workflow's events as the workflow-events topic holds them (committed records only). */
export interface LoggedWorkflow {
  events: { sequence: number; type: string; id: string; data: Record<string, unknown> }[];
  /** Records that repeat an event id already seen (redelivered publishes: harmless if identical). */
  repeats: number;
  conflicts: string[];
}

/** The raw event log (read with kcat), grouped by workflow. Event ids are `<workflowId>:<sequence>`. */
export function readEventLog(sut: SystemUnderTest, only?: Set<string>): Map<string, LoggedWorkflow> {
  const out = new Map<string, LoggedWorkflow>();
  for (const m of consumeAll(sut, Topics.workflowEvents.name, 120_000)) {
    let e: Envelope;
    try {
      e = JSON.parse(m.payload ?? '') as Envelope;
    } catch {
      continue;
    }
    const wf = String(e.metadata?.['workflowId'] ?? m.key ?? '');
    if (only && !only.has(wf)) continue;
    const w = out.get(wf) ?? { events: [], repeats: 0, conflicts: [] };
    out.set(wf, w);
    const seqText = /:(\d+)$/.exec(e.id ?? '')?.[1];
    const sequence = seqText === undefined ? Number(e.metadata?.['sequence'] ?? -1) : Number(seqText);
    const same = w.events.find((x) => x.sequence === sequence);
    if (same) {
      if (same.type !== e.type) w.conflicts.push(`sequence ${sequence} is both ${same.type} and ${e.type}`);
      else w.repeats += 1;
      continue;
    }
    w.events.push({ sequence, type: e.type, id: e.id, data: e.data ?? {} });
  }
  for (const w of out.values()) w.events.sort((a, b) => a.sequence - b.sequence);
  return out;
}

/** Event-log problems of one workflow: contiguous sequences, one start, at most one end, steps completed once. */
export function eventLogProblems(workflowId: string, w: LoggedWorkflow): string[] {
  const problems = w.conflicts.map((c) => `${workflowId}: ${c}`);
  const seqs = w.events.map((e) => e.sequence);
  if (seqs.some((s, i) => s !== i)) problems.push(`${workflowId}: sequences not contiguous from 0 (${seqs.join(',')})`);
  const count = (t: string): number => w.events.filter((e) => e.type === t).length;
  if (count('WorkflowStarted') !== 1) problems.push(`${workflowId}: ${count('WorkflowStarted')} WorkflowStarted`);
  if (count('WorkflowCompleted') + count('WorkflowFailed') > 1) problems.push(`${workflowId}: ${count('WorkflowCompleted')} WorkflowCompleted + ${count('WorkflowFailed')} WorkflowFailed`);
  const terminalAt = w.events.findIndex((e) => e.type === 'WorkflowCompleted' || e.type === 'WorkflowFailed');
  if (terminalAt >= 0 && terminalAt !== w.events.length - 1) problems.push(`${workflowId}: events after the terminal event (${w.events.slice(terminalAt + 1).map((e) => e.type).join(',')})`);
  // A step completes once per attempt that was scheduled; a revision legitimately re-runs compose/validate.
  const completed = w.events.filter((e) => e.type === 'StepCompleted').map((e) => `${String(e.data['stepId'])}`);
  const dup = completed.filter((s, i) => completed.indexOf(s) !== i);
  const revisions = count('AnswerRevisionRequested');
  const unexplained = dup.filter((s) => !(revisions > 0 && (s === 'compose' || s === 'validate')));
  if (unexplained.length) problems.push(`${workflowId}: step(s) completed twice: ${[...new Set(unexplained)].join(', ')}`);
  return problems;
}

// --- side effects --------------------------------------------------------------------------------

export interface RefundLedger { refundsCreated: number; keys: Record<string, { requests: number; created: number }> }

export async function refundLedger(sut: SystemUnderTest): Promise<RefundLedger> {
  return (await (await fetch(`${sut.businessUrl}/_refunds`)).json()) as RefundLedger;
}

/**
 * Side-effecting work without a user to confirm it (a workflow's refund waits for the user's
 * confirmation, docs/adr/0012): refund.request tasks published on the tool agent's task topic, as
 * the coordinator dispatches them once confirmed (with a `confirmation`), cloned from a real task on
 * that topic so that the contract's current shape is kept. Returns the task ids.
 */
export function publishRefundTasks(sut: SystemUnderTest, n: number, prefix: string): { taskIds: string[]; workflowIds: string[] } {
  let topic = '';
  let template: Envelope | undefined;
  for (const candidate of toolTaskTopics()) {
    template = consumeAll(sut, candidate).map((m) => parseOrUndefined<Envelope>(m.payload)).find((e): e is Envelope => !!e && e.type === 'ExecuteStep' && e.data['kind'] === 'tool');
    topic = candidate;
    if (template) break;
  }
  if (!template) throw new Error(`no ExecuteStep on ${toolTaskTopics().join(', ')} to clone a refund task from (run some order workflows first)`);
  const taskIds: string[] = [];
  const workflowIds: string[] = [];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const workflowId = `wf_${prefix}_${i}_${randomBytes(4).toString('hex')}`;
    const taskId = `task_${prefix}_${i}_${randomBytes(4).toString('hex')}`;
    const orderId = ['1001', '1002', '1004'][i % 3]!;
    const data = {
      ...template.data, workflowId, stepId: 'request-refund', taskId, attempt: 1, kind: 'tool',
      input: { tool: 'refund.request', args: { orderId, amount: 0.01, reason: `fault suite ${prefix} #${i}` } },
      // As the coordinator dispatches it once the user confirmed: the tool agent refuses a side effect without one.
      confirmation: { confirmedBy: 'fault-suite', confirmedAt: new Date().toISOString() },
      context: { ...(template.data['context'] as Record<string, unknown>), question: `Please refund $0.01 on order ${orderId}.`, startedAt: new Date().toISOString() },
    };
    const msg = { ...template, id: `cmd_${taskId}`, data, metadata: { ...(template.metadata ?? {}), workflowId, occurredAt: new Date().toISOString() } };
    lines.push(`${workflowId}\t${JSON.stringify(msg)}`);
    taskIds.push(taskId);
    workflowIds.push(workflowId);
  }
  // key<TAB>value per line: one kcat call for all of them.
  execFileSync('kcat', ['-b', sut.kafkaBrokers, '-P', '-t', sut.namespace + topic, '-K', '\t'], { input: `${lines.join('\n')}\n`, timeout: 30_000 });
  return { taskIds, workflowIds };
}

/** The tool agent's task topics, whatever @flotilla/contracts calls them (per-lane topics: interactive first). */
export function toolTaskTopics(): string[] {
  const tool = Object.values(Topics).map((t) => t.name).filter((n) => /task/.test(n) && /tool/.test(n));
  return [...tool.filter((n) => /interactive/.test(n)), ...tool.filter((n) => !/interactive/.test(n))];
}

/** Step results (any outcome) reported for the given task ids, read from the step-results topics (one per lane). */
export function stepResultsFor(sut: SystemUnderTest, taskIds: Set<string>): Map<string, string[]> {
  const resultsTopics = Object.values(Topics).map((t) => t.name).filter((n) => /step-results/.test(n));
  const out = new Map<string, string[]>();
  for (const m of resultsTopics.flatMap((topic) => consumeAll(sut, topic))) {
    let e: Envelope;
    try {
      e = JSON.parse(m.payload ?? '') as Envelope;
    } catch {
      continue;
    }
    const taskId = String(e.data?.['taskId'] ?? '');
    if (!taskIds.has(taskId)) continue;
    out.set(taskId, [...(out.get(taskId) ?? []), e.type]);
  }
  return out;
}

// --- a whole case --------------------------------------------------------------------------------

export interface Tally {
  accepted: number;
  completed: number;
  failed: number;
  failedReasons: Record<string, number>;
  lost: string[];
  notAccepted: Submitted[];
  logProblems: string[];
  /** Redelivered duplicate event records (same id): harmless, reported. */
  repeats: number;
  /** Terminal per GET /v1/workflows/:id (the read model), of those checked within its bound. */
  viaGet: { checked: number; terminal: number; mismatched: string[]; statuses: Record<string, number> };
  seconds: number;
}

/**
 * Waits (bounded) until every accepted workflow is answered on the results topic, then judges each
 * from the event log itself (terminal = WorkflowCompleted / WorkflowFailed on the workflow-events
 * topic) and cross-checks the read model (GET /v1/workflows/:id) within `getBoundMs`.
 */
export async function tally(sut: SystemUnderTest, load: Load, timeoutMs: number, opts: { getBoundMs?: number; progress?: (answered: number) => void } = {}): Promise<Tally> {
  const started = Date.now();
  await load.done;
  const accepted = load.accepted;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let answered = new Set<string>();
    try {
      answered = answeredRequestIds(sut);
    } catch (err) {
      debug(`results topic unreadable: ${(err as Error).message.slice(0, 200)}`);
    }
    const n = accepted.filter((s) => answered.has(s.requestId)).length;
    opts.progress?.(n);
    debug(`answered ${n}/${accepted.length}`);
    if (Date.now() > deadline) break;
    if (n === accepted.length) {
      // Every answer is out; the log must show every end too. A killed coordinator's open
      // transaction holds read_committed readers (this one, the projector, the agents) before its
      // first offset on each partition it wrote until the broker aborts it (transaction timeout,
      // 30 s): an answer on the results topic can be readable while the events beside it are not yet.
      const ends = readEventLog(sut, new Set(accepted.map((s) => s.workflowId!)));
      const open = accepted.filter((s) => !ends.get(s.workflowId!)?.events.some((e) => e.type === 'WorkflowCompleted' || e.type === 'WorkflowFailed')).length;
      debug(`answered ${n}/${accepted.length}; ${open} without their end in the log yet`);
      if (open === 0) break;
    }
    await sleep(3000);
  }
  const ids = new Set(accepted.map((s) => s.workflowId!));
  const log = readEventLog(sut, ids);
  const t: Tally = {
    accepted: accepted.length, completed: 0, failed: 0, failedReasons: {}, lost: [], notAccepted: load.items.filter((s) => !s.workflowId && !s.skipped), logProblems: [], repeats: 0,
    viaGet: { checked: 0, terminal: 0, mismatched: [], statuses: {} }, seconds: 0,
  };
  const status = new Map<string, string>();
  for (const id of ids) {
    const w = log.get(id);
    const end = w?.events.find((e) => e.type === 'WorkflowCompleted' || e.type === 'WorkflowFailed');
    if (end?.type === 'WorkflowCompleted') {
      t.completed += 1;
      status.set(id, 'completed');
    } else if (end?.type === 'WorkflowFailed') {
      t.failed += 1;
      status.set(id, 'failed');
      const reason = `${String(end.data['code'] ?? (end.data['error'] as Record<string, unknown> | undefined)?.['code'] ?? '?')}: ${String(end.data['reason'] ?? end.data['message'] ?? JSON.stringify(end.data)).slice(0, 120)}`;
      t.failedReasons[reason] = (t.failedReasons[reason] ?? 0) + 1;
    } else t.lost.push(`${id} (${w ? `last event ${w.events.at(-1)?.type ?? 'none'}` : 'no events'})`);
    if (w) {
      t.logProblems.push(...eventLogProblems(id, w));
      t.repeats += w.repeats;
    }
  }
  // The read model: GET every accepted workflow once more, bounded; it may trail the log.
  const getDeadline = Date.now() + (opts.getBoundMs ?? 20_000);
  const queue = [...ids];
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (;;) {
      const id = queue.shift();
      if (!id || Date.now() > getDeadline) return;
      const v = await getWorkflow(sut, id);
      t.viaGet.checked += 1;
      const st = v?.status ?? 'no answer (error / timeout)';
      t.viaGet.statuses[st] = (t.viaGet.statuses[st] ?? 0) + 1;
      if (v && TERMINAL.has(v.status)) {
        t.viaGet.terminal += 1;
        if (status.get(id) && v.status !== status.get(id)) t.viaGet.mismatched.push(`${id}: GET ${v.status}, log ${status.get(id)}`);
        const ends = v.events.filter((e) => e.type === 'WorkflowCompleted' || e.type === 'WorkflowFailed').length;
        if (ends > 1) t.logProblems.push(`${id}: GET shows ${ends} terminal events`);
      }
    }
  }));
  t.seconds = elapsed(started);
  debug(`tally: ${JSON.stringify({ ...t, notAccepted: t.notAccepted.length, lost: t.lost.slice(0, 5), logProblems: t.logProblems.slice(0, 5) })}`);
  return t;
}

/** Short tail of a process's log, for failure messages. */
export function tail(sut: SystemUnderTest, name: string, chars = 3000): string {
  return `--- ${name} (last ${chars} chars) ---\n${sut.logs(name).slice(-chars)}`;
}

export function elapsed(since: number): number {
  return Math.round((Date.now() - since) / 1000);
}
