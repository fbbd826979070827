import { Module } from '@nestjs/common';
import { CoordinatorService } from './coordinator.service';

/** The coordinator: the only writer of workflow events. */
@Module({ providers: [CoordinatorService] })
export class CoordinatorModule {}
