import { runServiceProcess } from '@flotilla/platform';
import { ValidatorModule } from '@flotilla/service-validator';

runServiceProcess('validator', [ValidatorModule], 8085);
