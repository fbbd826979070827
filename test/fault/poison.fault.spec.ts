import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_MESSAGE_BYTES, Topics } from '@flotilla/contracts';
import { ChatClient } from '../support/chat-client';
import { requireKcat } from '../support/kcat';
import { SystemUnderTest } from '../support/system';
import { CaseRow, consumeAll, debug, elapsed, getWorkflow, parseOrUndefined, readEventLog, recordRow, sleep, tail } from './support/fault-kit';

/*
 * Poison messages on every consumed topic — whatever @flotilla/contracts `Topics` defines now: on
 * partition 0 invalid JSON, wrong schema, unknown version, huge (over the contracts' size limit),
 * wrong types, missing key and binary; on every other partition invalid JSON and wrong types. Each must land in the DLQ (GET /v1/dlq) with its reason,
 * and the consumers must keep going: workflows started after the poison (whose messages follow it on
 * the same partitions) complete, over REST and WebSocket, and a document ingested after it is reported.
 * Skipped: topics nobody in the system consumes — the results topic (read by outside systems) and
 * the dead-letter topic itself (a dead letter of a dead letter would land where it came from).
 */
jest.setTimeout(900_000);

let sut: SystemUnderTest;
const SKIPPED = (name: string): string | undefined => (/\.results\./.test(name) ? 'results: consumed only by outside systems' : /\.dlq\./.test(name) ? 'dlq: the dead-letter topic itself' : undefined);
const topics = Object.values(Topics).filter((t) => !SKIPPED(t.name));
const skipped = Object.values(Topics).filter((t) => SKIPPED(t.name)).map((t) => `${t.name} (${SKIPPED(t.name)})`);

interface DlqItem { id: string; sourceTopic: string; partition: number; offset: string | number; key?: string | null; reason: string; errorCode?: string; payload: string; payloadEncoding?: string }

async function dlq(): Promise<DlqItem[]> {
  const r = await fetch(`${sut.gatewayUrl}/v1/dlq?limit=200`, { signal: AbortSignal.timeout(30_000) });
  if (r.status !== 200) throw new Error(`GET /v1/dlq: HTTP ${r.status}`);
  return ((await r.json()) as { items: DlqItem[] }).items;
}

const VARIANTS = ['invalid JSON', 'wrong schema', 'unknown version', 'huge', 'wrong types', 'missing key', 'binary'] as const;
type Variant = (typeof VARIANTS)[number];

/** The poison bytes of one variant, each carrying `marker` so its dead-letter record can be found. */
function poison(variant: Variant, type: string, marker: string): Buffer {
  switch (variant) {
    case 'invalid JSON':
      return Buffer.from(`{"type":"${type}","version":1,"id":"${marker}","data":{ not json`);
    case 'wrong schema':
      return Buffer.from(JSON.stringify({ kind: type, rev: 1, marker, payload: { unexpected: true } }));
    case 'unknown version':
      return Buffer.from(JSON.stringify({ type, version: 99, id: marker, data: {}, metadata: { occurredAt: new Date().toISOString() } }));
    case 'huge': {
      // Valid JSON past the contracts' limit, full of short strings (so the dead-letter record, which
      // carries the payload as a JSON string, grows further when escaped).
      const head = `{"type":"${type}","version":1,"id":"${marker}","data":{"padding":[`;
      const n = Math.ceil((MAX_MESSAGE_BYTES + 1000 - head.length) / 6);
      return Buffer.from(`${head}${Array.from({ length: n }, () => '"abc"').join(',')}]}}`);
    }
    case 'wrong types':
      return Buffer.from(JSON.stringify({ type, version: 1, id: marker, data: { workflowId: 42, requestId: 42, tenantId: 42, question: 42, stepId: 42, taskId: 42, attempt: 'one', kind: 7, docId: 42, version: 'x', text: 7 }, metadata: { occurredAt: 42, tenantId: 7 } }));
    case 'missing key':
      return Buffer.from(JSON.stringify({ type, version: 1, id: marker, data: null }));
    case 'binary':
      return Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28]), Buffer.from(marker), Buffer.from([0xa0, 0xa1])]);
  }
}

function found(item: DlqItem, marker: string): boolean {
  const text = item.payloadEncoding === 'base64' ? Buffer.from(item.payload, 'base64').toString('latin1') : item.payload;
  return text.includes(marker);
}

