// Deployment descriptors, rendered exactly as an operator would render them and checked for the
// properties production relies on: `kubectl kustomize` for k8s/base and both overlays, and
// `docker compose config` for docker-compose.yml. Needs kubectl (with its built-in kustomize) and
// the docker CLI with the compose plugin; no cluster and no Docker daemon. A missing tool FAILS
// the suite (it never skips).
//
// Not part of the jest.config.js projects. Run with an inline config, e.g.:
//   npx jest --config '{"rootDir":".","testEnvironment":"node","testMatch":["<rootDir>/test/deploy/**/*.deploy.spec.ts"],
//     "transform":{"^.+\\.ts$":["@swc/jest",{"jsc":{"parser":{"syntax":"typescript"},"target":"es2022"},"module":{"type":"commonjs"}}]}}'
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const ROOT = join(__dirname, '..', '..');
const NAMESPACE = 'flotilla';
const PART_OF = 'app.kubernetes.io/part-of';

/** Every Flotilla service with the port it listens on (PORT), plus the sample business API. */
const FLOTILLA_PORTS: Readonly<Record<string, number>> = {
  gateway: 8080,
  coordinator: 8081,
  planner: 8082,
  retriever: 8083,
  tool: 8084,
  validator: 8085,
};
const SAMPLE_BUSINESS = 'sample-business';
const SAMPLE_BUSINESS_PORT = 8090;
const FLOTILLA_SERVICES = Object.keys(FLOTILLA_PORTS);
const ALL_DEPLOYMENTS = [...FLOTILLA_SERVICES, SAMPLE_BUSINESS].sort();
const AGENTS = ['planner', 'retriever', 'tool', 'validator'];
/** Keys that carry credentials: they must come from the Secret, never the ConfigMap. */
const SECRET_KEYS = ['OPENAI_API_KEY', 'MONGO_URL', 'KAFKA_SASL_PASSWORD'];
const CONFIG_KEYS = ['FLOTILLA_MODE', 'KAFKA_BROKERS', 'KAFKA_SSL', 'QDRANT_URL', 'OPENAI_BASE_URL', 'OPENAI_MODEL', 'TOOLS_BASE_URL', 'LOG_LEVEL', 'FLOTILLA_DATA_DIR'];

// ---- minimal shapes of what is asserted on ---------------------------------------------------

interface Meta { name: string; namespace?: string; labels?: Record<string, string> }
interface K8sObject { apiVersion: string; kind: string; metadata: Meta; [key: string]: unknown }
interface HttpProbe { httpGet?: { path?: string; port?: number | string }; periodSeconds?: number; failureThreshold?: number }
interface EnvVar { name: string; value?: string }
interface EnvFromSource { configMapRef?: { name: string }; secretRef?: { name: string } }
interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  readinessProbe?: HttpProbe;
  livenessProbe?: HttpProbe;
  startupProbe?: HttpProbe;
  lifecycle?: { preStop?: { exec?: { command?: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; emptyDir?: Record<string, unknown> }[];
}
interface Deployment extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Service extends K8sObject { spec: { selector: Record<string, string>; ports: { port: number; targetPort?: number | string }[] } }
interface Pdb extends K8sObject { spec: { selector: { matchLabels: Record<string, string> }; minAvailable?: number | string; maxUnavailable?: number | string } }
interface Hpa extends K8sObject { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas?: number; maxReplicas: number } }
interface ConfigData extends K8sObject { data?: Record<string, string>; stringData?: Record<string, string> }

interface ComposeService {
  image?: string;
  build?: { context: string; args?: Record<string, string> };
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  ports?: { target: number; published?: string | number }[];
}
interface ComposeProject { services: Record<string, ComposeService> }

// ---- tools -----------------------------------------------------------------------------------

