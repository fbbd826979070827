import { runServiceProcess } from '@flotilla/platform';
import { RetrieverModule } from '@flotilla/service-retriever';

runServiceProcess('retriever', [RetrieverModule], 8083);
