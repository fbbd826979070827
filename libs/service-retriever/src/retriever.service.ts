import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createLogger, ErrorCode, FlotillaError } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { ExecuteStepV1 } from '@flotilla/contracts';
import { MessageBus, Subscription } from '@flotilla/messaging';
import { BUS, CONFIG, INSTANCE_ID, Readiness, configuredAgentLanes, startAgentWorker, StepOutcome } from '@flotilla/platform';
import { OpenAiEmbedder } from '@flotilla/llm';
import { createKnowledgeBase, KnowledgeBase, sampleKnowledgeBase, ScoredChunk } from '@flotilla/retrieval';
import { startCacheInvalidation, startIngestion } from './ingestion';

const log = createLogger({ service: 'retriever' });

/** Tenants whose knowledge base starts with the sample documents. */
export const SAMPLE_KB_TENANTS = ['public'];

/** A retrieved passage as the retrieve step outputs it; the planner cites it and the validator checks answers against `text`. */
export interface RetrievedPassage {
  id: string;
  docId: string;
  title: string;
  text: string;
  uri?: string;
  score: number;
}

export function toPassage(hit: ScoredChunk): RetrievedPassage {
  return { id: hit.id, docId: hit.payload.docId, title: hit.payload.title, text: hit.payload.text, uri: hit.payload.uri, score: Number(hit.score.toFixed(4)) };
}

/**
 * RAG: answers `retrieve` steps with the tenant's top passages, their scores and source ids, and
 * ingests knowledge-base documents from the ingest topic (batch lane, a consumer of its own).
 *
 * Embeddings come from an OpenAI-compatible endpoint when OPENAI_API_KEY and
 * OPENAI_EMBEDDING_MODEL are set, else from the built-in local (lexical) embedder; each embedder
 * gets its own collection, so switching never mixes vectors.
 */
@Injectable()
export class RetrieverService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly subscriptions: Subscription[] = [];
  private kb!: KnowledgeBase;
  private ready = false;

  constructor(
    @Inject(BUS) private readonly bus: MessageBus,
    @Inject(CONFIG) private readonly config: FlotillaConfig,
    readiness: Readiness,
    @Inject(INSTANCE_ID) private readonly instanceId: string,
  ) {
    readiness.register({ name: 'retriever', ready: () => this.ready });
  }

  async onApplicationBootstrap(): Promise<void> {
    const embedder = this.config.OPENAI_API_KEY && this.config.OPENAI_EMBEDDING_MODEL
      // A hanging endpoint fails the request within the attempt timeout (retryable), inside the retrieve step's time.
      ? new OpenAiEmbedder({
        baseURL: this.config.OPENAI_BASE_URL, apiKey: this.config.OPENAI_API_KEY, model: this.config.OPENAI_EMBEDDING_MODEL,
        dimension: this.config.OPENAI_EMBEDDING_DIMENSION, timeoutMs: this.config.LLM_ATTEMPT_TIMEOUT_MS,
      })
      : undefined;
    this.kb = createKnowledgeBase(this.config, embedder);
    await this.kb.init();
    log.info('knowledge base ready', this.kb.describe());
    if (this.config.FLOTILLA_MODE === 'distributed' && !this.config.QDRANT_URL) {
      log.warn('QDRANT_URL is not set: each retriever replica searches its own local vector file, and an ingested document reaches only the replica that consumed it');
    }
    for (const tenant of SAMPLE_KB_TENANTS) {
      for (const doc of sampleKnowledgeBase(tenant)) {
        const r = await this.kb.ingest(doc);
        if (r.status === 'ingested') log.info('ingested sample document', { tenant, docId: doc.docId, chunks: r.chunks });
      }
    }
    this.subscriptions.push(
      await startAgentWorker(this.bus, { agent: 'retriever', logger: log, execute: (task) => this.execute(task) }),
      await startCacheInvalidation(this.bus, this.kb, this.instanceId, log),
    );
    // Ingestion is batch work: an interactive-only replica (AGENT_LANES=interactive) leaves it to the batch replicas.
    if (configuredAgentLanes(this.config).includes('batch')) this.subscriptions.push(await startIngestion(this.bus, this.kb, { logger: log }));
    await Promise.all(this.subscriptions.map((s) => s.ready));
    this.ready = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ready = false;
    await Promise.all(this.subscriptions.map((s) => s.stop()));
  }

  private async execute(task: ExecuteStepV1): Promise<StepOutcome> {
    if (task.kind !== 'retrieve') throw new FlotillaError(ErrorCode.ValidationFailed, `retriever cannot run ${task.kind} steps`, { retryable: false });
    const query = typeof task.input['query'] === 'string' && task.input['query'] ? task.input['query'] : task.context.question;
    const topK = typeof task.input['topK'] === 'number' ? Math.min(Math.max(1, task.input['topK']), 10) : 3;
    const hits = await this.kb.search(query, task.tenantId, topK);
    return { output: { query, passages: hits.map(toPassage) } };
  }
}
