import { runServiceProcess } from '@flotilla/platform';
import { ToolModule } from '@flotilla/service-tool';

runServiceProcess('tool', [ToolModule], 8084);
