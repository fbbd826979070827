import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { requireInfra } from './infra';

/** The repository root (the folder with nx.json), wherever this file was compiled to. */
function findRoot(dir: string): string {
  for (let d = dir; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, 'nx.json'))) return d;
  throw new Error(`no nx.json above ${dir}`);
}
const ROOT = findRoot(__dirname);

export type Mode = 'embedded' | 'distributed';
export const SERVICES = ['gateway', 'coordinator', 'planner', 'retriever', 'tool', 'validator'] as const;
export type ServiceName = (typeof SERVICES)[number];
const AGENTS = ['planner', 'retriever', 'tool', 'validator'] as const;

export interface StartOptions {
  /**
   * Distributed mode: run each agent as two processes — `<agent>` with AGENT_LANES=interactive and
   * `<agent>-batch` with AGENT_LANES=batch under `nice -n <nice>`, so batch work gets the CPU chat leaves.
   */
  batchAgents?: { nice: number };
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

async function waitReady(url: string, timeoutMs: number, proc: () => ChildProcess | undefined, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = proc();
    if (p && p.exitCode !== null) throw new Error(`process exited with ${p.exitCode} before ${url} was ready:\n${logs()}`);
    try {
      const r = await fetch(url);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Proc {
  name: string;
  entry: string;
  env: Record<string, string>;
  port: number;
  /** Run under `nice -n <nice>`: a lower OS priority (the one-host analogue of a small CPU weight in k8s). */
  nice?: number;
  child?: ChildProcess;
  log: string[];
}

/**
 * The running system under test, started the way users start it: embedded (`apps/flotilla`, one
 * process) or distributed (each service its own process on the real Kafka and FerretDB from
 * scripts/infra.sh). Built output is used, so run `npm run build` first.
 */
export class SystemUnderTest {
  readonly procs = new Map<string, Proc>();
  gatewayUrl = '';
  businessUrl = '';
  /** Kafka topic/group prefix of this run (distributed mode). */
  namespace = '';
  dataDir = '';
  mongoUrl = '';
  kafkaBrokers = '';

  constructor(readonly mode: Mode, private readonly extraEnv: Record<string, string> = {}, private readonly options: StartOptions = {}) {}

  get wsUrl(): string {
    return this.gatewayUrl.replace(/^http/, 'ws') + '/v1/chat';
  }

  /** Starts the system; `env` adds configuration for every Flotilla process (e.g. a model endpoint). */
  static async start(mode: Mode = (process.env['FLOTILLA_TEST_MODE'] as Mode | undefined) ?? 'embedded', env: Record<string, string> = {}, options: StartOptions = {}): Promise<SystemUnderTest> {
    const sut = new SystemUnderTest(mode, env, options);
    await sut.boot();
    return sut;
  }

  private async boot(): Promise<void> {
    this.dataDir = mkdtempSync(join(tmpdir(), `flotilla-${this.mode}-`));
    const base: Record<string, string> = { LOG_LEVEL: process.env['FLOTILLA_TEST_LOG_LEVEL'] ?? (this.mode === 'distributed' ? 'info' : 'warn'), HOST: '127.0.0.1', WORKFLOW_TIMEOUT_MS: '60000', ...this.extraEnv };
    if (this.mode === 'embedded') {
      const port = await freePort();
      const businessPort = await freePort();
      this.add({ name: 'flotilla', entry: 'apps/flotilla/dist/main.js', port, env: { ...base, PORT: String(port), SAMPLE_BUSINESS_PORT: String(businessPort), FLOTILLA_DATA_DIR: this.dataDir } });
      this.gatewayUrl = `http://127.0.0.1:${port}`;
      this.businessUrl = `http://127.0.0.1:${businessPort}`;
      await this.startProc('flotilla');
      return;
    }
    const infra = requireInfra();
    this.namespace = `t${randomBytes(4).toString('hex')}.`;
    this.kafkaBrokers = infra.kafkaBrokers;
    const url = new URL(infra.mongoUrl);
    url.pathname = `/flotilla_${this.namespace.slice(0, -1)}`;
    this.mongoUrl = url.toString();
    const businessPort = await freePort();
    this.businessUrl = `http://127.0.0.1:${businessPort}`;
    this.add({ name: 'sample-business', entry: 'apps/sample-business/dist/main.js', port: businessPort, env: { ...base, SAMPLE_BUSINESS_PORT: String(businessPort) } });
    await this.startProc('sample-business', '/healthz');
    for (const name of SERVICES) {
      const port = await freePort();
      this.add({
        name, entry: `apps/${name}/dist/main.js`, port,
        env: {
          ...base, FLOTILLA_MODE: 'distributed', PORT: String(port), KAFKA_BROKERS: infra.kafkaBrokers, KAFKA_NAMESPACE: this.namespace,
          KAFKA_CLIENT_ID: `flotilla-test`, MONGO_URL: this.mongoUrl, TOOLS_BASE_URL: this.businessUrl, FLOTILLA_DATA_DIR: join(this.dataDir, name),
        },
      });
      if (name === 'gateway') this.gatewayUrl = `http://127.0.0.1:${port}`;
    }
    if (this.options.batchAgents) {
      // Each agent as two replicas: chat's at normal priority, the batch lane's niced (k8s: the -batch Deployments).
      for (const agent of AGENTS) {
        const main = this.procs.get(agent)!;
        main.env = { ...main.env, AGENT_LANES: 'interactive' };
        const port = await freePort();
        this.add({ name: `${agent}-batch`, entry: main.entry, port, nice: this.options.batchAgents.nice, env: { ...main.env, AGENT_LANES: 'batch', PORT: String(port), FLOTILLA_DATA_DIR: join(this.dataDir, `${agent}-batch`) } });
      }
    }
    // The coordinator first, so topics exist; then the rest in parallel.
    await this.startProc('coordinator');
    await Promise.all([...this.procs.keys()].filter((s) => s !== 'coordinator' && s !== 'sample-business').map((s) => this.startProc(s)));
  }

  private add(p: Omit<Proc, 'log'>): void {
    this.procs.set(p.name, { ...p, log: [] });
  }

  /** Starts (or restarts) a process and waits until it reports ready. */
  async startProc(name: string, readyPath = '/readyz', timeoutMs = 90_000): Promise<void> {
    const p = this.procs.get(name)!;
    // SUT_NODE_ARGS: extra node flags for every service process, e.g. `--cpu-prof --cpu-prof-dir=tmp/prof` when profiling a bench.
    const nodeArgs = (process.env['SUT_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
    const [command, args] = p.nice === undefined ? [process.execPath, [...nodeArgs, join(ROOT, p.entry)]] : ['nice', ['-n', String(p.nice), process.execPath, ...nodeArgs, join(ROOT, p.entry)]];
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...p.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    p.child = child;
    const keep = (chunk: Buffer): void => {
      p.log.push(chunk.toString());
      if (p.log.length > 400) p.log.splice(0, p.log.length - 400);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await waitReady(`http://127.0.0.1:${p.port}${readyPath}`, timeoutMs, () => p.child, () => `--- ${name} log ---\n${p.log.join('').slice(-6000)}`);
  }

  /**
   * Distributed mode: starts one more gateway process — another replica on the same Kafka namespace
   * and MongoDB database, with a port and data folder of its own — and returns its base URL. It is
   * stopped with the rest (`stop()`), or by `name` like any other process.
   */
  async startExtraGateway(name = 'gateway-2'): Promise<string> {
    const gateway = this.procs.get('gateway');
    if (this.mode !== 'distributed' || !gateway) throw new Error('an extra gateway needs the distributed mode');
    const port = await freePort();
    this.add({ name, entry: gateway.entry, port, env: { ...gateway.env, PORT: String(port), FLOTILLA_DATA_DIR: join(this.dataDir, name) } });
    await this.startProc(name);
    return `http://127.0.0.1:${port}`;
  }

  /** kill -9: no shutdown hooks, no commits. */
  kill(name: string): void {
    const p = this.procs.get(name)!;
    p.child?.kill('SIGKILL');
  }

  /** SIGTERM and wait for the exit: the graceful path (stop consuming, finish in-flight work, commit). */
  async terminate(name: string, timeoutMs = 30_000): Promise<{ code: number | null; ms: number }> {
    const child = this.procs.get(name)!.child!;
    const started = Date.now();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return { code, ms: Date.now() - started };
  }

  logs(name: string): string {
    return this.procs.get(name)?.log.join('') ?? '';
  }

  /** Graceful stop of everything (SIGTERM, then SIGKILL after a bound). */
  async stop(): Promise<void> {
    await Promise.all([...this.procs.values()].map(async (p) => {
      const child = p.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }));
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
