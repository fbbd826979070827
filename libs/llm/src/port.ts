import type { Lane } from '@flotilla/contracts';

/**
 * The model port every agent uses. Adapters: the OpenAI-compatible client (any such endpoint) and
 * the built-in deterministic local model, which is labelled as such and never presented as an LLM.
 */
export type ModelTier = 'simple' | 'complex' | 'critical';

/** The tiers, in order of the capability they need. */
export const MODEL_TIERS: readonly ModelTier[] = ['simple', 'complex', 'critical'];

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
  /**
   * Which queue the call waits in when budget is short (default `interactive`): interactive (chat)
   * calls are served before batch ones.
   */
  lane?: Lane;
  /**
   * Absolute epoch ms by which the call must have finished. A model whose budget cannot be had before
   * then is skipped for the next one in the tier's chain; the call is aborted when it passes.
   */
  deadlineMs?: number;
  /** The tenant whose daily token budget the call is charged to. */
  tenantId?: string;
  /**
   * The fallback chains pinned when the workflow started (its `modelRoutes` pin): a deploy that
   * changes LLM_ROUTES does not change the models of workflows already running. Models the router
   * no longer has are skipped; if none is left, the current chain serves.
   */
  routes?: Partial<Record<ModelTier, string[]>>;
  /**
   * Whether an identical earlier answer may be reused. Default: only when `temperature` is 0 (any
   * other temperature asks for variety, which a cache would defeat).
   */
  cache?: boolean;
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

/** Tokens a call used and, when the model's prices are known, what it cost. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** USD at the answering model's configured prices; set on every result from the `ModelRouter`. */
  costUsd?: number;
}

export interface CompletionResult {
  text: string;
  toolCalls: ToolCall[];
  /** The model that answered (after routing and fallback). */
  model: ModelInfo;
  /** What this call used; all zero when it was answered from the response cache. */
  usage: Usage;
  finishReason: string;
  /** Set when the answer came from the response cache rather than a model call. */
  cached?: true;
}

export interface LanguageModel {
  readonly info: ModelInfo;
  complete(request: CompletionRequest): Promise<CompletionResult>;
  /** Streams the text as it is generated; resolves with the whole result. */
  stream(request: CompletionRequest, onToken: (text: string) => Promise<void> | void): Promise<CompletionResult>;
}
