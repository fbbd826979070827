import { join } from 'node:path';
import { FlotillaConfig } from '@flotilla/config';
import { EmbeddedVectorStore } from './embedded-vector-store';
import { collectionNameFor, Embedder, LocalLexicalEmbedder } from './embedder';
import { KnowledgeBase } from './knowledge-base';
import { QdrantVectorStore } from './qdrant-vector-store';
import { SearchCache, SearchCacheOptions } from './search-cache';
import { VectorStore } from './vector-store';

export * from './embedder';
export * from './vector-store';
export * from './knowledge-base';
export * from './sample-kb';
export * from './search-cache';
export { EmbeddedVectorStore } from './embedded-vector-store';
export { MIN_QDRANT_VERSION, pointIdFor, QdrantVectorStore, qdrantError, uuidV5 } from './qdrant-vector-store';
export type { QdrantVectorStoreOptions } from './qdrant-vector-store';

export interface CreateKnowledgeBaseOptions {
  /** Search cache settings, or `false` for none. Default: 1000 entries for 60 s. */
  cache?: SearchCacheOptions | false;
}

/**
 * The vector store from configuration: Qdrant when `QDRANT_URL` is set, else the embedded SQLite
 * file in `FLOTILLA_DATA_DIR`. The collection is named after the embedder (see `collectionNameFor`).
 */
export function createVectorStore(config: FlotillaConfig, embedder: Pick<Embedder, 'name' | 'dimension'>): VectorStore {
  const collection = collectionNameFor(embedder);
  if (config.QDRANT_URL) return new QdrantVectorStore({ url: config.QDRANT_URL, apiKey: config.QDRANT_API_KEY, collection });
  return new EmbeddedVectorStore(join(config.FLOTILLA_DATA_DIR, 'flotilla.db'), collection);
}

/**
 * The knowledge base from configuration, with a search cache. `embedder` defaults to the built-in
 * local (lexical) one; callers that own an OpenAI-compatible embeddings client inject it here, since
 * this lib does not depend on the LLM lib.
 */
export function createKnowledgeBase(config: FlotillaConfig, embedder: Embedder = new LocalLexicalEmbedder(), options: CreateKnowledgeBaseOptions = {}): KnowledgeBase {
  const cache = options.cache === false ? undefined : new SearchCache(options.cache);
  return new KnowledgeBase(createVectorStore(config, embedder), embedder, { cache });
}
