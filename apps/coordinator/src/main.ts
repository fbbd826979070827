import { runServiceProcess } from '@flotilla/platform';
import { CoordinatorModule } from '@flotilla/service-coordinator';

runServiceProcess('coordinator', [CoordinatorModule], 8081);
