import { runServiceProcess } from '@flotilla/platform';
import { configureGatewayHttp, GatewayModule } from '@flotilla/service-gateway';

runServiceProcess('gateway', [GatewayModule], 8080, configureGatewayHttp);
