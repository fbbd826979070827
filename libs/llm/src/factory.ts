import { Logger } from '@flotilla/common';
import { FlotillaConfig } from '@flotilla/config';
import { Clock, systemClock } from './clock';
import { CounterStore, InMemoryCounterStore } from './counter-store';
import { LocalModel } from './local-model';
import { LOCAL_MODEL_NAME, resolveRouting } from './model-config';
import { OpenAiModel } from './openai-model';
import { InMemoryResponseCache, ResponseCache } from './response-cache';
import { ModelRouter, RoutedModel } from './router';
import { TenantBudget } from './tenant-budget';

export interface LanguageModelOptions {
  /** A whole model call's deadline; see `OpenAiModelOptions.timeoutMs`. */
  timeoutMs?: number;
  /**
   * Where model and tenant budgets count. Pass the shared store (SQLite in embedded mode, MongoDB in
   * distributed mode) so every replica counts against the same totals; default: this process only.
   */
  counters?: CounterStore;
  /** Default: an in-memory TTL + LRU cache of 1000 answers. */
  cache?: ResponseCache;
  clock?: Clock;
  logger?: Logger;
}

export type LanguageModelConfig = Pick<FlotillaConfig, 'OPENAI_MODEL'>
  & Partial<Pick<FlotillaConfig, 'OPENAI_BASE_URL' | 'OPENAI_API_KEY' | 'LLM_MODELS' | 'LLM_ROUTES' | 'LLM_BUDGET_HEADROOM' | 'LLM_CACHE_TTL_MS' | 'TENANT_DAILY_TOKEN_BUDGET'
    | 'LLM_ATTEMPT_TIMEOUT_MS' | 'LLM_FIRST_TOKEN_TIMEOUT_MS' | 'LLM_STREAM_IDLE_TIMEOUT_MS' | 'LLM_FALLBACK_RESERVE_MS'>>;

/**
 * The model every agent uses: a {@link ModelRouter} over the configured OpenAI-compatible models
 * (LLM_MODELS, LLM_ROUTES) and the built-in deterministic local model, each attempt bounded by
 * LLM_ATTEMPT_TIMEOUT_MS (whole responses) or LLM_FIRST_TOKEN_TIMEOUT_MS and LLM_STREAM_IDLE_TIMEOUT_MS
 * (text streams), with LLM_FALLBACK_RESERVE_MS kept for the fallback. With no API key every tier routes to the local model only, so the system runs with no LLM
 * at all. Throws ConfigInvalid at boot when the model or route configuration is wrong.
 */
export function createLanguageModel(config: LanguageModelConfig, options: LanguageModelOptions = {}): ModelRouter {
  const { models, routes } = resolveRouting({ OPENAI_API_KEY: config.OPENAI_API_KEY, OPENAI_MODEL: config.OPENAI_MODEL, LLM_MODELS: config.LLM_MODELS, LLM_ROUTES: config.LLM_ROUTES });
  const clock = options.clock ?? systemClock;
  const counters = options.counters ?? new InMemoryCounterStore(clock);
  const routed: RoutedModel[] = models.map((spec) => ({
    name: spec.name,
    // resolveRouting only keeps remote models when a key is set.
    model: new OpenAiModel({ baseURL: config.OPENAI_BASE_URL, apiKey: config.OPENAI_API_KEY ?? '', model: spec.name, timeoutMs: options.timeoutMs }),
    prices: spec.prices,
    limits: spec.limits,
  }));
  routed.push({ name: LOCAL_MODEL_NAME, model: new LocalModel() });
  return new ModelRouter({
    models: routed,
    routes,
    counters,
    cache: options.cache ?? new InMemoryResponseCache({ clock }),
    cacheTtlMs: config.LLM_CACHE_TTL_MS ?? 300_000,
    clock,
    headroom: config.LLM_BUDGET_HEADROOM ?? 0.1,
    tenantBudget: new TenantBudget({ counters, dailyLimit: config.TENANT_DAILY_TOKEN_BUDGET ?? 0, clock }),
    timeouts: {
      attemptMs: config.LLM_ATTEMPT_TIMEOUT_MS,
      firstTokenMs: config.LLM_FIRST_TOKEN_TIMEOUT_MS,
      idleMs: config.LLM_STREAM_IDLE_TIMEOUT_MS,
      fallbackReserveMs: config.LLM_FALLBACK_RESERVE_MS,
    },
    logger: options.logger,
  });
}
