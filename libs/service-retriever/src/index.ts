import { Module } from '@nestjs/common';
import { RetrieverService } from './retriever.service';

/** The retriever agent. */
@Module({ providers: [RetrieverService] })
export class RetrieverModule {}
