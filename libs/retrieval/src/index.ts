import { join } from 'node:path';
import { FlotillaConfig } from '@flotilla/config';
import { EmbeddedVectorStore } from './embedded-vector-store';
import { LocalLexicalEmbedder } from './embedder';
import { KnowledgeBase } from './knowledge-base';

export * from './embedder';
export * from './vector-store';
export * from './knowledge-base';
export * from './sample-kb';
export { EmbeddedVectorStore } from './embedded-vector-store';

/**
 * The knowledge base from configuration. The Qdrant adapter (for QDRANT_URL) and an
 * OpenAI-compatible embedder are the next step; until then every mode uses the embedded store.
 */
export function createKnowledgeBase(config: FlotillaConfig): KnowledgeBase {
  return new KnowledgeBase(new EmbeddedVectorStore(join(config.FLOTILLA_DATA_DIR, 'flotilla.db')), new LocalLexicalEmbedder());
}
