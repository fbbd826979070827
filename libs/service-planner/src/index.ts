import { Module } from '@nestjs/common';
import { PlannerService } from './planner.service';

/** The planner agent. */
@Module({ providers: [PlannerService] })
export class PlannerModule {}
