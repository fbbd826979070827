/**
 * Guardrails shared by the agents: prompt-injection detection and neutralisation for untrusted text
 * (user input, retrieved passages, tool outputs) and personal-data detection and redaction.
 * Pure functions, no I/O.
 */
export { DEFAULT_INJECTION_THRESHOLD, detectInjection, guardUntrustedText, neutralise, QUOTED_CLOSE, QUOTED_OPEN, wrapAsData } from './injection';
export type { DetectOptions, GuardedText, InjectionFinding, InjectionReport, InjectionSignal } from './injection';
export { checkPii, findPii, personalDataIn, redactPii, requesterOf } from './pii';
export type { PersonalDatum, PiiKind, PiiMatch, PiiVerdict } from './pii';
