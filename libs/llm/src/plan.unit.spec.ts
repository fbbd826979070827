import { ErrorCode, FlotillaError } from '@flotilla/common';
import { LocalModel } from './local-model';
import { localPlanFor } from './local-plans';
import { CompletionRequest } from './port';
import { composeRequest, parsePlanArguments, parsePlanTools, PlanStep, PlanTool, planRequest, SUBMIT_PLAN_TOOL } from './prompts';

const TODAY = '2026-11-21';
const TOOLS: PlanTool[] = [
  { name: 'order.lookup', description: 'Looks up an order.', argsSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } },
  { name: 'shipment.track', description: 'Tracks a shipment.', argsSchema: { type: 'object', properties: { orderId: { type: 'string' } } } },
  { name: 'delivery.estimate', description: 'Estimates delivery.', argsSchema: { type: 'object' } },
  { name: 'refund.request', description: 'Requests a refund.', argsSchema: { type: 'object' }, sideEffect: true },
  { name: 'product.search', description: 'Searches products.', argsSchema: { type: 'object', properties: { query: { type: 'string' } } } },
];
const NAMES = TOOLS.map((t) => t.name);

const compose = (dependsOn: string[]): PlanStep => ({ id: 'compose', kind: 'compose', input: {}, dependsOn });
const validate: PlanStep = { id: 'validate', kind: 'validate', input: { answer: '${steps.compose.output.answer}' }, dependsOn: ['compose'] };

function modelFailure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof FlotillaError && err.code === ErrorCode.ModelFailed && !err.retryable) return err.message;
    throw err;
  }
  throw new Error('expected ModelFailed');
}

describe('planRequest', () => {
  const r = planRequest('Where is order 1001?', TODAY, TOOLS);

  it('forces a submit_plan call whose schema describes the intent and the steps', () => {
    expect(r).toMatchObject({ purpose: 'plan', tier: 'complex', toolChoice: { name: SUBMIT_PLAN_TOOL }, temperature: 0 });
    const params = r.tools![0]!.parameters as { required: string[]; properties: Record<string, Record<string, unknown>> };
    expect(params.required).toEqual(['intent', 'steps']);
    const intent = params.properties['intent'] as { properties: Record<string, { enum?: string[] }> };
    expect(intent.properties['intent']!.enum).toContain('order_status');
    const items = (params.properties['steps'] as { items: { required: string[]; properties: Record<string, Record<string, unknown>> } }).items;
    expect(items.required).toEqual(['id', 'kind', 'input', 'dependsOn']);
    expect(items.properties['kind']!['enum']).toEqual(['tool', 'retrieve', 'compose', 'validate']);
    // Each catalog tool's arguments schema is offered for tool steps.
    const inputs = items.properties['input']!['anyOf'] as { properties: { tool?: { enum: string[] }; args?: unknown } }[];
    expect(inputs.find((i) => i.properties.tool?.enum[0] === 'order.lookup')?.properties.args).toEqual(TOOLS[0]!.argsSchema);
  });

  it('states today and the tool catalogue, and reads the catalogue back', () => {
    const system = r.messages[0]!.content;
    expect(system).toContain(`Today is ${TODAY}.`);
    expect(system).toContain('${steps.plan.output.question}');
    expect(parsePlanTools(system)).toEqual(NAMES);
    expect(r.messages[1]).toEqual({ role: 'user', content: 'Where is order 1001?' });
  });

  it('rejects a today that is not YYYY-MM-DD', () => {
    expect(() => planRequest('hi', '21/11/2026', TOOLS)).toThrow(expect.objectContaining({ code: ErrorCode.ValidationFailed }) as Error);
  });
});

