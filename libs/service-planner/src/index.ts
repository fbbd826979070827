import { Module } from '@nestjs/common';
import { ModelsController } from './models.controller';
import { PlannerService } from './planner.service';

/** The planner agent. */
@Module({ controllers: [ModelsController], providers: [PlannerService] })
export class PlannerModule {}
