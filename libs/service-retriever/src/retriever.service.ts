import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { ExecuteStepV1 } from '@flotilla/contracts';
import { MessageBus, Subscription } from '@flotilla/messaging';
import { BUS, CONFIG, Readiness, startAgentWorker, StepOutcome } from '@flotilla/platform';
import { createKnowledgeBase, KnowledgeBase, sampleKnowledgeBase } from '@flotilla/retrieval';

const log = createLogger({ service: 'retriever' });

/** Tenants whose knowledge base starts with the sample documents. */
export const SAMPLE_KB_TENANTS = ['public'];

/** RAG: answers `retrieve` steps with the tenant's top passages, their scores and source ids. */
@Injectable()
export class RetrieverService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: Subscription;
  private kb!: KnowledgeBase;
  private ready = false;

  constructor(@Inject(BUS) private readonly bus: MessageBus, @Inject(CONFIG) private readonly config: FlotillaConfig, readiness: Readiness) {
    readiness.register({ name: 'retriever', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.kb = createKnowledgeBase(this.config);
    await this.kb.init();
    for (const tenant of SAMPLE_KB_TENANTS) {
      for (const doc of sampleKnowledgeBase(tenant)) {
        const r = await this.kb.ingest(doc);
        if (!r.skipped) log.info('ingested sample document', { tenant, docId: doc.docId, chunks: r.chunks });
      }
    }
    this.subscription = await startAgentWorker(this.bus, { agent: 'retriever', logger: log, execute: (task) => this.execute(task) });
    await this.subscription.ready;
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await this.subscription?.stop();
  }

  private async execute(task: ExecuteStepV1): Promise<StepOutcome> {
    if (task.kind !== 'retrieve') throw new FlotillaError(ErrorCode.ValidationFailed, `retriever cannot run ${task.kind} steps`, { retryable: false });
    const query = typeof task.input['query'] === 'string' && task.input['query'] ? task.input['query'] : task.context.question;
    const topK = typeof task.input['topK'] === 'number' ? Math.min(Math.max(1, task.input['topK']), 10) : 3;
    const hits = await this.kb.search(query, task.tenantId, topK);
    return {
      output: {
        query,
        passages: hits.map((h) => ({ id: h.id, docId: h.payload.docId, title: h.payload.title, text: h.payload.text, uri: h.payload.uri, score: Number(h.score.toFixed(4)) })),
      },
    };
  }
}