describe('parsePlanArguments', () => {
  const plan = localPlanFor({ intent: 'order_status', orderId: '1001' }, TODAY);

  it('accepts a valid DAG and normalises the intent', () => {
    expect(parsePlanArguments({ intent: { intent: 'order_status', orderId: '#1001' }, steps: plan }, NAMES))
      .toEqual({ intent: { intent: 'order_status', orderId: '1001' }, steps: plan });
  });

  it.each<[string, unknown[], RegExp]>([
    ['no compose', [validate], /exactly one compose step, this one has 0/],
    ['two validates', [compose([]), validate, { ...validate, id: 'validate-2' }], /exactly one validate step, this one has 2/],
    ['validate not after compose', [compose([]), { ...validate, dependsOn: [] }], /validate step must depend on "compose"/],
    ['an unknown dependency', [compose(['lookup']), validate], /depends on unknown step "lookup"/],
    ['a duplicate id', [compose([]), validate, { ...validate }], /"validate" is used twice/],
    ['a cycle', [{ id: 'a', kind: 'retrieve', input: { query: 'q' }, dependsOn: ['b'] }, { id: 'b', kind: 'retrieve', input: { query: 'q' }, dependsOn: ['a'] }, compose(['a']), validate], /cycle/],
    ['a reference to a step it does not depend on', [
      { id: 'track', kind: 'tool', input: { tool: 'shipment.track', args: {} }, dependsOn: [] },
      { id: 'estimate', kind: 'tool', input: { tool: 'delivery.estimate', args: { shipment: '${steps.track.output.shipment}' } }, dependsOn: [] },
      compose(['track', 'estimate']), validate,
    ], /"estimate" uses the output of "track" without depending on it/],
    ['an unknown tool', [{ id: 'x', kind: 'tool', input: { tool: 'rm.rf', args: {} }, dependsOn: [] }, compose(['x']), validate], /unknown tool "rm.rf"/],
    ['a tool step without args', [{ id: 'x', kind: 'tool', input: { tool: 'order.lookup' }, dependsOn: [] }, compose(['x']), validate], /needs an args object/],
    ['a bad id', [{ ...compose([]), id: 'Compose!' }, validate], /id must be 1-64 characters/],
    ['an unknown kind', [{ id: 'x', kind: 'plan', input: {}, dependsOn: [] }, compose([]), validate], /unknown kind "plan"/],
  ])('rejects a plan with %s as the model\'s failure', (_name, steps, message) => {
    expect(modelFailure(() => parsePlanArguments({ intent: { intent: 'unknown' }, steps }, NAMES))).toMatch(message);
  });

  it('allows references to the plan step (the question) and to transitive dependencies', () => {
    const steps = [
      { id: 'a', kind: 'retrieve', input: { query: '${steps.plan.output.question}' }, dependsOn: [] },
      { id: 'b', kind: 'retrieve', input: { query: 'x' }, dependsOn: ['a'] },
      { id: 'c', kind: 'tool', input: { tool: 'product.search', args: { query: '${steps.a.output.passages}' } }, dependsOn: ['b'] },
      compose(['c']), validate,
    ];
    expect(parsePlanArguments({ intent: { intent: 'unknown' }, steps }).steps).toHaveLength(5);
  });

  it('rejects arguments without an intent or steps', () => {
    expect(modelFailure(() => parsePlanArguments({ steps: plan }))).toMatch(/intent must be an object/);
    expect(modelFailure(() => parsePlanArguments({ intent: { intent: 'unknown' }, steps: [] }))).toMatch(/non-empty array/);
  });
});

