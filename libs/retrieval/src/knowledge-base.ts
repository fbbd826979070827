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

/** Splits a document into passages of whole sentences, at most `maxChars` each; paragraphs never merge. */
export function chunk(text: string, maxChars = 600): string[] {
  const out: string[] = [];
  for (const para of text.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim()).filter(Boolean)) {
    const sentences = para.match(/[^.!?]+[.!?]+(\s|$)|[^.!?]+$/g) ?? [para];
    let cur = '';
    for (const s of sentences.map((x) => x.trim())) {
      if (cur && cur.length + 1 + s.length > maxChars) {
        out.push(cur);
        cur = s;
      } else cur = cur ? `${cur} ${s}` : s;
    }
    if (cur) out.push(cur);
  }
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
