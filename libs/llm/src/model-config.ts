import { ErrorCode, FieldError, FlotillaError } from '@flotilla/common';
import type { FlotillaConfig } from '@flotilla/config';
import { FREE, ModelPrices } from './accounting';
import { MODEL_TIERS, ModelTier } from './port';
import { RateLimits } from './rate-budget';

/** The built-in deterministic model's name in routes: always available, free, unlimited. */
export const LOCAL_MODEL_NAME = 'local';

/** One model of the OpenAI-compatible endpoint, as LLM_MODELS describes it. */
export interface ModelSpec {
  /** The provider's model id, also its name in routes. */
  name: string;
  /** 0 = not limited. */
  limits: RateLimits;
  prices: ModelPrices;
}

/** Each tier's fallback chain of model names, first choice first. */
export type ModelRoutes = Record<ModelTier, string[]>;

/**
 * A workflow's `modelRoutes` pin (the routes it started with, written by the coordinator) read
 * back: undefined when absent (workflows started before pins existed) or unreadable.
 */
export function decodeRoutesPin(raw: string | undefined): Partial<ModelRoutes> | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as Partial<ModelRoutes>;
  } catch {
    return undefined;
  }
}

export type RoutingConfig = Pick<FlotillaConfig, 'OPENAI_API_KEY' | 'OPENAI_MODEL'> & Partial<Pick<FlotillaConfig, 'LLM_MODELS' | 'LLM_ROUTES'>>;

const MODEL_FIELDS = ['name', 'rpm', 'tpm', 'inputPer1M', 'outputPer1M'];

/**
 * Parses LLM_MODELS: a JSON array of `{ name, rpm, tpm, inputPer1M, outputPer1M }` (limits per
 * minute, 0 = unlimited; prices in USD per million tokens). Throws ConfigInvalid listing every
 * problem, so a typo stops the process at boot instead of silently removing a budget.
 */
export function parseModels(json: string | undefined): ModelSpec[] {
  if (json === undefined || json.trim() === '') return [];
  const problems: string[] = [];
  const parsed = parseJson(json, 'LLM_MODELS');
  if (!Array.isArray(parsed)) throw invalid('LLM_MODELS', ['must be a JSON array of models']);
  const specs: ModelSpec[] = [];
  const seen = new Set<string>();
  parsed.forEach((raw: unknown, i) => {
    const at = `model ${i}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${at} must be an object`);
      return;
    }
    const m = raw as Record<string, unknown>;
    const name = m['name'];
    const label = typeof name === 'string' && name.trim() !== '' ? `model "${name}"` : at;
    for (const key of Object.keys(m)) if (!MODEL_FIELDS.includes(key)) problems.push(`${label}: unknown field "${key}" (expected ${MODEL_FIELDS.join(', ')})`);
    if (typeof name !== 'string' || name.trim() === '') problems.push(`${at}: name must be a non-empty string`);
    else if (name === LOCAL_MODEL_NAME) problems.push(`${label}: "${LOCAL_MODEL_NAME}" is the built-in model's name`);
    else if (seen.has(name)) problems.push(`${label} is listed twice`);
    const count = (key: string): number => {
      const v = m[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        problems.push(`${label}: ${key} must be a whole number >= 0 (0 = unlimited)`);
        return 0;
      }
      return v;
    };
    const price = (key: string): number => {
      const v = m[key];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        problems.push(`${label}: ${key} must be a price in USD per million tokens >= 0`);
        return 0;
      }
      return v;
    };
    const spec: ModelSpec = {
      name: typeof name === 'string' ? name : '',
      limits: { rpm: count('rpm'), tpm: count('tpm') },
      prices: { inputPer1M: price('inputPer1M'), outputPer1M: price('outputPer1M') },
    };
    if (typeof name === 'string') seen.add(name);
    specs.push(spec);
  });
  if (problems.length) throw invalid('LLM_MODELS', problems);
  return specs;
}

/**
 * Parses LLM_ROUTES: a JSON object from tier (`simple`, `complex`, `critical`) to a non-empty list of
 * model names, tried in order. Tiers left out get `fallback`.
 */
export function parseRoutes(json: string | undefined, known: readonly string[], fallback: readonly string[]): ModelRoutes {
  const routes = Object.fromEntries(MODEL_TIERS.map((t) => [t, [...fallback]])) as ModelRoutes;
  if (json === undefined || json.trim() === '') return routes;
  const parsed = parseJson(json, 'LLM_ROUTES');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid('LLM_ROUTES', ['must be a JSON object from tier to a list of model names']);
  const problems: string[] = [];
  for (const [tier, chain] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(MODEL_TIERS as readonly string[]).includes(tier)) {
      problems.push(`unknown tier "${tier}" (expected ${MODEL_TIERS.join(', ')})`);
      continue;
    }
    if (!Array.isArray(chain) || chain.length === 0 || !chain.every((n): n is string => typeof n === 'string')) {
      problems.push(`${tier} must be a non-empty list of model names`);
      continue;
    }
    const unknown = chain.filter((n) => !known.includes(n));
    if (unknown.length) problems.push(`${tier} uses unknown model(s) ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${known.join(', ')})`);
    if (new Set(chain).size !== chain.length) problems.push(`${tier} lists a model twice`);
    routes[tier as ModelTier] = chain;
  }
  if (problems.length) throw invalid('LLM_ROUTES', problems);
  return routes;
}

/**
 * The models and routes the configuration asks for. With no LLM_ROUTES, every tier tries
 * OPENAI_MODEL then the local model when OPENAI_API_KEY is set, else only the local model.
 * OPENAI_MODEL is always a known model when a key is set (unlimited and priced at 0 unless LLM_MODELS
 * describes it).
 */
export function resolveRouting(config: RoutingConfig): { models: ModelSpec[]; routes: ModelRoutes } {
  const models = parseModels(config.LLM_MODELS);
  const hasKey = Boolean(config.OPENAI_API_KEY);
  if (hasKey && !models.some((m) => m.name === config.OPENAI_MODEL)) {
    models.push({ name: config.OPENAI_MODEL, limits: { rpm: 0, tpm: 0 }, prices: FREE });
  }
  const fallback = hasKey ? [config.OPENAI_MODEL, LOCAL_MODEL_NAME] : [LOCAL_MODEL_NAME];
  const routes = parseRoutes(config.LLM_ROUTES, [...models.map((m) => m.name), LOCAL_MODEL_NAME], fallback);
  if (!hasKey) {
    const remote = [...new Set(Object.values(routes).flat().filter((n) => n !== LOCAL_MODEL_NAME))];
    if (remote.length) throw invalid('LLM_ROUTES', [`uses ${remote.map((n) => `"${n}"`).join(', ')} but OPENAI_API_KEY is not set`]);
  }
  const used = new Set(Object.values(routes).flat());
  return { models: models.filter((m) => used.has(m.name)), routes };
}

function parseJson(json: string, field: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    throw invalid(field, [`is not valid JSON: ${(err as Error).message}`]);
  }
}

function invalid(field: string, reasons: string[]): FlotillaError {
  const fields: FieldError[] = [{ field, reasons }];
  return new FlotillaError(ErrorCode.ConfigInvalid, `invalid configuration: ${field} (${reasons.join('; ')})`, { retryable: false, fields });
}
