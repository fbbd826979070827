/**
 * The model port every agent uses. Adapters: the OpenAI-compatible client (any such endpoint) and
 * the built-in deterministic local model, which is labelled as such and never presented as an LLM.
 */
export type ModelTier = 'simple' | 'complex' | 'critical';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ToolDefinition {
  name: string;
  description: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
}

export interface CompletionRequest {
  /** What the call is for (`intent`, `compose`, ...): used for routing, accounting and logs. */
  purpose: string;
  tier: ModelTier;
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  /** Forces a call of this tool (structured output through function calling). */
  toolChoice?: { name: string };
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
}

export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

export interface ModelInfo {
  provider: 'openai' | 'local';
  model: string;
  /** Human label shown with answers; the local model's says it is not an LLM. */
  label: string;
}

export interface CompletionResult {
  text: string;
  toolCalls: ToolCall[];
  model: ModelInfo;
  usage: { promptTokens: number; completionTokens: number };
  finishReason: string;
}

export interface LanguageModel {
  readonly info: ModelInfo;
  complete(request: CompletionRequest): Promise<CompletionResult>;
  /** Streams the text as it is generated; resolves with the whole result. */
  stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult>;
}
