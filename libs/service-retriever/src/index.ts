import { Module } from '@nestjs/common';
import { RetrieverService } from './retriever.service';

export { RetrieverService, SAMPLE_KB_TENANTS, toPassage } from './retriever.service';
export type { RetrievedPassage } from './retriever.service';
export { INGEST_GROUP, INGEST_MAX_ATTEMPTS, INGEST_PARTITIONS_CONCURRENTLY, startCacheInvalidation, startIngestion } from './ingestion';
export type { IngestionOptions } from './ingestion';

/** The retriever agent: retrieve steps, and knowledge-base ingestion from the ingest topic. */
@Module({ providers: [RetrieverService] })
export class RetrieverModule {}
