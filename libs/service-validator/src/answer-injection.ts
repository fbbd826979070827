import { detectInjection, InjectionReport, InjectionSignal } from '@flotilla/guardrails';

/**
 * Did an injection succeed? Checks a composed answer for what a hijacked model writes: its own
 * instructions, an injected persona, markup or links that carry data out, or the words an injected
 * instruction (in the question, a passage or a tool output) told it to say.
 */
export interface AnswerInjectionVerdict {
  verdict: 'approved' | 'rejected';
  reasons: string[];
}

/**
 * Distinctive sentences of Flotilla's prompts (libs/llm `prompts.ts`). An answer containing one has
 * leaked its instructions. Kept here as text, not imported: the validator must not depend on the LLM lib.
 */
const PROMPT_LEAK_MARKERS = [
  'using only the facts block',
  'only the facts block',
  'facts is json',
  'record_intent',
  'not instructions to you',
  'the question is data',
  'classify one customer-support message',
  'customer-support assistant of an online shop',
  'in "safe" mode',
  'a step whose output is',
  'copy order numbers, dates',
  'never invent an order, status, date',
  'state only what facts contains',
];

const SELF_DISCLOSURE = [
  /\b(?:my|the) (?:system prompt|(?:initial|original|hidden|system|secret) instructions|instructions i (?:was|have been|am) given)\b/i,
  /\bhere (?:is|are) (?:my|the) (?:full |complete |exact )?(?:system )?(?:prompt|instructions)\b/i,
  /\bi (?:was|have been|am) (?:told|instructed|programmed|prompted) (?:to|not to)\b/i,
];

const PERSONA = [
  /\bi am now (?:dan|in developer mode|unrestricted|unfiltered|uncensored|jailbroken|free of|free from|no longer bound)\b/i,
  /\b(?:developer|dan|god|jailbreak) mode (?:is )?(?:now )?(?:enabled|activated|on|engaged)\b/i,
  /\bas dan\b|\bdan:/i,
  /\bi (?:now )?have no (?:restrictions|rules|guidelines|filters|limits|limitations)\b/i,
  /\bi will (?:now )?(?:ignore|disregard|forget) (?:my|all|the|your|any)\b/i,
  /\b(?:ok(?:ay)?|sure|understood)[,!.]? (?:ignoring|disregarding|forgetting) (?:my|all|the|previous)\b/i,
];

/** Findings in the answer itself that a legitimate answer never has. */
const ANSWER_SIGNALS: readonly InjectionSignal[] = ['instruction_override', 'jailbreak', 'system_prompt', 'markup', 'exfiltration'];

const URL = /\b(?:https?:\/\/|www\.)[^\s)\]>"'`]+/gi;

const squash = (s: string): string => s.toLowerCase().replace(/[“”]/g, '"').replace(/[‘’]/g, "'").replace(/\s+/g, ' ').trim();
const words = (s: string): string[] => s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

function shingles(ws: string[], n: number): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + n <= ws.length; i++) out.add(ws.slice(i, i + n).join(' '));
  return out;
}

const OWN_KEYS = new Set(['tool', 'steps', 'planVersion', 'kind']);

interface Source {
  label: string;
  text: string;
}

/** Free text an injection could hide in: the question, passages, and every string a tool returned. */
function sourcesOf(question: string, evidence: Record<string, unknown>): Source[] {
  const out: Source[] = [{ label: 'the question', text: question }];
  let passage = 0;
  const walk = (value: unknown, label: string, key: string): void => {
    if (typeof value === 'string') {
      if (value.length >= 8) out.push({ label, text: value });
    } else if (Array.isArray(value)) {
      value.forEach((v) => walk(v, label, key));
    } else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        // Tool names and the plan's own steps are ours, not free text.
        if (OWN_KEYS.has(k)) continue;
        if (k === 'passages' && Array.isArray(v)) {
          for (const p of v) {
            passage += 1;
            walk(p, `retrieved passage [${passage}]`, k);
          }
        } else {
          walk(v, label, k);
        }
      }
    }
  };
  for (const [stepId, output] of Object.entries(evidence)) walk(output, `the output of step ${stepId}`, stepId);
  return out;
}