/** Runs a CLI the suite cannot do without; a missing binary is a failure with a clear message. */
function run(cmd: string, args: string[], what: string): string {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; status?: number };
    if (e.code === 'ENOENT') {
      throw new Error(`${cmd} is required by the deploy-manifest tests (${what}) but was not found on PATH. Install it; this suite does not skip.`);
    }
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed (exit ${String(e.status)}): ${e.stderr ?? e.message}`);
  }
}

function kustomize(dir: string): K8sObject[] {
  const out = run('kubectl', ['kustomize', dir], 'rendering the kustomize overlays');
  const docs = parseAllDocuments(out);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    expect(doc.errors).toEqual([]);
    const obj = doc.toJSON() as K8sObject | null;
    if (obj) objects.push(obj);
  }
  return objects;
}

function composeConfig(): ComposeProject {
  // `docker compose` is a CLI plugin: without it the docker CLI answers with an unrelated flag error.
  const what = 'validating docker-compose.yml (needs the docker CLI and its compose plugin, not a daemon)';
  try {
    run('docker', ['compose', 'version'], what);
  } catch (err) {
    throw new Error(`The docker compose plugin is required by the deploy-manifest tests (${what}); this suite does not skip. ${(err as Error).message}`);
  }
  const out = run('docker', ['compose', '-f', 'docker-compose.yml', 'config', '--format', 'json'], 'validating docker-compose.yml (needs the compose plugin, not a daemon)');
  return JSON.parse(out) as ComposeProject;
}

// ---- helpers ---------------------------------------------------------------------------------

const ofKind = <T extends K8sObject>(objs: K8sObject[], kind: string): T[] => objs.filter((o) => o.kind === kind) as T[];
const named = <T extends K8sObject>(objs: K8sObject[], kind: string, name: string): T | undefined =>
  ofKind<T>(objs, kind).find((o) => o.metadata.name === name);
const envOf = (c: Container, name: string): string | undefined => c.env?.find((e) => e.name === name)?.value;
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Kubernetes quantity -> number (cores for cpu, bytes for memory). */
function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/.exec(q);
  if (!m) throw new Error(`unparseable quantity ${q}`);
  const factor: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, Ki: 1024, M: 1e6, Mi: 1024 ** 2, G: 1e9, Gi: 1024 ** 3, T: 1e12, Ti: 1024 ** 4 };
  return Number(m[1]) * factor[m[2] ?? ''];
}

/** The port a probe targets, resolved against the container's named ports. */
function probePort(c: Container, probe: HttpProbe): number | undefined {
  const port = probe.httpGet?.port;
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

function preStopSeconds(c: Container): number {
  const pre = c.lifecycle?.preStop;
  if (pre?.sleep) return pre.sleep.seconds;
  const cmd = pre?.exec?.command ?? [];
  const idx = cmd.indexOf('sleep');
  return idx >= 0 ? Number(cmd[idx + 1]) : 0;
}

// ---- the rendered manifests --------------------------------------------------------------------

const RENDERS = ['k8s/base', 'k8s/overlays/dev', 'k8s/overlays/prod'] as const;
type RenderName = (typeof RENDERS)[number];

describe('Kubernetes manifests (kubectl kustomize)', () => {
  const rendered = new Map<RenderName, K8sObject[]>();

  beforeAll(() => {
    run('kubectl', ['version', '--client'], 'rendering the kustomize overlays');
    for (const dir of RENDERS) rendered.set(dir, kustomize(dir));
  }, 60_000);

  const get = (dir: RenderName): K8sObject[] => {
    const objs = rendered.get(dir);
    if (!objs) throw new Error(`${dir} was not rendered (see the beforeAll failure)`);
    return objs;
  };

  describe.each(RENDERS)('%s', (dir) => {
    it('renders the flotilla Namespace and puts every namespaced object in it, labelled part-of flotilla', () => {
      const objs = get(dir);
      expect(ofKind(objs, 'Namespace').map((n) => n.metadata.name)).toEqual([NAMESPACE]);
      for (const o of objs) {
        if (o.kind !== 'Namespace') expect({ kind: o.kind, name: o.metadata.name, ns: o.metadata.namespace }).toEqual({ kind: o.kind, name: o.metadata.name, ns: NAMESPACE });
        expect({ kind: o.kind, name: o.metadata.name, partOf: o.metadata.labels?.[PART_OF] }).toEqual({ kind: o.kind, name: o.metadata.name, partOf: 'flotilla' });
      }
    });

    it('has one Deployment per service, each running the shared image with SERVICE = its name', () => {
      const deployments = ofKind<Deployment>(get(dir), 'Deployment');
      expect(deployments.map((d) => d.metadata.name).sort()).toEqual(ALL_DEPLOYMENTS);
      for (const d of deployments) {
        const { containers } = d.spec.template.spec;
        expect(containers).toHaveLength(1);
        const [c] = containers;
        expect(c.image).toMatch(/(^|\/)flotilla\/service(:[\w.-]+|@sha256:[0-9a-f]{64})$/);
        expect({ deployment: d.metadata.name, SERVICE: envOf(c, 'SERVICE') }).toEqual({ deployment: d.metadata.name, SERVICE: d.metadata.name });
        const port = d.metadata.name === SAMPLE_BUSINESS ? SAMPLE_BUSINESS_PORT : FLOTILLA_PORTS[d.metadata.name];
        expect(envOf(c, 'PORT')).toBe(String(port));
        expect(c.ports?.map((p) => p.containerPort)).toEqual([port]);
        // The selector must pick the pods this Deployment creates (and only by stable labels).
        expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
        expect(d.spec.template.metadata.labels[PART_OF]).toBe('flotilla');
      }
    });

    it('probes every Deployment: readiness on /readyz, liveness and startup on /healthz, at the service port', () => {
      for (const d of ofKind<Deployment>(get(dir), 'Deployment')) {
        const [c] = d.spec.template.spec.containers;
        const port = Number(envOf(c, 'PORT'));
        const probes = { readiness: c.readinessProbe, liveness: c.livenessProbe, startup: c.startupProbe };
        expect({ deployment: d.metadata.name, readiness: probes.readiness?.httpGet?.path, liveness: probes.liveness?.httpGet?.path, startup: probes.startup?.httpGet?.path })
          .toEqual({ deployment: d.metadata.name, readiness: '/readyz', liveness: '/healthz', startup: '/healthz' });
        for (const [kind, probe] of Object.entries(probes)) {
          expect({ deployment: d.metadata.name, kind, port: probePort(c, probe!) }).toEqual({ deployment: d.metadata.name, kind, port });
        }
        // The startup probe must give a cold start real time before liveness can kill the pod.
        const startupBudget = (c.startupProbe!.periodSeconds ?? 10) * (c.startupProbe!.failureThreshold ?? 3);
        expect(startupBudget).toBeGreaterThanOrEqual(60);
      }
    });

    it('sets resource requests and limits on every container, with requests <= limits', () => {
      for (const d of ofKind<Deployment>(get(dir), 'Deployment')) {
        const [c] = d.spec.template.spec.containers;
        for (const res of ['cpu', 'memory']) {
          const req = c.resources?.requests?.[res];
          const lim = c.resources?.limits?.[res];
          expect({ deployment: d.metadata.name, res, hasRequest: req !== undefined, hasLimit: lim !== undefined })
            .toEqual({ deployment: d.metadata.name, res, hasRequest: true, hasLimit: true });
          expect(quantity(req!)).toBeLessThanOrEqual(quantity(lim!));
        }
        // Node's heap cap (NODE_OPTIONS) must fit under the memory limit.
        const heap = /--max-old-space-size=(\d+)/.exec(envOf(c, 'NODE_OPTIONS') ?? '');
        if (heap) expect(Number(heap[1]) * 1024 ** 2).toBeLessThan(quantity(c.resources!.limits!.memory));
      }
    });

    it('runs every pod non-root with a read-only root filesystem, writable /tmp and /data from emptyDirs', () => {
      for (const d of ofKind<Deployment>(get(dir), 'Deployment')) {
        const pod = d.spec.template.spec;
        const [c] = pod.containers;
        expect({ deployment: d.metadata.name, runAsNonRoot: c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot })
          .toEqual({ deployment: d.metadata.name, runAsNonRoot: true });
        expect(pod.securityContext?.runAsUser).not.toBe(0);
        expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
        expect(c.securityContext?.capabilities?.drop).toContain('ALL');
        for (const path of ['/tmp', '/data']) {
          const mount = c.volumeMounts?.find((m) => m.mountPath === path);
          expect({ deployment: d.metadata.name, path, mounted: !!mount }).toEqual({ deployment: d.metadata.name, path, mounted: true });
          expect(pod.volumes?.find((v) => v.name === mount!.name)?.emptyDir).toBeDefined();
        }
      }
    });

    it('shuts down gracefully: a preStop pause that fits well inside a 30s termination grace period', () => {
      for (const d of ofKind<Deployment>(get(dir), 'Deployment')) {
        const pod = d.spec.template.spec;
        const pause = preStopSeconds(pod.containers[0]);
        expect({ deployment: d.metadata.name, grace: pod.terminationGracePeriodSeconds }).toEqual({ deployment: d.metadata.name, grace: 30 });
        expect(pause).toBeGreaterThanOrEqual(2);
        expect(pause).toBeLessThanOrEqual(10);
      }
    });

    it('wires envFrom only to a ConfigMap and Secret present in the render; agents get both, sample-business no secrets', () => {
      const objs = get(dir);
      const configMaps = ofKind<ConfigData>(objs, 'ConfigMap');
      const secrets = ofKind<ConfigData>(objs, 'Secret');
      for (const d of ofKind<Deployment>(objs, 'Deployment')) {
        const [c] = d.spec.template.spec.containers;
        const cmRefs = (c.envFrom ?? []).flatMap((e) => (e.configMapRef ? [e.configMapRef.name] : []));
        const secretRefs = (c.envFrom ?? []).flatMap((e) => (e.secretRef ? [e.secretRef.name] : []));
        for (const name of cmRefs) expect({ deployment: d.metadata.name, configMap: name, exists: configMaps.some((m) => m.metadata.name === name) }).toEqual({ deployment: d.metadata.name, configMap: name, exists: true });
        for (const name of secretRefs) expect({ deployment: d.metadata.name, secret: name, exists: secrets.some((s) => s.metadata.name === name) }).toEqual({ deployment: d.metadata.name, secret: name, exists: true });
        // The config map is generated with a content hash suffix; the secret keeps its exact name.
        expect(cmRefs).toEqual([expect.stringMatching(/^flotilla-config(-[a-z0-9]+)?$/)]);
        expect(secretRefs).toEqual(d.metadata.name === SAMPLE_BUSINESS ? [] : ['flotilla-secrets']);
      }
    });

    it('keeps credentials out of the ConfigMap and ships the Secret only as an empty template', () => {
      const objs = get(dir);
      const [cm] = ofKind<ConfigData>(objs, 'ConfigMap');
      for (const key of CONFIG_KEYS) expect({ key, set: (cm.data?.[key] ?? '') !== '' }).toEqual({ key, set: true });
      for (const key of SECRET_KEYS) expect(Object.keys(cm.data ?? {})).not.toContain(key);
      expect(cm.data?.FLOTILLA_MODE).toBe('distributed');
      expect(cm.data?.FLOTILLA_DATA_DIR).toBe('/data');
      expect(cm.data?.TOOLS_BASE_URL).toBe(`http://${SAMPLE_BUSINESS}:${SAMPLE_BUSINESS_PORT}`);
      const secret = named<ConfigData>(objs, 'Secret', 'flotilla-secrets');
      const values = { ...(secret?.stringData ?? {}), ...(secret?.data ?? {}) };
      expect(Object.keys(values).sort()).toEqual([...SECRET_KEYS].sort());
      for (const key of SECRET_KEYS) expect({ key, value: values[key] }).toEqual({ key, value: '' });
    });

    it('exposes gateway (8080) and sample-business (8090) through Services that select their pods', () => {
      const objs = get(dir);
      for (const [name, port] of [['gateway', 8080], [SAMPLE_BUSINESS, SAMPLE_BUSINESS_PORT]] as const) {
        const svc = named<Service>(objs, 'Service', name);
        const dep = named<Deployment>(objs, 'Deployment', name);
        expect(svc).toBeDefined();
        expect(svc!.spec.ports.map((p) => p.port)).toEqual([port]);
        expect(matches(svc!.spec.selector, dep!.spec.template.metadata.labels)).toBe(true);
        const target = svc!.spec.ports[0].targetPort ?? port;
        expect(probePort(dep!.spec.template.spec.containers[0], { httpGet: { port: target } })).toBe(port);
      }
    });

    it('guards the gateway with a PodDisruptionBudget that selects its pods and never blocks a drain', () => {
      const objs = get(dir);
      const pdb = named<Pdb>(objs, 'PodDisruptionBudget', 'gateway');
      const dep = named<Deployment>(objs, 'Deployment', 'gateway')!;
      expect(pdb).toBeDefined();
      expect(matches(pdb!.spec.selector.matchLabels, dep.spec.template.metadata.labels)).toBe(true);
      if (pdb!.spec.minAvailable !== undefined) expect(Number(pdb!.spec.minAvailable)).toBeLessThan(dep.spec.replicas ?? 1);
      else expect(pdb!.spec.maxUnavailable).toBeDefined();
      for (const p of ofKind<Pdb>(objs, 'PodDisruptionBudget')) {
        expect(ofKind<Deployment>(objs, 'Deployment').some((d) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels))).toBe(true);
      }
    });

    it('points every HorizontalPodAutoscaler at a rendered Deployment, with min <= replicas <= max', () => {
      const objs = get(dir);
      for (const h of ofKind<Hpa>(objs, 'HorizontalPodAutoscaler')) {
        const dep = named<Deployment>(objs, h.spec.scaleTargetRef.kind, h.spec.scaleTargetRef.name);
        expect({ hpa: h.metadata.name, target: dep?.metadata.name }).toEqual({ hpa: h.metadata.name, target: h.spec.scaleTargetRef.name });
        const replicas = dep!.spec.replicas ?? 1;
        expect(h.spec.minReplicas ?? 1).toBeLessThanOrEqual(replicas);
        expect(replicas).toBeLessThanOrEqual(h.spec.maxReplicas);
      }
    });
  });

  it('base: autoscales the gateway', () => {
    expect(named<Hpa>(get('k8s/base'), 'HorizontalPodAutoscaler', 'gateway')).toBeDefined();
  });

  it('dev: runs one replica of everything and no autoscalers', () => {
    const objs = get('k8s/overlays/dev');
    for (const d of ofKind<Deployment>(objs, 'Deployment')) expect({ name: d.metadata.name, replicas: d.spec.replicas }).toEqual({ name: d.metadata.name, replicas: 1 });
    expect(ofKind(objs, 'HorizontalPodAutoscaler')).toEqual([]);
  });

  it('prod: runs several gateways and agents, autoscaled, on a pinned image with Kafka over TLS', () => {
    const objs = get('k8s/overlays/prod');
    const replicas = (name: string): number => named<Deployment>(objs, 'Deployment', name)?.spec.replicas ?? 1;
    expect(replicas('gateway')).toBeGreaterThan(1);
    for (const name of [...AGENTS, 'coordinator']) expect({ name, atLeastTwo: replicas(name) >= 2 }).toEqual({ name, atLeastTwo: true });
    expect(named<Hpa>(objs, 'HorizontalPodAutoscaler', 'gateway')?.spec.minReplicas).toBeGreaterThan(1);
    for (const d of ofKind<Deployment>(objs, 'Deployment')) expect(d.spec.template.spec.containers[0].image).not.toMatch(/:latest$/);
    const [cm] = ofKind<ConfigData>(objs, 'ConfigMap');
    expect(cm.data?.KAFKA_SSL).toBe('true');
  });
});

