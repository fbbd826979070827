import { checkAnswerForInjection } from './answer-injection';
import { checkGrounding } from './grounding';
import { checkPii, findPii, personalDataIn, redactPii } from '@flotilla/guardrails';

export type Verdict = 'approved' | 'rejected';

export interface AnswerToValidate {
  answer: string;
  question: string;
  /** What the tools and the retriever returned, by step id — never the answer itself. */
  evidence: Record<string, unknown>;
  /** The requester's customer id, when the caller gave one (see `checkPii`). */
  userId?: string;
}

export interface AnswerVerdict {
  verdict: Verdict;
  /** Every reason for rejection, safety first; personal data in them is masked. */
  reasons: string[];
  claimsChecked: number;
  checks: { injection: Verdict; pii: Verdict; grounding: Verdict };
}

/**
 * The validate step: an answer is approved only when no injection succeeded, it shows no personal
 * data that is not the requester's, and every factual claim in it is grounded in the evidence.
 * Reasons go into workflow events, logs and the revision prompt, so personal data in them is masked.
 */
export function validateAnswer(input: AnswerToValidate): AnswerVerdict {
  const injection = checkAnswerForInjection(input.answer, input.evidence, input.question);
  const pii = checkPii(input.answer, input.evidence, { userId: input.userId });
  const grounding = checkGrounding(input.answer, input.evidence, input.question);
  // Digits of a phone or card number are the PII check's to judge; as "unsupported number" reasons
  // they would only spell the number out piece by piece.
  const personal = findPii(input.answer).map((m) => m.value);
  const groundingReasons = grounding.reasons.filter((r) => {
    const claim = /^unsupported \w+: "(.*)"$/.exec(r)?.[1];
    return claim === undefined || !personal.some((p) => p.includes(claim));
  });
  const names = personalDataIn(input.evidence).data.filter((d) => d.kind === 'name').map((d) => d.value);
  const reasons = [...injection.reasons, ...pii.reasons, ...groundingReasons].map((r) => redactPii(r, { names }));
  return {
    verdict: reasons.length === 0 ? 'approved' : 'rejected',
    reasons,
    claimsChecked: grounding.claimsChecked,
    checks: { injection: injection.verdict, pii: pii.verdict, grounding: groundingReasons.length === 0 ? 'approved' : 'rejected' },
  };
}
