import { PlanStepV1, validateData } from '@flotilla/contracts';

export const MAX_PLAN_STEPS = 20;

/**
 * Checks that a proposed plan is a usable DAG: valid steps, unique ids, known dependencies, no
 * cycles, and exactly one compose step followed by validation. Returns the reason it is not.
 */
export function checkPlan(candidate: unknown): { ok: true; steps: PlanStepV1[] } | { ok: false; reason: string } {
  if (!Array.isArray(candidate)) return { ok: false, reason: 'plan.steps must be an array' };
  if (candidate.length === 0 || candidate.length > MAX_PLAN_STEPS) return { ok: false, reason: `a plan has 1-${MAX_PLAN_STEPS} steps, got ${candidate.length}` };
  const steps: PlanStepV1[] = [];
  for (const [i, raw] of candidate.entries()) {
    const v = validateData(PlanStepV1, raw);
    if (!v.ok) return { ok: false, reason: `step ${i}: ${v.fields.map((f) => `${f.field} ${f.reasons.join(', ')}`).join('; ')}` };
    steps.push(v.value);
  }
  const ids = new Set<string>();
  for (const s of steps) {
    if (s.kind === 'plan') return { ok: false, reason: `step ${s.id}: a plan cannot contain a plan step` };
    if (ids.has(s.id)) return { ok: false, reason: `duplicate step id ${s.id}` };
    ids.add(s.id);
  }
  for (const s of steps) for (const d of s.dependsOn) if (!ids.has(d)) return { ok: false, reason: `step ${s.id} depends on unknown step ${d}` };
  // Kahn's algorithm: every step must be reachable in topological order.
  const indegree = new Map(steps.map((s) => [s.id, s.dependsOn.length]));
  const queue = steps.filter((s) => s.dependsOn.length === 0).map((s) => s.id);
  let seen = 0;
  while (queue.length) {
    const id = queue.shift()!;
    seen++;
    for (const s of steps) {
      if (!s.dependsOn.includes(id)) continue;
      const n = indegree.get(s.id)! - 1;
      indegree.set(s.id, n);
      if (n === 0) queue.push(s.id);
    }
  }
  if (seen !== steps.length) return { ok: false, reason: 'plan has a dependency cycle' };
  const compose = steps.filter((s) => s.kind === 'compose');
  if (compose.length !== 1) return { ok: false, reason: `a plan has exactly one compose step, got ${compose.length}` };
  const validate = steps.filter((s) => s.kind === 'validate');
  if (validate.length !== 1 || !validate[0]!.dependsOn.includes(compose[0]!.id)) return { ok: false, reason: 'a plan ends with one validate step that depends on the compose step' };
  return { ok: true, steps };
}

/** The plan used when the planner's plan is unusable: answer from nothing, say what is unknown. */
export function safePlan(): PlanStepV1[] {
  return [
    { id: 'compose', kind: 'compose', input: { mode: 'safe' }, dependsOn: [] },
    { id: 'validate', kind: 'validate', input: {}, dependsOn: ['compose'] },
  ];
}

const REF = /^\$\{steps\.([a-z0-9-]+)\.output((?:\.[A-Za-z0-9_]+)*)\}$/;

/**
 * Resolves `${steps.<id>.output.<path>}` references in a step's input against completed outputs.
 * A whole-string reference is replaced by the referenced value (any JSON type); a missing value
 * becomes null, which tools report as a missing argument.
 */
export function resolveInput(input: Record<string, unknown>, outputs: Record<string, Record<string, unknown> | undefined>): Record<string, unknown> {
  const resolve = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const m = REF.exec(value);
      if (!m) return value;
      let cur: unknown = outputs[m[1]!];
      for (const key of (m[2] ?? '').split('.').filter(Boolean)) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[key] : undefined;
      return cur ?? null;
    }
    if (Array.isArray(value)) return value.map(resolve);
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
    return value;
  };
  return resolve(input) as Record<string, unknown>;
}
