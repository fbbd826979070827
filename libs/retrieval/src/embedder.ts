import { createHash } from 'node:crypto';

/** Turns texts into vectors of a fixed dimension. */
export interface Embedder {
  readonly name: string;
  readonly dimension: number;
  embed(texts: string[]): Promise<number[][]>;
}

const STOPWORDS = new Set('a an and are as at be by can do does for from has have how i if in is it its my of on or our so that the this to was we what when where which will with you your'.split(' '));

/** Lower-cased word tokens with a light suffix strip, stopwords removed. */
export function tokenize(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? [])
    .filter((w) => !STOPWORDS.has(w))
    .map((w) => (w.length > 4 ? w.replace(/(ing|ed|es|s)$/, '') : w));
}

/**
 * The built-in local embedder: feature hashing of word unigrams and bigrams into a fixed-size,
 * L2-normalised vector. Deterministic and offline — and LEXICAL, not semantic: it matches shared
 * words, not meaning. Configure an OpenAI-compatible embeddings endpoint for semantic search.
 */
export class LocalLexicalEmbedder implements Embedder {
  readonly name = 'flotilla-local-lexical-v1';
  constructor(readonly dimension = 1024) {}

  async embed(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }

  private embedOne(text: string): number[] {
    const counts = new Map<number, number>();
    const words = tokenize(text);
    const features = [...words, ...words.slice(1).map((w, i) => `${words[i]}_${w}`)];
    for (const f of features) {
      const index = createHash('md5').update(f).digest().readUInt32LE(0) % this.dimension;
      counts.set(index, (counts.get(index) ?? 0) + (f.includes('_') ? 0.5 : 1));
    }
    // Sub-linear term frequency, so one repeated word does not drown the others.
    const v = new Array<number>(this.dimension).fill(0);
    for (const [i, c] of counts) v[i] = 1 + Math.log(c);
    const norm = Math.hypot(...v) || 1;
    return v.map((x) => x / norm);
  }
}
