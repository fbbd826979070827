/**
 * Retrieval at knowledge-base scale on the embedded store with the built-in local embedder:
 *   npx tsc -b && npx tsc -p bench/tsconfig.json && node tmp/bench/bench/rag-search.js [chunks] [searches]
 * Ingests about 10,000 chunks (defaults) of deterministic synthetic support documents into one tenant
 * (the worst case: a search scans its tenant's chunks), then runs searches one at a time and reports
 * ingest throughput, the first search (which loads the tenant's vectors), and p50/p95/p99/max search
 * latency. No search cache is involved: every search reaches the store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EmbeddedVectorStore, KnowledgeBase, KnowledgeDocument, LocalLexicalEmbedder } from '@flotilla/retrieval';

const TENANT = 'bench';

/** mulberry32: a small seeded PRNG, so every run ingests and asks exactly the same things. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(20260521);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

const PRODUCTS = ['wireless headphones', 'laptop stand', 'espresso machine', 'robot vacuum', 'smart thermostat', 'mechanical keyboard', 'standing desk',
  'air purifier', 'electric kettle', 'fitness tracker', 'bluetooth speaker', 'office chair', 'webcam', 'portable charger', 'monitor arm', 'coffee grinder',
  'security camera', 'label printer', 'e-reader', 'drone', 'blender', 'space heater', 'ring light', 'router', 'smart lock', 'tablet case'];
const TOPICS = [
  { name: 'Returns', nouns: ['return label', 'refund', 'restocking fee', 'original packaging', 'exchange', 'store credit', 'drop-off point'] },
  { name: 'Shipping', nouns: ['tracking number', 'courier', 'express delivery', 'customs form', 'delivery window', 'parcel locker', 'signature'] },
  { name: 'Warranty', nouns: ['warranty claim', 'serial number', 'proof of purchase', 'repair centre', 'replacement unit', 'extended plan', 'defect'] },
  { name: 'Billing', nouns: ['invoice', 'payment method', 'card authorisation', 'instalment plan', 'tax receipt', 'promo code', 'chargeback'] },
  { name: 'Setup', nouns: ['firmware update', 'mobile app', 'pairing mode', 'factory reset', 'wall mount', 'power adapter', 'status light'] },
  { name: 'Troubleshooting', nouns: ['error code', 'battery drain', 'connection drop', 'overheating', 'noise', 'calibration', 'sensor'] },
  { name: 'Account', nouns: ['password reset', 'two-factor code', 'order history', 'saved address', 'newsletter', 'loyalty points', 'gift card'] },
  { name: 'Care', nouns: ['cleaning cloth', 'descaling', 'filter', 'storage case', 'humidity', 'lubrication', 'dust cover'] },
];
const VERBS = ['check', 'replace', 'request', 'confirm', 'update', 'register', 'inspect', 'reset', 'schedule', 'cancel', 'download', 'charge'];
const WHEN = ['within 14 days', 'within 30 days', 'before shipping', 'after delivery', 'on business days', 'every three months', 'once a year', 'at checkout',
  'within one hour', 'before the first use'];
const CHANNELS = ['the support portal', 'live chat', 'the mobile app', 'email', 'phone support', 'your account page', 'any partner store'];

function sentence(product: string, nouns: readonly string[]): string {
  const n = pick(nouns);
  switch (int(0, 7)) {
    case 0: return `To ${pick(VERBS)} the ${n} for your ${product}, open ${pick(CHANNELS)} and follow the steps shown.`;
    case 1: return `Customers can ${pick(VERBS)} a ${n} ${pick(WHEN)}; after that, ${pick(CHANNELS)} can still help in most cases.`;
    case 2: return `The ${product} model ${String.fromCharCode(65 + int(0, 25))}${int(100, 999)} needs a ${n} ${pick(WHEN)}.`;
    case 3: return `If the ${n} does not arrive ${pick(WHEN)}, contact ${pick(CHANNELS)} with your order number.`;
    case 4: return `A ${n} costs $${int(2, 80)}.${int(10, 99)} and is waived for members with more than ${int(2, 20)} orders.`;
    case 5: return `We ${pick(VERBS)} every ${n} ${pick(WHEN)}, so allow ${int(1, 10)} business days before asking again.`;
    case 6: return `Note that the ${n} of a refurbished ${product} is handled by ${pick(CHANNELS)} rather than the manufacturer.`;
    default: return `Our team can ${pick(VERBS)} your ${n} ${pick(WHEN)} if you quote reference ${int(10000, 99999)}.`;
  }
}

function document(i: number): KnowledgeDocument {
  const product = pick(PRODUCTS);
  const topic = pick(TOPICS);
  const paragraphs = Array.from({ length: int(3, 9) }, () => Array.from({ length: int(2, 6) }, () => sentence(product, topic.nouns)).join(' '));
  return { tenantId: TENANT, docId: `doc-${i}`, version: 1, title: `${topic.name}: ${product}`, text: paragraphs.join('\n\n'), uri: `kb://bench/doc-${i}` };
}

function question(): string {
  const product = pick(PRODUCTS);
  const n = pick(pick(TOPICS).nouns);
  return pick([
    `How do I ${pick(VERBS)} the ${n} for my ${product}?`,
    `What does a ${n} cost?`,
    `My ${product} has a problem with the ${n}, what can I do?`,
    `Can I get a ${n} ${pick(WHEN)}?`,
    `${n} ${product}`,
  ]);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ms = (x: number): number => Number(x.toFixed(3));

async function main(): Promise<void> {
  const targetChunks = Number(process.argv[2] ?? 10_000);
  const searches = Number(process.argv[3] ?? 500);
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-rag-bench-'));
  try {
    const kb = new KnowledgeBase(new EmbeddedVectorStore(join(dir, 'bench.db')), new LocalLexicalEmbedder());
    await kb.init();

    const sampled: { docId: string; phrase: string }[] = [];
    let chunks = 0;
    let docs = 0;
    const ingestStart = performance.now();
    while (chunks < targetChunks) {
      const doc = document(docs++);
      chunks += (await kb.ingest(doc)).chunks;
      // Some stored sentences, asked back later: a quality check that the ranking is still right.
      if (docs % 20 === 0) sampled.push({ docId: doc.docId, phrase: doc.text.split(/(?<=\.)\s+/)[int(0, 1)]! });
    }
    const ingestMs = performance.now() - ingestStart;

    const firstStart = performance.now();
    await kb.search(question(), TENANT, 5);
    const firstSearchMs = performance.now() - firstStart;

    const times: number[] = [];
    let knownAsked = 0;
    let knownFoundTop5 = 0;
    for (let i = 0; i < searches; i++) {
      const known = i % 5 === 0 ? sampled[(i / 5) % sampled.length]! : undefined;
      const q = known ? known.phrase : question();
      const t0 = performance.now();
      const hits = await kb.search(q, TENANT, 5);
      times.push(performance.now() - t0);
      if (known) {
        knownAsked++;
        // The sentence is usually not unique across generated documents, so "found" means its text is in a top-5 passage.
        if (hits.some((h) => h.payload.text.includes(known.phrase))) knownFoundTop5++;
      }
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(JSON.stringify({
      store: 'embedded', embedder: 'flotilla-local-lexical-v1', docs, chunks,
      ingestSeconds: Number((ingestMs / 1000).toFixed(2)), ingestChunksPerSec: Math.round(chunks / (ingestMs / 1000)), ingestDocsPerSec: Math.round(docs / (ingestMs / 1000)),
      firstSearchMs: ms(firstSearchMs), searches, p50Ms: ms(pct(sorted, 50)), p95Ms: ms(pct(sorted, 95)), p99Ms: ms(pct(sorted, 99)), maxMs: ms(sorted.at(-1)!),
      knownSentenceInTop5: `${knownFoundTop5}/${knownAsked}`,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
