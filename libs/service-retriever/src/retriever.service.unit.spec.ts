import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@flotilla/common';
import { loadConfig } from '@flotilla/config';
import { ExecuteStepV1, IngestStatusMessage, Messages, StepResultMessage, Topics } from '@flotilla/contracts';
import { connectBus, consume, EmbeddedMessageBus, on, outgoing, Subscription } from '@flotilla/messaging';
import { Readiness } from '@flotilla/platform';
import { RetrieverService } from './retriever.service';

const TIMEOUT_MS = 15_000;

describe('RetrieverService', () => {
  let dir: string;
  let bus: EmbeddedMessageBus;
  let service: RetrieverService;
  let readiness: Readiness;
  let observer: Subscription;
  const results: StepResultMessage[] = [];
  const reports: IngestStatusMessage[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'retriever-service-'));
    bus = new EmbeddedMessageBus(join(dir, 'flotilla.db'));
    await connectBus(bus);
    readiness = new Readiness();
    service = new RetrieverService(bus, loadConfig({ FLOTILLA_DATA_DIR: dir }), readiness, 'inst_test');
    await service.onApplicationBootstrap();
    observer = await consume(bus, { groupId: 'test-observer', handlers: [
      on(Topics.stepResults, async (m) => void results.push(m)),
      on(Topics.ingestStatus, async (m) => void reports.push(m)),
    ] });
    await observer.ready;
  }, TIMEOUT_MS);

  afterAll(async () => {
    await observer?.stop();
    await service?.beforeApplicationShutdown();
    await bus?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }, TIMEOUT_MS);

  let n = 0;
  async function retrieve(tenantId: string, query: string): Promise<Record<string, unknown>> {
    const taskId = `task_${++n}`;
    const task: ExecuteStepV1 = {
      workflowId: `wf_${n}`, tenantId, stepId: 'retrieve', taskId, attempt: 1, kind: 'retrieve', input: { query },
      context: { question: query, dependencies: {}, pins: {}, startedAt: new Date().toISOString() },
    };
    await bus.publish([outgoing(Topics.retrieverTasks, Messages.ExecuteStep, task.workflowId, task, { tenantId, workflowId: task.workflowId })]);
    await waitFor(() => results.some((r) => r.data.taskId === taskId), TIMEOUT_MS - 5000, `result of ${taskId}`);
    const result = results.find((r) => r.data.taskId === taskId)!;
    if (result.type !== 'StepSucceeded') throw new Error(`step errored: ${JSON.stringify(result.data)}`);
    return result.data.output;
  }

  it('is ready once its consumers are', async () => {
    expect((await readiness.report()).checks['retriever']).toBe(true);
  });

  it('answers a retrieve step with cited passages: id, docId, title, text, uri and score', async () => {
    const output = await retrieve('public', 'What is your return policy?');
    expect(output['query']).toBe('What is your return policy?');
    const passages = output['passages'] as Record<string, unknown>[];
    expect(passages.length).toBeGreaterThan(0);
    expect(passages[0]).toEqual({
      id: expect.stringMatching(/^chunk_/), docId: 'returns-policy', title: 'Returns policy', text: expect.stringContaining('30 days'),
      uri: 'kb://returns-policy', score: expect.any(Number),
    });
  }, TIMEOUT_MS);

  it('ingests a document published on the ingest topic, reports it, and retrieves it for its tenant', async () => {
    const doc = { tenantId: 'acme', docId: 'opening-hours', version: 1, title: 'Opening hours', text: 'Our stores open at 9 am and close at 8 pm, Monday to Saturday.', uri: 'kb://opening-hours' };
    expect(await retrieve('acme', 'When do stores open?')).toMatchObject({ passages: [] });
    await bus.publish([outgoing(Topics.ingest, Messages.IngestDocument, 'acme:opening-hours', doc, { tenantId: 'acme' })]);
    await waitFor(() => reports.some((r) => r.data.docId === 'opening-hours'), TIMEOUT_MS - 5000, 'ingestion report');
    expect(reports.find((r) => r.data.docId === 'opening-hours')!.data).toMatchObject({ status: 'ingested', chunks: 1 });
    // The empty result above was cached; the ingestion invalidated it.
    const passages = (await retrieve('acme', 'When do stores open?'))['passages'] as Record<string, unknown>[];
    expect(passages.map((p) => p['docId'])).toEqual(['opening-hours']);
  }, TIMEOUT_MS);
});
