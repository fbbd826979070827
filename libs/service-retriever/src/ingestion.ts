import { createLogger, FlotillaError, Logger } from '@flotilla/common';
import { DocumentIngestionReportedV1, IngestMessage, Messages, Topics } from '@flotilla/contracts';
import { consume, IncomingMessage, MessageBus, on, outgoing, Subscription } from '@flotilla/messaging';
import { inLane, LaneGate, sharedLaneGate } from '@flotilla/platform';
import { KnowledgeBase } from '@flotilla/retrieval';

/** The ingestion consumer group: one per deployment, so each document is ingested by one replica. */
export const INGEST_GROUP = 'flotilla-retriever-ingest';
/** Attempts for a retryable failure (store or embedder unavailable) before the document is reported failed and dead-lettered. */
export const INGEST_MAX_ATTEMPTS = 3;
/**
 * Ingest-topic partitions handled at once. Ingestion is the batch lane: it runs beside, and is kept
 * smaller than, the retrieve-task consumer (6), so a bulk load cannot crowd out answering questions.
 */
export const INGEST_PARTITIONS_CONCURRENTLY = 2;

export interface IngestionOptions {
  logger?: Logger;
  maxAttempts?: number;
  partitionsConcurrently?: number;
  /** The lanes' priority gate; default: the process's ({@link sharedLaneGate}). */
  gate?: LaneGate;
}

type Report = Omit<DocumentIngestionReportedV1, 'reportedAt'>;

/**
 * Consumes `Topics.ingest` (batch lane, group {@link INGEST_GROUP}): chunk → embed → upsert, idempotent
 * by (tenant, document, version), and one `DocumentIngestionReported` on `Topics.ingestStatus` per
 * message: `ingested` with its chunk count, `skipped` with why (this version or a newer one is
 * stored), or `failed` with the reason once no retry is left. A failure is then rethrown, so the
 * consumer dead-letters the message with the same reason; a retryable failure is retried first
 * (without a report). Invalid messages never reach this handler: `consume` dead-letters them.
 *
 * Each document is ingested in a batch slot of the process's {@link LaneGate}, like a batch task:
 * it starts only while no interactive task waits, within AGENT_BATCH_CONCURRENCY; when no slot
 * frees up soon the message is deferred (its partition pauses) rather than holding the consumer.
 */
export async function startIngestion(bus: MessageBus, kb: KnowledgeBase, options: IngestionOptions = {}): Promise<Subscription> {
  const logger = options.logger ?? createLogger({ component: 'ingestion' });
  const maxAttempts = options.maxAttempts ?? INGEST_MAX_ATTEMPTS;
  const gate = options.gate ?? sharedLaneGate();
  // Per message being handled: the attempts so far, and an outcome whose report could not be
  // published yet (so a retry republishes it instead of ingesting again and reporting `skipped`).
  const attempts = new Map<string, number>();
  const unreported = new Map<string, Report>();

  const publish = async (message: IngestMessage, raw: IncomingMessage, report: Report): Promise<void> => {
    const data: DocumentIngestionReportedV1 = { ...report, reportedAt: new Date().toISOString() };
    // One report id per ingest message, so a redelivered message's report is recognisably the same one.
    const id = `ingrep_${raw.topic}_${raw.partition}_${raw.offset}`;
    await bus.publish([outgoing(Topics.ingestStatus, Messages.DocumentIngestionReported, `${report.tenantId}:${report.docId}`, data,
      { tenantId: report.tenantId, causationId: message.id, traceparent: message.metadata.traceparent }, id)]);
  };

  const handle = async (message: IngestMessage, raw: IncomingMessage): Promise<void> => {
    const doc = message.data;
    const key = `${raw.topic}/${raw.partition}/${raw.offset}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const subject = { tenantId: doc.tenantId, docId: doc.docId, version: doc.version };

    let report = unreported.get(key);
    if (!report) {
      const started = Date.now();
      try {
        const result = await kb.ingest(doc);
        report = { ...subject, status: result.status, chunks: result.chunks, ...(result.reason ? { reason: result.reason } : {}) };
        logger.info(result.status === 'ingested' ? 'document ingested' : 'document skipped', { ...subject, chunks: result.chunks, reason: result.reason, ms: Date.now() - started });
      } catch (err) {
        const error = FlotillaError.from(err);
        if (!error.retryable || attempt >= maxAttempts) {
          attempts.delete(key);
          try {
            await publish(message, raw, { ...subject, status: 'failed', chunks: 0, reason: `${error.code}: ${error.message}`.slice(0, 2000) });
          } catch (publishError) {
            // The dead-letter record written for the rethrown error still carries the reason.
            logger.error('could not report a failed ingestion', { ...subject, err: FlotillaError.from(publishError) });
          }
        }
        throw error;
      }
    }
    try {
      await publish(message, raw, report);
    } catch (err) {
      const error = FlotillaError.from(err);
      if (!error.retryable || attempt >= maxAttempts) {
        // Dead-lettered with this error: the document is stored, only its report is missing.
        unreported.delete(key);
        attempts.delete(key);
      } else unreported.set(key, report);
      throw error;
    }
    unreported.delete(key);
    attempts.delete(key);
  };

  return consume(bus, {
    groupId: INGEST_GROUP,
    maxAttempts,
    partitionsConcurrently: options.partitionsConcurrently ?? INGEST_PARTITIONS_CONCURRENTLY,
    lane: 'batch',
    logger,
    handlers: [on(Topics.ingest, (message, raw) => inLane(gate, 'batch', () => handle(message, raw)))],
  });
}

/**
 * Keeps this replica's search cache honest when another replica changes a tenant's documents (they
 * share the Qdrant collection, not the cache): every ingestion report, whatever its status, drops
 * the tenant's cached searches. Each replica reads all reports, so the group is per instance, and
 * starts at the end of the topic (older reports are older than its empty cache).
 */
export async function startCacheInvalidation(bus: MessageBus, kb: KnowledgeBase, instanceId: string, logger?: Logger): Promise<Subscription> {
  return consume(bus, {
    groupId: `flotilla-retriever-cache-${instanceId}`,
    fromBeginning: false,
    logger,
    handlers: [on(Topics.ingestStatus, async (message) => {
      kb.invalidate(message.data.tenantId);
    })],
  });
}