describe('LocalModel plans', () => {
  const model = new LocalModel();
  async function planOf(question: string, tools: PlanTool[] = TOOLS): Promise<Record<string, unknown>> {
    const result = await model.complete(planRequest(question, TODAY, tools));
    expect(result.toolCalls).toHaveLength(1);
    expect(result.toolCalls[0]!.name).toBe(SUBMIT_PLAN_TOOL);
    expect(result.finishReason).toBe('tool_calls');
    // What it submits passes the same checks as an LLM's plan.
    parsePlanArguments(result.toolCalls[0]!.arguments, tools.map((t) => t.name));
    return result.toolCalls[0]!.arguments;
  }

  it('plans an order with lookup and tracking in parallel, then the estimate from the tracked shipment', async () => {
    expect(await planOf('Where is my order 1001 and can I get delivery by tomorrow?')).toEqual({
      intent: { intent: 'order_status', orderId: '1001', deadline: '2026-11-22' },
      steps: [
        { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId: '1001' } }, dependsOn: [] },
        { id: 'track-shipment', kind: 'tool', input: { tool: 'shipment.track', args: { orderId: '1001' } }, dependsOn: [] },
        {
          id: 'estimate-delivery', kind: 'tool',
          input: { tool: 'delivery.estimate', args: { orderId: '1001', shipment: '${steps.track-shipment.output.shipment}', deadline: '2026-11-22', today: TODAY } },
          dependsOn: ['lookup-order', 'track-shipment'],
        },
        compose(['lookup-order', 'track-shipment', 'estimate-delivery']),
        validate,
      ],
    });
    const noDeadline = await planOf('Where is order 1002?');
    expect((noDeadline['steps'] as PlanStep[])[2]!.input).toEqual({ tool: 'delivery.estimate', args: { orderId: '1002', shipment: '${steps.track-shipment.output.shipment}', deadline: null, today: TODAY } });
  });

  it.each<[string, PlanStep[]]>([
    ['When will my order arrive?', [compose([]), validate]],
    ['What is your return policy?', [{ id: 'retrieve', kind: 'retrieve', input: { query: '${steps.plan.output.question}', topK: 3 }, dependsOn: [] }, compose(['retrieve']), validate]],
    ['Do you sell waterproof jackets?', [{ id: 'search-products', kind: 'tool', input: { tool: 'product.search', args: { query: '${steps.plan.output.question}' } }, dependsOn: [] }, compose(['search-products']), validate]],
    ['Refund my order 1001', [{ id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId: '1001' } }, dependsOn: [] }, compose(['lookup-order']), validate]],
    ['Please refund $5 on order 1001', [
      { id: 'lookup-order', kind: 'tool', input: { tool: 'order.lookup', args: { orderId: '1001' } }, dependsOn: [] },
      { id: 'request-refund', kind: 'tool', input: { tool: 'refund.request', args: { orderId: '1001', amount: 5, reason: 'requested by the customer' } }, dependsOn: [] },
      compose(['lookup-order', 'request-refund']), validate,
    ]],
    ['I want a refund of $5', [compose([]), validate]],
    ['Hello!', [compose([]), validate]],
    ['What is the meaning of life?', [compose([]), validate]],
  ])('%s', async (question, steps) => {
    expect((await planOf(question))['steps']).toEqual(steps);
  });

  it('plans no call to a tool the request does not offer', async () => {
    const withoutTracking = TOOLS.filter((t) => t.name !== 'shipment.track');
    expect((await planOf('Where is my order 1001?', withoutTracking))['steps']).toEqual([compose([]), validate]);
  });

  it('refuses a plan request without the forced submit_plan call', async () => {
    const request: CompletionRequest = { ...planRequest('hi', TODAY, TOOLS), toolChoice: undefined };
    await expect(model.complete(request)).rejects.toMatchObject({ code: ErrorCode.ModelFailed, retryable: false });
  });
});

describe('composeRequest revisions', () => {
  const input = { question: 'Where is order 1001?', intent: { intent: 'order_status' }, facts: {}, today: TODAY };

  it('adds the validator\'s reasons to the system prompt of a rewrite, leaving the FACTS block last', async () => {
    const first = composeRequest(input);
    const revised = composeRequest({ ...input, revision: 1, rejectedReasons: ['mentions tracking number 1Z999 not in FACTS', 'line\nbreak'] });
    expect(revised.messages[0]!.content.startsWith(first.messages[0]!.content)).toBe(true);
    expect(revised.messages[0]!.content).toContain('This is revision 1 of the answer. A validator rejected the previous answer for these reasons:');
    expect(revised.messages[0]!.content).toContain('- "mentions tracking number 1Z999 not in FACTS"');
    expect(revised.messages[0]!.content).toContain('- "line\\nbreak"');
    expect(revised.messages[1]).toEqual(first.messages[1]);
    // The local model answers a rewrite from the same facts.
    expect((await new LocalModel().complete(revised)).text).toBe((await new LocalModel().complete(first)).text);
  });

  it('keeps a first answer\'s prompt exactly as it was', () => {
    expect(composeRequest({ ...input, revision: 0, rejectedReasons: [] })).toEqual(composeRequest(input));
  });
});
