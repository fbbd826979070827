import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ModelStatus } from '@flotilla/llm';
import { PlannerService } from './planner.service';

/** Operators' view of the models: breaker state, budgets in use and queues, per model. */
@ApiTags('operations')
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly planner: PlannerService) {}

  @Get()
  @ApiOkResponse({ description: 'Each routed model with its circuit breaker state, limits and queued calls.' })
  status(): { models: ModelStatus[] } {
    return { models: this.planner.modelStatus() };
  }
}
