import { deriveId } from '@flotilla/common';
import { Embedder } from './embedder';
import { ScoredChunk, VectorStore } from './vector-store';

export interface KnowledgeDocument {
  tenantId: string;
  docId: string;
  version: number;
  title: string;
  text: string;
  uri?: string;
}

/**
 * Splits a document into passages of whole sentences of at most about `maxChars`, keeping
 * paragraphs together where they fit so that a passage carries its context.
 */
export function chunk(text: string, maxChars = 500): string[] {
  const sentences: string[] = [];
  const paragraphs = text.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim()).filter(Boolean);
  const out: string[] = [];
  let cur = '';
  const push = (piece: string): void => {
    if (cur && cur.length + 1 + piece.length > maxChars) {
      out.push(cur);
      cur = piece;
    } else cur = cur ? `${cur} ${piece}` : piece;
  };
  for (const para of paragraphs) {
    if (para.length <= maxChars) {
      push(para);
      continue;
    }
    // A long paragraph is cut between sentences (a period followed by white space, so "$5.95" stays whole).
    sentences.splice(0, sentences.length, ...para.split(/(?<=[.!?])\s+/));
    for (const s of sentences) push(s);
  }
  // A short tail would outrank its context on shared words alone: keep it with the passage before.
  if (cur && out.length > 0 && cur.length < maxChars / 3) out[out.length - 1] = `${out[out.length - 1]} ${cur}`;
  else if (cur) out.push(cur);
  return out;
}

/**
 * Ingest and search over a vector store. Ingestion is idempotent by document id and version: the
 * same version again writes nothing; a new version replaces the old one's chunks.
 */
export class KnowledgeBase {
  constructor(private readonly store: VectorStore, private readonly embedder: Embedder) {}

  async init(): Promise<void> {
    await this.store.ensureCollection(this.embedder.dimension);
  }

  async ingest(doc: KnowledgeDocument): Promise<{ chunks: number; skipped: boolean }> {
    const current = await this.store.documentVersion(doc.tenantId, doc.docId);
    if (current !== undefined && current >= doc.version) return { chunks: 0, skipped: true };
    const passages = chunk(doc.text);
    const vectors = await this.embedder.embed(passages.map((p) => `${doc.title}. ${p}`));
    await this.store.upsert(passages.map((text, i) => ({
      id: deriveId('chunk', doc.tenantId, doc.docId, String(doc.version), String(i)),
      vector: vectors[i]!,
      payload: { tenantId: doc.tenantId, docId: doc.docId, docVersion: doc.version, chunkIndex: i, title: doc.title, text, uri: doc.uri },
    })));
    await this.store.deleteDocument(doc.tenantId, doc.docId, doc.version);
    return { chunks: passages.length, skipped: false };
  }

  async search(query: string, tenantId: string, topK = 3, minScore = 0.1): Promise<ScoredChunk[]> {
    const [vector] = await this.embedder.embed([query]);
    return this.store.search(vector!, { tenantId, topK, minScore });
  }
}