beforeAll(async () => {
  requireKcat();
  sut = await SystemUnderTest.start('distributed');
}, 300_000);

afterAll(async () => {
  await sut?.stop();
});

describe('poison messages on every consumed topic', () => {
  it('each lands in the DLQ with its reason; every consumer keeps going and processes the next valid message', async () => {
    const started = Date.now();
    const problems: string[] = [];
    const perTopic: string[] = [];
    const poisonOffsets = new Map<string, Map<number, number>>();
    const markers = new Map<string, { topic: string; variant: Variant; partition: number }>();
    const dir = mkdtempSync(join(tmpdir(), 'fault-poison-'));
    try {
      for (const topic of topics) {
        const type = topic.messages[0]?.type ?? 'Unknown';
        for (let p = 0; p < topic.partitions; p++) {
          const keyed: string[] = [];
          const unkeyed: string[] = [];
          // Every kind on partition 0; invalid JSON on every other partition, so that each partition
          // has poison ahead of the valid traffic that follows (huge ones are few: the inbox lists them whole).
          for (const variant of p === 0 ? VARIANTS : (['invalid JSON'] as const)) {
            const marker = `poison${randomBytes(5).toString('hex')}`;
            markers.set(marker, { topic: topic.name, variant, partition: p });
            const file = join(dir, marker);
            writeFileSync(file, poison(variant, type, marker));
            (variant === 'missing key' ? unkeyed : keyed).push(file);
          }
          // kcat file mode: each file is one message, on partition p; the keyed ones share a key.
          const base = ['-b', sut.kafkaBrokers, '-P', '-t', sut.namespace + topic.name, '-p', String(p), '-X', 'message.max.bytes=2000000'];
          execFileSync('kcat', [...base, '-k', `poison-${p}`, ...keyed], { timeout: 30_000 });
          if (unkeyed.length) execFileSync('kcat', [...base, ...unkeyed], { timeout: 30_000 });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    debug(`poison: ${markers.size} messages on ${topics.length} topics`);

    // Each one on the dead-letter topic (kcat) and in the review inbox (GET /v1/dlq, newest 200, polled as it fills).
    interface DeadRecord { marker: string; group: string; partition: number; offset: number; reason: string; errorCode: string }
    const onTopic = new Map<string, DeadRecord[]>();
    const inInbox = new Set<string>();
    const copies = new Map<string, number>();
    const dlqTopic = Object.values(Topics).find((t) => /\.dlq\./.test(t.name))!.name;
    const dlqDeadline = Date.now() + 150_000;
    for (;;) {
      onTopic.clear();
      copies.clear();
      for (const m of consumeAll(sut, dlqTopic)) {
        const d = parseOrUndefined<{ data?: DlqItem & { consumerGroup?: string; attempts?: number } }>(m.payload)?.data;
        if (!d) continue;
        const copyKey = `${d.sourceTopic}/${d.partition}/${d.offset}/${d.consumerGroup ?? ''}`;
        copies.set(copyKey, (copies.get(copyKey) ?? 0) + 1);
        const marker = [...markers.keys()].find((mk) => found(d, mk));
        if (!marker) continue;
        onTopic.set(marker, [...(onTopic.get(marker) ?? []), { marker, group: d.consumerGroup ?? '', partition: d.partition, offset: Number(d.offset), reason: d.reason, errorCode: d.errorCode ?? '' }]);
      }
      try {
        for (const item of await dlq()) {
          for (const mk of markers.keys()) {
            if (inInbox.has(mk) || !found(item, mk)) continue;
            inInbox.add(mk);
            if (!item.reason?.trim()) problems.push(`${markers.get(mk)!.topic} ${markers.get(mk)!.variant}: in GET /v1/dlq without a reason`);
          }
        }
      } catch (err) {
        debug(`GET /v1/dlq: ${(err as Error).message}`);
      }
      debug(`dlq: ${onTopic.size}/${markers.size} on the topic, ${inInbox.size}/${markers.size} in the inbox`);
      // The inbox is the judge; on the topic a large record's payload may travel by reference (claim check).
      if (inInbox.size === markers.size || Date.now() > dlqDeadline) break;
      await sleep(2000);
    }
    for (const [marker, { topic, variant, partition }] of markers) {
      const records = onTopic.get(marker) ?? [];
      for (const r of records) {
        if (!r.reason || r.reason.trim() === '') problems.push(`${topic} ${variant}: dead-lettered without a reason`);
        const offsets = poisonOffsets.get(topic) ?? new Map<number, number>();
        offsets.set(r.partition, Math.max(offsets.get(r.partition) ?? -1, r.offset));
        poisonOffsets.set(topic, offsets);
      }
      if (!inInbox.has(marker)) perTopic.push(`${topic}: ${variant}@p${partition} NOT in GET /v1/dlq${records.length ? ' (but on the dead-letter topic)' : ''}`);
    }
    const missingTopic = [...markers.keys()].filter((m) => !onTopic.has(m));
    const missingInbox = [...markers.keys()].filter((m) => !inInbox.has(m));
    const byTopic = (ms: string[]): string => [...new Set(ms.map((m) => markers.get(m)!.topic))].map((t) => `${t} (${ms.filter((m) => markers.get(m)!.topic === t).length})`).join(', ');
    if (missingInbox.length) problems.push(`${missingInbox.length}/${markers.size} poison messages not in GET /v1/dlq within 150 s: ${byTopic(missingInbox)}`);
    // A poison message is dead-lettered once per consumer group; more copies mean its offset was not committed and it was consumed again.
    const repeated = [...copies.entries()].filter(([, n]) => n > 1);
    if (repeated.length) problems.push(`${repeated.length} source messages dead-lettered more than once by the same consumer group (up to ${Math.max(...repeated.map(([, n]) => n))} copies), e.g. ${repeated.sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    const reasons = VARIANTS.map((v) => {
      const rec = [...onTopic.values()].flat().find((r) => markers.get(r.marker)!.variant === v);
      return `${v}: ${rec ? `${rec.errorCode} "${rec.reason.slice(0, 50)}"` : 'MISSING'}`;
    });
    debug(`reasons: ${reasons.join(' | ')}`);
    const dead = onTopic.size;
    const poisoned = markers.size;

    // The next valid messages: workflows started now (their messages follow the poison on every partition they use).
    const chat = await ChatClient.connect(sut.wsUrl);
    const valid: { workflowId: string; requestId: string; via: string }[] = [];
    try {
      const ws = await chat.ask('Where is my order 1001 and can I get delivery by tomorrow?', { timeoutMs: 120_000 }).catch((err: Error) => err);
      if (ws instanceof Error) problems.push(`WebSocket workflow after the poison: ${ws.message.slice(0, 300)}`);
      else {
        valid.push({ workflowId: ws.workflowId, requestId: ws.requestId, via: 'ws' });
        if (ws.answer.type !== 'answer') problems.push(`WebSocket workflow after the poison ended with ${JSON.stringify(ws.answer).slice(0, 300)}`);
        if (ws.tokens.length === 0) problems.push('no answer tokens streamed over WebSocket after the poison');
      }
    } finally {
      chat.close();
    }
    // No refund with an amount here: it would (rightly) wait for a confirmation nobody gives; the order
    // lookup takes the same tool-agent lane after the poison.
    for (const question of ['What is your warranty policy?', 'Do you sell a rechargeable headlamp?', 'Where is my order 1002?']) {
      const r = await fetch(`${sut.gatewayUrl}/v1/workflows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question }) });
      const body = (await r.json()) as { workflowId: string; requestId: string };
      if (r.status !== 202) problems.push(`POST /v1/workflows after the poison: HTTP ${r.status}`);
      else valid.push({ ...body, via: 'rest' });
    }
    // A document ingested after the poison is reported on the ingest-status topic.
    const docId = `fault-doc-${randomBytes(4).toString('hex')}`;
    const ingest = Object.values(Topics).find((t) => t.messages.some((m) => m.type === 'IngestDocument'));
    if (ingest) {
      const doc = { type: 'IngestDocument', version: 1, id: `msg_${docId}`, data: { tenantId: 'public', docId, version: 1, title: 'Fault suite note', text: 'Gift cards never expire and can be used on any order.' }, metadata: { tenantId: 'public', occurredAt: new Date().toISOString() } };
      execFileSync('kcat', ['-b', sut.kafkaBrokers, '-P', '-t', sut.namespace + ingest.name, '-k', `public:${docId}`], { input: `${JSON.stringify(doc)}\n`, timeout: 15_000 });
    }
    const deadline = Date.now() + 120_000;
    const views = new Map<string, string>();
    while (Date.now() < deadline && views.size < valid.length) {
      for (const v of valid) {
        if (views.has(v.workflowId)) continue;
        const view = await getWorkflow(sut, v.workflowId);
        if (view && (view.status === 'completed' || view.status === 'failed')) views.set(v.workflowId, view.status);
      }
      await sleep(1000);
    }
    const log = readEventLog(sut, new Set(valid.map((v) => v.workflowId)));
    for (const v of valid) {
      const end = log.get(v.workflowId)?.events.find((e) => e.type === 'WorkflowCompleted' || e.type === 'WorkflowFailed');
      if (end?.type !== 'WorkflowCompleted') problems.push(`workflow after the poison (${v.via}) ${v.workflowId}: ${end ? end.type : 'not terminal on the event log'}`);
      if (views.get(v.workflowId) !== 'completed') problems.push(`workflow after the poison (${v.via}) ${v.workflowId}: GET /v1/workflows/:id says ${views.get(v.workflowId) ?? 'not terminal'} within 120 s`);
    }
    let ingestReported = 'no ingest topic';
    if (ingest) {
      const status = Object.values(Topics).find((t) => t.messages.some((m) => m.type === 'DocumentIngestionReported'));
      const until = Date.now() + 60_000;
      ingestReported = 'NOT reported';
      while (status && Date.now() < until) {
        const report = consumeAll(sut, status.name).map((m) => parseOrUndefined<{ data?: Record<string, unknown> }>(m.payload)).find((m) => m?.data?.['docId'] === docId);
        if (report) {
          ingestReported = String(report?.data?.['status']);
          break;
        }
        await sleep(1000);
      }
      if (ingestReported !== 'ingested') problems.push(`document ingested after the poison: ${ingestReported}`);
    }

    // Per topic: did a valid message follow the poison on the same partition (and so get processed)?
    const ids = [...valid.map((v) => v.workflowId), ...valid.map((v) => v.requestId), docId];
    const coverage: string[] = [];
    for (const topic of topics) {
      const after = consumeAll(sut, topic.name).filter((m) => m.payload && ids.some((id) => m.payload!.includes(id)) && Number(m.offset) > (poisonOffsets.get(topic.name)?.get(m.partition) ?? Infinity));
      coverage.push(`${topic.name.replace(/^flotilla\./, '')}: ${after.length ? `${after.length} valid after poison on p${[...new Set(after.map((m) => m.partition))].join(',p')}` : 'no valid message after the poison (processing not observable)'}`);
    }
    debug(`coverage: ${coverage.join(' | ')}`);

    // The coordinator restarts with poison at the tail of its log (kill -9, then start: bounded).
    const t0 = Date.now();
    sut.kill('coordinator');
    await sleep(1000);
    let restart = '';
    try {
      await sut.startProc('coordinator', '/readyz', 120_000);
      restart = `coordinator restarted after the poison in ${elapsed(t0)} s`;
    } catch (err) {
      restart = `coordinator did NOT become ready within 120 s after a restart`;
      problems.push(`${restart}: ${(err as Error).message.slice(-1500)}`);
    }

    const row: CaseRow = {
      case: `poison messages (${VARIANTS.length} kinds, every partition, ${topics.length} topics)`,
      accepted: valid.length, completed: [...views.values()].filter((s) => s === 'completed').length, failed: [...views.values()].filter((s) => s === 'failed').length, failedReasons: {},
      lost: valid.length - views.size, duplicated: 0,
      notes: [
        `${inInbox.size}/${poisoned} poison messages in GET /v1/dlq with a reason (${dead} found by payload on the dead-letter topic; the others' payloads travel by reference: ${byTopic(missingTopic).slice(0, 80) || 'none'})`,
        repeated.length ? `${repeated.length} dead-lettered repeatedly (up to ${Math.max(...repeated.map(([, n]) => n))}×)` : 'each dead-lettered once per consumer group',
        `document ingested after the poison: ${ingestReported}`,
        restart,
        `skipped: ${skipped.join(', ')}`,
        coverage.join(', '),
      ].join('; '),
      seconds: elapsed(started), ok: problems.length === 0,
    };
    recordRow(row);
    if (problems.length) throw new Error(`- ${problems.join('\n- ')}\n\n${perTopic.slice(0, 60).join('\n')}\n\n${tail(sut, 'coordinator')}\n${tail(sut, 'gateway')}`);
  });
});
