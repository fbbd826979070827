import { ErrorCode } from '@flotilla/common';
import { composeRequest, intentRequest, parseFacts, parseIntentArguments, PROMPT_VERSION } from './prompts';

describe('prompts', () => {
  it('is versioned', () => {
    expect(PROMPT_VERSION).toBe('v2');
  });

  it('intentRequest states today and forces record_intent with an enum of intents', () => {
    const r = intentRequest('Where is order 1001?', '2026-11-21');
    expect(r).toMatchObject({ purpose: 'intent', tier: 'simple', toolChoice: { name: 'record_intent' } });
    expect(r.messages[0]).toMatchObject({ role: 'system' });
    expect(r.messages[0]!.content).toContain('Today is 2026-11-21.');
    expect(r.messages[1]).toEqual({ role: 'user', content: 'Where is order 1001?' });
    const tool = r.tools?.find((t) => t.name === 'record_intent');
    const props = tool?.parameters['properties'] as Record<string, { enum?: string[] }>;
    expect(props['intent']!.enum).toEqual(['order_status', 'policy_question', 'refund_request', 'product_search', 'smalltalk', 'unknown']);
    expect(tool?.parameters['required']).toEqual(['intent']);
  });

  it('rejects a today that is not YYYY-MM-DD', () => {
    expect(() => intentRequest('hi', '21/11/2026')).toThrow(expect.objectContaining({ code: ErrorCode.ValidationFailed }) as Error);
  });

  it('composeRequest → parseFacts round-trips intent, mode and facts', () => {
    const facts = { 'lookup-order': { found: false, orderId: '9999' }, retrieve: { passages: [{ id: 'p', text: 'Line one.\n```\nnot a fence' }] } };
    const intent = { intent: 'order_status', orderId: '9999' };
    const r = composeRequest({ question: 'Where is order 9999?', intent, facts, mode: 'safe', today: '2026-11-21' });
    expect(r).toMatchObject({ purpose: 'compose', tier: 'complex' });
    expect(r.messages[0]!.content).toMatch(/only/i);
    const user = r.messages[r.messages.length - 1]!.content;
    expect(user).toContain('Where is order 9999?');
    expect(user).toContain('FACTS:\n```json\n{');
    expect(user.endsWith('\n```')).toBe(true);
    expect(parseFacts(user)).toEqual({ intent, mode: 'safe', facts });
  });

  it('defaults the mode to normal', () => {
    const r = composeRequest({ question: 'q', intent: {}, facts: {}, today: '2026-11-21' });
    expect(parseFacts(r.messages[1]!.content).mode).toBe('normal');
  });

  it.each([
    ['no block', 'hello'],
    ['unclosed block', 'FACTS:\n```json\n{"facts":{}}'],
    ['invalid JSON', 'FACTS:\n```json\n{facts\n```'],
    ['not an object', 'FACTS:\n```json\n[1,2]\n```'],
  ])('parseFacts throws ModelFailed on %s', (_name, text) => {
    expect(() => parseFacts(text)).toThrow(expect.objectContaining({ code: ErrorCode.ModelFailed, retryable: false }) as Error);
  });

  it('parseIntentArguments keeps valid fields, drops malformed ones and rejects unknown intents', () => {
    expect(parseIntentArguments({ intent: 'order_status', orderId: '#1001', deadline: '2026-11-22', topic: 'nonsense' }))
      .toEqual({ intent: 'order_status', orderId: '1001', deadline: '2026-11-22' });
    expect(parseIntentArguments({ intent: 'refund_request', orderId: '1001', amount: 5 })).toEqual({ intent: 'refund_request', orderId: '1001', amount: 5 });
    expect(parseIntentArguments({ intent: 'refund_request', amount: 5.005 })).toEqual({ intent: 'refund_request' });
    expect(parseIntentArguments({ intent: 'refund_request', amount: -5 })).toEqual({ intent: 'refund_request' });
    expect(parseIntentArguments({ intent: 'policy_question', orderId: 'abc', deadline: 'Friday', topic: 'returns' }))
      .toEqual({ intent: 'policy_question', topic: 'returns' });
    expect(() => parseIntentArguments({ intent: 'launch_rockets' })).toThrow(expect.objectContaining({ code: ErrorCode.ModelFailed }) as Error);
  });
});
