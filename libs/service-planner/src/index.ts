import { Module } from '@nestjs/common';
import { PlannerService } from './planner.service';

export { planFor, PLAN_VERSION } from './plans';

/** The planner agent. */
@Module({ providers: [PlannerService] })
export class PlannerModule {}
