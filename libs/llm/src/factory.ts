import { FlotillaConfig } from '@flotilla/config';
import { LocalModel } from './local-model';
import { OpenAiModel } from './openai-model';
import { LanguageModel } from './port';

export interface LanguageModelOptions {
  /** A whole model call's deadline; see `OpenAiModelOptions.timeoutMs`. */
  timeoutMs?: number;
}

/**
 * Picks the model from configuration: an OpenAI-compatible endpoint when an API key is set, else the
 * built-in deterministic local model. This is the one seam where model tiers and fallback chains
 * will be assembled; callers only ever see a {@link LanguageModel}.
 */
export function createLanguageModel(
  config: Pick<FlotillaConfig, 'OPENAI_BASE_URL' | 'OPENAI_API_KEY' | 'OPENAI_MODEL'>,
  options: LanguageModelOptions = {},
): LanguageModel {
  if (!config.OPENAI_API_KEY) return new LocalModel();
  return new OpenAiModel({ baseURL: config.OPENAI_BASE_URL, apiKey: config.OPENAI_API_KEY, model: config.OPENAI_MODEL, timeoutMs: options.timeoutMs });
}
