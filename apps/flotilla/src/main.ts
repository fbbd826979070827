import { createLogger } from '@flotilla/common';
import { loadConfig } from '@flotilla/config';
import { bootstrap } from '@flotilla/platform';
import { startSampleBusiness } from '@flotilla/sample-business';
import { CoordinatorModule } from '@flotilla/service-coordinator';
import { CHAT_PATH, configureGatewayHttp, GatewayModule } from '@flotilla/service-gateway';
import { PlannerModule } from '@flotilla/service-planner';
import { RetrieverModule } from '@flotilla/service-retriever';
import { ToolModule } from '@flotilla/service-tool';
import { ValidatorModule } from '@flotilla/service-validator';

/**
 * Embedded mode: all six services in this one process on the embedded log (one SQLite file), plus
 * the sample business service the tool agent calls over HTTP. For trying Flotilla out and for
 * development; production runs each service on its own, on Kafka and MongoDB.
 */
async function main(): Promise<void> {
  const log = createLogger({ service: 'flotilla' });
  const started = Date.now();
  const config = loadConfig({ FLOTILLA_MODE: 'embedded', ...process.env });
  if (config.FLOTILLA_MODE !== 'embedded') throw new Error('apps/flotilla runs embedded mode only; start the six services for distributed mode');
  const business = await startSampleBusiness({ port: config.SAMPLE_BUSINESS_PORT, host: config.HOST });
  if (!process.env['TOOLS_BASE_URL']) config.TOOLS_BASE_URL = business.url;
  const { app, url } = await bootstrap({
    name: 'flotilla',
    config,
    modules: [GatewayModule, CoordinatorModule, PlannerModule, RetrieverModule, ToolModule, ValidatorModule],
    configure: configureGatewayHttp,
  });
  app.getHttpServer().on('close', () => void business.close());
  const ws = url.replace(/^http/, 'ws') + CHAT_PATH;
  log.info('Flotilla is ready', { url, chat: ws, docs: `${url}/docs`, dataDir: config.FLOTILLA_DATA_DIR, startupMs: Date.now() - started });
  process.stderr.write(`\n  Flotilla (embedded) is ready in ${Date.now() - started} ms\n  Chat in a browser: ${url}/\n  WebSocket:         ${ws}\n  REST + OpenAPI:    ${url}/docs\n\n`);
}

main().catch((err: unknown) => {
  createLogger({ service: 'flotilla' }).error('failed to start', { err });
  process.exit(1);
});
