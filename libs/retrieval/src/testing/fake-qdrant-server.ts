import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/*
 * A FAKE of Qdrant's REST API for tests — NOT Qdrant. No Qdrant server can run on the machines these
 * tests run on (no package registry ships one), so the real `@qdrant/js-client-rest` client is pointed
 * at this: node:http on 127.0.0.1, implementing exactly the endpoints and the filter subset
 * QdrantVectorStore uses, in Qdrant's request and response formats. Anything else answers 404 with
 * "fake Qdrant: unsupported", so a new call in the adapter fails loudly here until the fake (and the
 * real-server suite, `qdrant-vector-store.int.spec.ts`) cover it.
 *
 * It keeps Qdrant's rules that matter to the adapter: point ids must be UUIDs or unsigned integers,
 * vectors must have the collection's dimension, Cosine scores normalise both sides, creating an existing
 * collection is 409, and `order_by` needs a range-capable (integer) payload index. It is stricter than a
 * default Qdrant in one way, like Qdrant's strict mode: filtering on a field without a payload index is
 * refused, which proves the adapter created the indexes it filters on. Only specs import it (the
 * `testing` folder is excluded from the build).
 */

export interface RecordedQdrantRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

interface StoredPoint {
  id: string | number;
  vector: number[];
  payload: Record<string, unknown>;
}

interface FakeCollection {
  size: number;
  distance: string;
  points: Map<string, StoredPoint>;
  indexes: Map<string, { data_type: string; params: Record<string, unknown> }>;
}

