import { ErrorCode, FlotillaError } from '@flotilla/common';
import { decodeRoutesPin, parseModels, parseRoutes, resolveRouting } from './model-config';

function configError(fn: () => unknown): FlotillaError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FlotillaError) return err;
    throw err;
  }
  throw new Error('expected a configuration error');
}

const MODELS = JSON.stringify([
  { name: 'gpt-4o-mini', rpm: 500, tpm: 200_000, inputPer1M: 0.15, outputPer1M: 0.6 },
  { name: 'gpt-4o', rpm: 100, tpm: 30_000, inputPer1M: 2.5, outputPer1M: 10 },
]);

describe('parseModels', () => {
  it('reads names, limits and prices', () => {
    expect(parseModels(MODELS)).toEqual([
      { name: 'gpt-4o-mini', limits: { rpm: 500, tpm: 200_000 }, prices: { inputPer1M: 0.15, outputPer1M: 0.6 } },
      { name: 'gpt-4o', limits: { rpm: 100, tpm: 30_000 }, prices: { inputPer1M: 2.5, outputPer1M: 10 } },
    ]);
    expect(parseModels(undefined)).toEqual([]);
  });

  it('lists every problem in one ConfigInvalid error', () => {
    const err = configError(() => parseModels(JSON.stringify([
      { name: 'a', rpm: 1.5, tpm: 10, inputPer1M: 1, outputPer1M: 1 },
      { name: 'a', rpm: 1, tpm: 10, inputPer1M: -1, outputPer1M: 1, tmp: 5 },
      { name: 'local', rpm: 1, tpm: 1, inputPer1M: 0, outputPer1M: 0 },
      { rpm: 1, tpm: 1, inputPer1M: 0, outputPer1M: 0 },
      'x',
    ])));
    expect(err).toMatchObject({ code: ErrorCode.ConfigInvalid, retryable: false });
    expect(err.fields[0]!.field).toBe('LLM_MODELS');
    const reasons = err.fields[0]!.reasons.join('\n');
    expect(reasons).toContain('model "a": rpm must be a whole number >= 0');
    expect(reasons).toContain('model "a": inputPer1M must be a price');
    expect(reasons).toContain('model "a": unknown field "tmp"');
    expect(reasons).toContain('model "a" is listed twice');
    expect(reasons).toContain('"local" is the built-in model\'s name');
    expect(reasons).toContain('model 3: name must be a non-empty string');
    expect(reasons).toContain('model 4 must be an object');
  });

  it('refuses what is not a JSON array', () => {
    expect(configError(() => parseModels('{nope')).message).toMatch(/LLM_MODELS \(is not valid JSON/);
    expect(configError(() => parseModels('{}')).message).toMatch(/must be a JSON array/);
  });
});

describe('parseRoutes', () => {
  const known = ['gpt-4o-mini', 'gpt-4o', 'local'];

  it('reads a chain per tier; tiers left out get the default', () => {
    expect(parseRoutes('{"critical":["gpt-4o","gpt-4o-mini","local"]}', known, ['gpt-4o-mini', 'local'])).toEqual({
      simple: ['gpt-4o-mini', 'local'], complex: ['gpt-4o-mini', 'local'], critical: ['gpt-4o', 'gpt-4o-mini', 'local'],
    });
  });

  it('refuses unknown tiers and models, empty and repeating chains', () => {
    const err = configError(() => parseRoutes('{"simpel":["local"],"complex":["gpt-5"],"critical":[],"simple":["local","local"]}', known, ['local']));
    const reasons = err.fields[0]!.reasons.join('\n');
    expect(reasons).toContain('unknown tier "simpel"');
    expect(reasons).toContain('complex uses unknown model(s) "gpt-5"');
    expect(reasons).toContain('critical must be a non-empty list');
    expect(reasons).toContain('simple lists a model twice');
  });
});

describe('resolveRouting', () => {
  it('routes every tier to the local model when no API key is set', () => {
    expect(resolveRouting({ OPENAI_MODEL: 'gpt-4o-mini' })).toEqual({
      models: [], routes: { simple: ['local'], complex: ['local'], critical: ['local'] },
    });
  });

  it('routes every tier to OPENAI_MODEL then local when a key is set, unlimited and unpriced unless LLM_MODELS says', () => {
    expect(resolveRouting({ OPENAI_API_KEY: 'sk', OPENAI_MODEL: 'llama3' })).toEqual({
      models: [{ name: 'llama3', limits: { rpm: 0, tpm: 0 }, prices: { inputPer1M: 0, outputPer1M: 0 } }],
      routes: { simple: ['llama3', 'local'], complex: ['llama3', 'local'], critical: ['llama3', 'local'] },
    });
    const { models } = resolveRouting({ OPENAI_API_KEY: 'sk', OPENAI_MODEL: 'gpt-4o-mini', LLM_MODELS: MODELS, LLM_ROUTES: '{"critical":["gpt-4o","local"]}' });
    expect(models.map((m) => m.name)).toEqual(['gpt-4o-mini', 'gpt-4o']);
    expect(models[0]!.limits).toEqual({ rpm: 500, tpm: 200_000 });
  });

  it('refuses routes to remote models without an API key', () => {
    expect(configError(() => resolveRouting({ OPENAI_MODEL: 'x', LLM_MODELS: MODELS, LLM_ROUTES: '{"complex":["gpt-4o","local"]}' })).message)
      .toContain('uses "gpt-4o" but OPENAI_API_KEY is not set');
  });
});

describe('decodeRoutesPin', () => {
  it('reads back the routes a workflow was pinned to, and nothing from an absent or unreadable pin', () => {
    expect(decodeRoutesPin(JSON.stringify({ simple: ['local'], complex: ['gpt', 'local'] }))).toEqual({ simple: ['local'], complex: ['gpt', 'local'] });
    expect(decodeRoutesPin(undefined)).toBeUndefined();
    expect(decodeRoutesPin('')).toBeUndefined();
    expect(decodeRoutesPin('{not json')).toBeUndefined();
  });
});