// ---- docker compose ----------------------------------------------------------------------------

describe('docker-compose.yml (docker compose config)', () => {
  let project: ComposeProject;

  beforeAll(() => {
    project = composeConfig();
  }, 60_000);

  const svc = (name: string): ComposeService => {
    const s = project?.services[name];
    if (!s) throw new Error(`compose service ${name} missing (or the beforeAll failed)`);
    return s;
  };

  it('defines exactly the infrastructure, the six Flotilla services and sample-business', () => {
    expect(Object.keys(project.services).sort()).toEqual(['kafka', 'mongo', 'qdrant', ...ALL_DEPLOYMENTS].sort());
    expect(svc('kafka').image).toMatch(/^apache\/kafka:/);
    expect(svc('mongo').image).toMatch(/^mongo:/);
    expect(svc('qdrant').image).toMatch(/^qdrant\/qdrant:/);
  });

  it('builds every Flotilla service and sample-business from the Dockerfile with SERVICE = its name', () => {
    for (const name of ALL_DEPLOYMENTS) {
      expect({ name, SERVICE: svc(name).build?.args?.SERVICE }).toEqual({ name, SERVICE: name });
      const port = name === SAMPLE_BUSINESS ? SAMPLE_BUSINESS_PORT : FLOTILLA_PORTS[name];
      expect({ name, PORT: svc(name).environment?.PORT }).toEqual({ name, PORT: String(port) });
    }
  });

  it('points KAFKA_BROKERS of every Flotilla service at the kafka service on its internal listener', () => {
    const advertised = svc('kafka').environment?.KAFKA_ADVERTISED_LISTENERS ?? '';
    const internal = /:\/\/kafka:(\d+)/.exec(advertised);
    expect(internal).not.toBeNull();
    for (const name of FLOTILLA_SERVICES) {
      const brokers = (svc(name).environment?.KAFKA_BROKERS ?? '').split(',').map((b) => b.trim());
      expect({ name, brokers }).toEqual({ name, brokers: [`kafka:${internal![1]}`] });
      expect({ name, dependsOnKafka: svc(name).depends_on?.kafka?.condition }).toEqual({ name, dependsOnKafka: 'service_healthy' });
    }
  });

  it('gives every Flotilla service the distributed-mode config and sample-business as TOOLS_BASE_URL', () => {
    for (const name of FLOTILLA_SERVICES) {
      const env = svc(name).environment ?? {};
      expect({ name, mode: env.FLOTILLA_MODE, mongo: env.MONGO_URL?.startsWith('mongodb://mongo:'), qdrant: env.QDRANT_URL, tools: env.TOOLS_BASE_URL, clientId: !!env.KAFKA_CLIENT_ID })
        .toEqual({ name, mode: 'distributed', mongo: true, qdrant: 'http://qdrant:6333', tools: `http://${SAMPLE_BUSINESS}:${SAMPLE_BUSINESS_PORT}`, clientId: true });
    }
    expect(svc('tool').depends_on?.[SAMPLE_BUSINESS]?.condition).toBe('service_healthy');
    expect(svc('retriever').depends_on?.qdrant?.condition).toBe('service_healthy');
  });

  it('health-checks the infrastructure and every built service, and publishes the gateway on 8080', () => {
    for (const name of ['kafka', 'mongo', 'qdrant', ...ALL_DEPLOYMENTS]) {
      const hc = svc(name).healthcheck;
      expect({ name, healthcheck: !!hc?.test?.length && !hc.disable }).toEqual({ name, healthcheck: true });
    }
    expect(svc('gateway').ports?.some((p) => p.target === 8080 && String(p.published) === '8080')).toBe(true);
    for (const name of ALL_DEPLOYMENTS.filter((n) => n !== 'gateway')) expect({ name, ports: svc(name).ports ?? [] }).toEqual({ name, ports: [] });
  });
});