export interface FakeQdrant {
  /** Base URL for the client. */
  url: string;
  /** Every request received, in order. */
  requests: RecordedQdrantRequest[];
  /** Collection state, for assertions. */
  collections: Map<string, FakeCollection>;
  /** The next `times` requests whose "METHOD path" matches `pattern` fail with `status`. */
  failNext(options: { status: number; times?: number; pattern?: RegExp; retryAfter?: string }): void;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const INDEX_TYPES = ['keyword', 'integer', 'float', 'geo', 'text', 'bool', 'datetime', 'uuid'];
const RANGE_TYPES = ['integer', 'float', 'datetime'];

function pointKey(id: unknown): string {
  if (typeof id === 'number' && Number.isInteger(id) && id >= 0) return `n:${id}`;
  if (typeof id === 'string' && UUID.test(id)) return `u:${id.replace(/-/g, '').toLowerCase()}`;
  throw new HttpError(400, `Format error in JSON body: value ${JSON.stringify(id)} is not a valid point ID, valid values are either an unsigned integer or a UUID`);
}

function unit(vector: number[]): number[] {
  const norm = Math.sqrt(vector.reduce((s, x) => s + x * x, 0)) || 1;
  return vector.map((x) => x / norm);
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Qdrant's filter semantics for the subset used: must / must_not / should of match-value, match-any and range conditions. */
function matchesFilter(filter: unknown, payload: Json, col: FakeCollection): boolean {
  if (filter === undefined || filter === null) return true;
  if (!isObject(filter)) throw new HttpError(400, 'fake Qdrant: filter must be an object');
  for (const k of Object.keys(filter)) if (!['must', 'must_not', 'should'].includes(k)) throw new HttpError(400, `fake Qdrant: unsupported filter clause ${k}`);
  const list = (x: unknown): unknown[] => (x === undefined || x === null ? [] : Array.isArray(x) ? x : [x]);
  const must = list(filter['must']);
  const mustNot = list(filter['must_not']);
  const should = list(filter['should']);
  return must.every((c) => matchesCondition(c, payload, col))
    && mustNot.every((c) => !matchesCondition(c, payload, col))
    && (should.length === 0 || should.some((c) => matchesCondition(c, payload, col)));
}

function matchesCondition(cond: unknown, payload: Json, col: FakeCollection): boolean {
  if (!isObject(cond)) throw new HttpError(400, 'fake Qdrant: condition must be an object');
  if ('must' in cond || 'must_not' in cond || 'should' in cond) return matchesFilter(cond, payload, col);
  const key = cond['key'];
  if (typeof key !== 'string' || key.includes('.') || key.includes('[')) throw new HttpError(400, `fake Qdrant: unsupported condition ${JSON.stringify(cond)}`);
  const index = col.indexes.get(key);
  const value = payload[key];
  if (isObject(cond['match'])) {
    const m = cond['match'];
    if (!index) throw new HttpError(400, `Bad request: Index required but not found for "${key}" of one of the following types: [keyword, integer]. Help: Create an index for this key or use a different filter.`);
    if ('value' in m) return value === m['value'];
    if (Array.isArray(m['any'])) return m['any'].includes(value);
    throw new HttpError(400, `fake Qdrant: unsupported match ${JSON.stringify(m)}`);
  }
  if (isObject(cond['range'])) {
    if (!index || !RANGE_TYPES.includes(index.data_type)) throw new HttpError(400, `Bad request: Index required but not found for "${key}" of one of the following types: [integer, float, datetime]. Help: Create an index for this key or use a different filter.`);
    const r = cond['range'];
    if (typeof value !== 'number') return false;
    return (typeof r['gt'] !== 'number' || value > r['gt']) && (typeof r['gte'] !== 'number' || value >= r['gte'])
      && (typeof r['lt'] !== 'number' || value < r['lt']) && (typeof r['lte'] !== 'number' || value <= r['lte']);
  }
  throw new HttpError(400, `fake Qdrant: unsupported condition ${JSON.stringify(cond)}`);
}

function selectPayload(payload: Json, withPayload: unknown): Json | undefined {
  if (withPayload === true) return { ...payload };
  if (Array.isArray(withPayload)) return Object.fromEntries(withPayload.filter((k): k is string => typeof k === 'string' && k in payload).map((k) => [k, payload[k]]));
  if (withPayload === false || withPayload === undefined) return undefined;
  throw new HttpError(400, `fake Qdrant: unsupported with_payload ${JSON.stringify(withPayload)}`);
}

const updateResult = { operation_id: 0, status: 'completed' };

export async function startFakeQdrant(options: { version?: string } = {}): Promise<FakeQdrant> {
  const version = options.version ?? '1.15.1';
  const requests: RecordedQdrantRequest[] = [];
  const collections = new Map<string, FakeCollection>();
  const failures: { status: number; times: number; pattern?: RegExp; retryAfter?: string }[] = [];
  let operation = 0;

  const collection = (name: string): FakeCollection => {
    const c = collections.get(name);
    if (!c) throw new HttpError(404, `Not found: Collection \`${name}\` doesn't exist!`);
    return c;
  };

  const route = (method: string, path: string, body: Json): unknown => {
    if (method === 'GET' && path === '/') return { title: 'qdrant - vector search engine (FAKE for tests)', version, commit: 'fake' };
    const m = /^\/collections\/([^/]+)(\/.*)?$/.exec(path);
    if (!m) throw new HttpError(404, `fake Qdrant: unsupported endpoint ${method} ${path}`);
    const name = decodeURIComponent(m[1]!);
    const rest = m[2] ?? '';
    switch (`${method} ${rest}`) {
      case 'GET /exists':
        return { result: { exists: collections.has(name) } };
      case 'GET ': {
        const c = collection(name);
        return {
          result: {
            status: 'green', optimizer_status: 'ok', points_count: c.points.size, indexed_vectors_count: 0, segments_count: 1,
            config: { params: { vectors: { size: c.size, distance: c.distance }, shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: true } },
            payload_schema: Object.fromEntries([...c.indexes].map(([k, v]) => [k, { ...v, points: [...c.points.values()].filter((p) => k in p.payload).length }])),
          },
        };
      }
      case 'PUT ': {
        if (collections.has(name)) throw new HttpError(409, `Wrong input: Collection \`${name}\` already exists!`);
        const vectors = body['vectors'];
        if (!isObject(vectors) || !Number.isInteger(vectors['size']) || (vectors['size'] as number) < 1) throw new HttpError(400, 'fake Qdrant: only a single unnamed vector config {size, distance} is supported');
        if (vectors['distance'] !== 'Cosine') throw new HttpError(400, 'fake Qdrant: only Cosine distance is supported');
        collections.set(name, { size: vectors['size'] as number, distance: 'Cosine', points: new Map(), indexes: new Map() });
        return { result: true };
      }
      case 'DELETE ':
        return { result: collections.delete(name) };
      case 'PUT /index': {
        const c = collection(name);
        const field = body['field_name'];
        const schema = body['field_schema'];
        const type = typeof schema === 'string' ? schema : isObject(schema) ? schema['type'] : undefined;
        if (typeof field !== 'string' || typeof type !== 'string' || !INDEX_TYPES.includes(type)) throw new HttpError(400, `fake Qdrant: bad payload index ${JSON.stringify(body)}`);
        c.indexes.set(field, { data_type: type, params: isObject(schema) ? schema : { type } });
        return { result: { ...updateResult, operation_id: ++operation } };
      }
      case 'PUT /points': {
        const c = collection(name);
        const points = body['points'];
        if (!Array.isArray(points)) throw new HttpError(400, 'fake Qdrant: only the {points: [...]} upsert form is supported');
        // Validate the whole batch first: Qdrant applies a rejected request not at all.
        const valid = points.map((p: unknown) => {
          if (!isObject(p)) throw new HttpError(400, 'fake Qdrant: a point must be an object');
          const key = pointKey(p['id']);
          const vector = p['vector'];
          if (!Array.isArray(vector) || !vector.every((x) => typeof x === 'number')) throw new HttpError(400, 'fake Qdrant: only unnamed dense vectors are supported');
          if (vector.length !== c.size) throw new HttpError(400, `Wrong input: Vector dimension error: expected dim: ${c.size}, got ${vector.length}`);
          return { key, point: { id: p['id'] as string | number, vector: unit(vector as number[]), payload: isObject(p['payload']) ? p['payload'] : {} } };
        });
        for (const v of valid) c.points.set(v.key, v.point);
        return { result: { ...updateResult, operation_id: ++operation } };
      }
      case 'POST /points/delete': {
        const c = collection(name);
        if (Array.isArray(body['points'])) for (const id of body['points']) c.points.delete(pointKey(id));
        else if (isObject(body['filter'])) {
          for (const [k, p] of [...c.points]) if (matchesFilter(body['filter'], p.payload, c)) c.points.delete(k);
        } else throw new HttpError(400, 'fake Qdrant: delete needs points or filter');
        return { result: { ...updateResult, operation_id: ++operation } };
      }
      case 'POST /points/count': {
        const c = collection(name);
        return { result: { count: [...c.points.values()].filter((p) => matchesFilter(body['filter'], p.payload, c)).length } };
      }
      case 'POST /points/scroll': {
        const c = collection(name);
        const limit = typeof body['limit'] === 'number' ? body['limit'] : 10;
        let points = [...c.points.values()].filter((p) => matchesFilter(body['filter'], p.payload, c));
        const orderBy = body['order_by'];
        if (orderBy !== undefined && orderBy !== null) {
          const key = typeof orderBy === 'string' ? orderBy : isObject(orderBy) ? orderBy['key'] : undefined;
          const direction = isObject(orderBy) && orderBy['direction'] === 'desc' ? -1 : 1;
          const index = typeof key === 'string' ? c.indexes.get(key) : undefined;
          if (typeof key !== 'string' || !index || !RANGE_TYPES.includes(index.data_type)) {
            throw new HttpError(400, `Bad request: No range index for \`order_by\` key: \`${String(key)}\`. Please create one to use \`order_by\`.`);
          }
          points = points.filter((p) => typeof p.payload[key] === 'number').sort((a, b) => direction * ((a.payload[key] as number) - (b.payload[key] as number)));
        } else if (body['offset'] !== undefined && body['offset'] !== null) throw new HttpError(400, 'fake Qdrant: scroll offsets are not supported');
        const page = points.slice(0, limit).map((p) => ({ id: p.id, payload: selectPayload(p.payload, body['with_payload'] ?? true) }));
        return { result: { points: page, next_page_offset: null } };
      }
      case 'POST /points/query': {
        const c = collection(name);
        const query = Array.isArray(body['query']) ? body['query'] : isObject(body['query']) ? body['query']['nearest'] : undefined;
        if (!Array.isArray(query) || !query.every((x) => typeof x === 'number')) throw new HttpError(400, 'fake Qdrant: only a dense nearest-vector query is supported');
        if (query.length !== c.size) throw new HttpError(400, `Wrong input: Vector dimension error: expected dim: ${c.size}, got ${query.length}`);
        if (body['prefetch'] !== undefined || body['using'] !== undefined) throw new HttpError(400, 'fake Qdrant: prefetch/using are not supported');
        const q = unit(query as number[]);
        const limit = typeof body['limit'] === 'number' ? body['limit'] : 10;
        const offset = typeof body['offset'] === 'number' ? body['offset'] : 0;
        const threshold = typeof body['score_threshold'] === 'number' ? body['score_threshold'] : -Infinity;
        const scored = [...c.points.values()]
          .filter((p) => matchesFilter(body['filter'], p.payload, c))
          .map((p) => ({ p, score: p.vector.reduce((s, x, i) => s + x * q[i]!, 0) }))
          .filter((s) => s.score >= threshold)
          .sort((a, b) => b.score - a.score)
          .slice(offset, offset + limit);
        return { result: { points: scored.map(({ p, score }) => ({ id: p.id, version: operation, score, payload: selectPayload(p.payload, body['with_payload'] ?? false) })) } };
      }
      default:
        throw new HttpError(404, `fake Qdrant: unsupported endpoint ${method} ${path}`);
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const started = process.hrtime.bigint();
      const url = new URL(req.url ?? '/', 'http://fake');
      const method = req.method ?? 'GET';
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      let status = 200;
      let out: unknown;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      try {
        try {
          body = text ? JSON.parse(text) : {};
        } catch {
          throw new HttpError(400, 'Format error in JSON body: invalid JSON');
        }
        requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), body });
        const failure = failures.find((f) => f.times > 0 && (!f.pattern || f.pattern.test(`${method} ${url.pathname}`)));
        if (failure) {
          failure.times--;
          if (failure.retryAfter) headers['retry-after'] = failure.retryAfter;
          throw new HttpError(failure.status, `fake Qdrant: injected failure ${failure.status}`);
        }
        out = route(method, url.pathname, isObject(body) ? body : {});
      } catch (err) {
        status = err instanceof HttpError ? err.status : 500;
        out = { status: { error: err instanceof Error ? err.message : String(err) } };
      }
      const time = Number(process.hrtime.bigint() - started) / 1e9;
      const payload = isObject(out) && 'result' in out ? { ...out, status: 'ok', time } : isObject(out) && isObject(out['status']) ? { ...out, time } : out;
      res.writeHead(status, headers).end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    collections,
    failNext: ({ status, times = 1, pattern, retryAfter }) => {
      failures.push({ status, times, pattern, retryAfter });
    },
    close: () => new Promise<void>((resolve, reject) => {
      if (!server.listening) return resolve();
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    }),
  };
}
