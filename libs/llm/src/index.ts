export * from './port';
export * from './prompts';
export * from './errors';
export { LocalModel, LOCAL_MODEL_INFO } from './local-model';
export { OpenAiModel, DEFAULT_MODEL_TIMEOUT_MS } from './openai-model';
export type { OpenAiModelOptions } from './openai-model';
export { createLanguageModel } from './factory';
export type { LanguageModelOptions } from './factory';