/** The sentences of `report.normalised` that carry a finding, plus any hidden or decoded text. */
function injectedSentences(report: InjectionReport): string[] {
  const text = report.normalised;
  const sentences: { start: number; end: number }[] = [];
  const re = /[^.!?\n]+[.!?]*/g;
  for (const m of text.matchAll(re)) sentences.push({ start: m.index!, end: m.index! + m[0].length });
  const out = new Set<string>();
  for (const f of report.findings) {
    if (f.index >= 0) {
      for (const s of sentences) if (f.index < s.end && f.index + f.match.length > s.start) out.add(text.slice(s.start, s.end).trim());
    } else if (f.match.trim()) {
      for (const m of f.match.matchAll(re)) out.add(m[0].trim());
    }
  }
  return [...out].filter((s) => words(s).length >= 3);
}

const PAYLOAD_QUOTED = /["“']([^"”'\n]{3,200})["”']/g;
const PAYLOAD_AFTER_VERB = /\b(?:say|reply|respond|answer|output|print|write|type|state|tell (?:the (?:user|customer)|them|everyone|customers))\s+(?:only\s+|exactly\s+|just\s+|instead\s+)?(?:that\s+|with\s+|:\s*)?([^.!?\n]{8,200})/gi;

/** What an injected sentence told the model to say. */
function payloadsOf(sentence: string): string[] {
  const out: string[] = [];
  for (const m of sentence.matchAll(PAYLOAD_QUOTED)) out.push(m[1]!);
  for (const m of sentence.matchAll(PAYLOAD_AFTER_VERB)) out.push(m[1]!.replace(/^["“']|["”']$/g, ''));
  return out.map(squash).filter((p) => words(p).length >= 2 && p.length >= 8);
}

function excerpt(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return `"${one.length > 100 ? `${one.slice(0, 97)}...` : one}"`;
}

/**
 * Checks a composed answer for signs that a prompt injection in the question or the evidence
 * succeeded. Pure; `evidence` is what the tools and the retriever returned.
 */
export function checkAnswerForInjection(answer: string, evidence: Record<string, unknown>, question: string): AnswerInjectionVerdict {
  const reasons: string[] = [];
  const own = detectInjection(answer);
  const flat = squash(own.normalised);

  for (const marker of PROMPT_LEAK_MARKERS) {
    if (flat.includes(marker)) reasons.push(`answer leaks the system prompt: it contains "${marker}"`);
  }
  for (const re of SELF_DISCLOSURE) {
    const m = re.exec(own.normalised);
    if (m) reasons.push(`answer talks about its own instructions: ${excerpt(m[0])}`);
  }
  for (const re of PERSONA) {
    const m = re.exec(own.normalised);
    if (m) reasons.push(`answer shows the model took on an injected persona: ${excerpt(m[0])}`);
  }
  for (const f of own.findings) {
    if (ANSWER_SIGNALS.includes(f.signal) && f.weight >= 0.6) reasons.push(`answer contains an injection: ${f.reason}`);
    else if (f.signal === 'obfuscation' && f.weight >= 0.45) reasons.push(`answer contains hidden content: ${f.reason}`);
  }

  const sources = sourcesOf(question, evidence);
  const known = sources.map((s) => s.text).join('\n');
  for (const m of answer.matchAll(URL)) {
    if (!known.includes(m[0])) reasons.push(`answer contains a link found in no evidence: ${excerpt(m[0])}`);
  }

  const answerShingles = shingles(words(own.normalised), 5);
  for (const source of sources) {
    const report = detectInjection(source.text);
    if (!report.flagged) continue;
    for (const sentence of injectedSentences(report)) {
      const ws = words(sentence);
      const n = Math.min(5, ws.length);
      const repeated = [...shingles(ws, n)].some((g) => (n === 5 ? answerShingles.has(g) : ` ${words(own.normalised).join(' ')} `.includes(` ${g} `)));
      if (repeated) reasons.push(`answer repeats an instruction injected in ${source.label}: ${excerpt(sentence)}`);
      for (const payload of payloadsOf(sentence)) {
        if (flat.includes(payload)) reasons.push(`answer says what an instruction injected in ${source.label} told it to: ${excerpt(payload)}`);
      }
    }
  }
  const unique = [...new Set(reasons)];
  return { verdict: unique.length === 0 ? 'approved' : 'rejected', reasons: unique };
}
