import { checkPlan, resolveInput } from './plan';

const ok = [
  { id: 'a', kind: 'tool', input: {}, dependsOn: [] },
  { id: 'compose', kind: 'compose', input: {}, dependsOn: ['a'] },
  { id: 'validate', kind: 'validate', input: {}, dependsOn: ['compose'] },
];

describe('checkPlan', () => {
  it('accepts a valid DAG', () => {
    expect(checkPlan(ok)).toEqual({ ok: true, steps: expect.any(Array) });
  });
  it.each([
    ['not an array', {}, /must be an array/],
    ['empty', [], /1-20 steps/],
    ['a cycle', [{ id: 'a', kind: 'tool', input: {}, dependsOn: ['b'] }, { id: 'b', kind: 'tool', input: {}, dependsOn: ['a'] }, ...ok.slice(1)], /cycle/],
    ['an unknown dependency', [{ ...ok[0], dependsOn: ['zzz'] }, ...ok.slice(1)], /unknown step zzz/],
    ['a duplicate id', [ok[0], ok[0], ...ok.slice(1)], /duplicate step id a/],
    ['an invalid kind', [{ ...ok[0], kind: 'launch' }, ...ok.slice(1)], /kind/],
    ['no compose step', [ok[0], { id: 'validate', kind: 'validate', input: {}, dependsOn: ['a'] }], /exactly one compose/],
    ['no validation after compose', ok.slice(0, 2), /validate/],
    ['a nested plan step', [{ id: 'p', kind: 'plan', input: {}, dependsOn: [] }, ...ok], /cannot contain a plan step/],
  ])('rejects %s', (_name, plan, reason) => {
    const r = checkPlan(plan);
    expect(r.ok).toBe(false);
    expect((r as { reason: string }).reason).toMatch(reason);
  });
});

describe('resolveInput', () => {
  it('replaces whole-string references with the referenced value of any type, and missing ones with null', () => {
    const outputs = { s: { shipment: { carrier: 'UPS', n: 2 } } };
    expect(resolveInput({ a: '${steps.s.output.shipment}', b: ['${steps.s.output.shipment.n}'], c: 'plain ${steps.s.output}', d: '${steps.x.output.y}' }, outputs))
      .toEqual({ a: { carrier: 'UPS', n: 2 }, b: [2], c: 'plain ${steps.s.output}', d: null });
  });
});
