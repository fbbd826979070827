/**
 * A backlog of batch requests for the lane benches: in distributed mode published with kcat straight
 * onto the public intake topic; in embedded mode (no outside producer for its in-process log) through
 * REST `POST /v1/workflows`, onto the gateway's batch intake topic, read by the same coordinator group.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { SystemUnderTest } from '../test/support/system';

const BATCH_QUESTION = 'Where is my order 1002?';

/** Publishes the backlog onto the intake topic. */
export async function publishBacklog(sut: SystemUnderTest, size: number): Promise<number> {
  const started = Date.now();
  const run = `b${started.toString(36)}`;
  if (sut.mode === 'distributed' && !spawnSync('kcat', ['-V']).error) {
    const lines: string[] = [];
    for (let i = 0; i < size; i++) {
      const requestId = `${run}-${i}`;
      lines.push(`${requestId}\t${JSON.stringify({ type: 'SubmitRequest', version: 1, id: `msg_${requestId}`, data: { requestId, tenantId: 'public', question: BATCH_QUESTION, channel: 'intake' }, metadata: { occurredAt: new Date().toISOString(), tenantId: 'public' } })}`);
    }
    execFileSync('kcat', ['-b', sut.kafkaBrokers, '-P', '-t', `${sut.namespace}flotilla.intake.v1`, '-K', '\t'], { input: lines.join('\n') + '\n', timeout: 120_000, maxBuffer: 1 << 28 });
    return Date.now() - started;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < size) {
      const i = next++;
      let r: Response | undefined;
      for (let attempt = 1; !r; attempt++) {
        try {
          r = await fetch(`${sut.gatewayUrl}/v1/workflows`, {
            method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: BATCH_QUESTION, requestId: `${run}-${i}` }),
          });
          if (r.status === 408 || r.status === 503) throw new Error(`answered ${r.status}`);
        } catch (err) {
          // A reset or timed-out request on a loaded machine; the same requestId makes a retry harmless.
          r = undefined;
          if (attempt >= 5) throw err;
          await new Promise((res) => setTimeout(res, 200 * attempt));
        }
      }
      if (r.status !== 202) throw new Error(`backlog submission ${i} answered ${r.status}: ${await r.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return Date.now() - started;
}
