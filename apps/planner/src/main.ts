import { runServiceProcess } from '@flotilla/platform';
import { PlannerModule } from '@flotilla/service-planner';

runServiceProcess('planner', [PlannerModule], 8082);
