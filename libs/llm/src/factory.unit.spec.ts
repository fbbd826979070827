import { createLanguageModel } from './factory';
import { LocalModel } from './local-model';
import { OpenAiModel } from './openai-model';

describe('createLanguageModel', () => {
  it('uses the local deterministic model when no API key is configured', () => {
    const model = createLanguageModel({ OPENAI_MODEL: 'gpt-4o-mini' });
    expect(model).toBeInstanceOf(LocalModel);
    expect(model.info.provider).toBe('local');
  });

  it('uses the OpenAI-compatible model when an API key is configured', () => {
    const model = createLanguageModel({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1', OPENAI_MODEL: 'llama3' });
    expect(model).toBeInstanceOf(OpenAiModel);
    expect(model.info).toEqual({ provider: 'openai', model: 'llama3', label: 'OpenAI-compatible model llama3' });
  });
});
