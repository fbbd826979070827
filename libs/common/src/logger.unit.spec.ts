import { createLogger, redactText, redactValue, setLogLevel, setLogSink } from './logger';

describe('redactText', () => {
  const cases: [string, string, string][] = [
    ['email', 'contact jane.doe+shop@example.co.uk now', 'contact [redacted:email] now'],
    ['US phone with brackets', 'call (415) 555-2671 please', 'call [redacted:phone] please'],
    ['US phone with dashes', 'call 415-555-2671', 'call [redacted:phone]'],
    ['international phone', 'whatsapp +44 20 7946 0958.', 'whatsapp [redacted:phone].'],
    ['compact international phone', 'sms +14155552671', 'sms [redacted:phone]'],
    ['card number (Luhn)', 'card 4111 1111 1111 1111 on file', 'card [redacted:card] on file'],
    ['card number without spaces', 'pan=5500005555555559', 'pan=[redacted:card]'],
    ['bearer token', 'header Authorization: Bearer abcdefghijklmnop.qrs', 'header Authorization: Bearer [redacted:token]'],
    ['JWT', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl seen', 'token [redacted:jwt] seen'],
    ['Flotilla API key', 'key flk_abcdefghij12_' + 'A'.repeat(43) + ' used', 'key [redacted:api-key] used'],
    ['OpenAI key', 'OPENAI sk-proj-abcdefghijklmnopqrstuvwx', 'OPENAI [redacted:api-key]'],
    ['credentials in a URL', 'connect mongodb://flotilla:s3cret@db:27017/x failed', 'connect mongodb://[redacted:credentials]@db:27017/x failed'],
  ];
  it.each(cases)('redacts a %s', (_kind, input, expected) => {
    expect(redactText(input)).toBe(expected);
  });

  const kept: [string, string][] = [
    ['order numbers', 'order 1001 and order 9999'],
    ['a tracking number', 'tracking 1Z999AA10123456784'],
    ['a 16-digit id that fails the Luhn check', 'offset 1234567812345678'],
    ['an ISO timestamp', 'at 2026-11-21T12:29:48.123Z'],
    ['a date and time', 'on 2026-11-21 12:29:48'],
    ['an IP address and port', 'listening on 192.168.100.200:8080 and 10.0.0.1'],
    ['an epoch in ms', 'since 1763728188000'],
    ['a UUID', 'id 550e8400-e29b-41d4-a716-446655440000'],
    ['a workflow id', 'wf_3f9a1c2b7d'],
  ];
  it.each(kept)('keeps %s', (_kind, input) => {
    expect(redactText(input)).toBe(input);
  });
});

describe('redactValue', () => {
  it('redacts nested strings, credential fields and free text, and serialises errors', () => {
    const err = new Error('login failed for bob@example.com');
    const out = redactValue({
      user: { email: 'bob@example.com', phones: ['+1 415 555 2671'] },
      headers: { authorization: 'Bearer xyz', 'x-api-key': 'anything' },
      question: 'Where is my order 1001? Call me at 415-555-2671',
      answer: 'It arrives tomorrow.',
      count: 3,
      err,
    }) as Record<string, unknown>;
    expect(out['user']).toEqual({ email: '[redacted:email]', phones: ['[redacted:phone]'] });
    expect(out['headers']).toEqual({ authorization: '[redacted]', 'x-api-key': '[redacted]' });
    expect(out['question']).toBe('[redacted:text 47 chars]');
    expect(out['answer']).toBe('[redacted:text 20 chars]');
    expect(out['count']).toBe(3);
    expect((out['err'] as { message: string }).message).toBe('login failed for [redacted:email]');
    expect((out['err'] as { stack: string }).stack).not.toContain('bob@example.com');
  });

  it('survives cycles and deep nesting', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a['self'] = a;
    expect((redactValue(a) as Record<string, unknown>)['self']).toBe('[circular]');
    let deep: Record<string, unknown> = { v: 'x' };
    for (let i = 0; i < 20; i++) deep = { d: deep };
    expect(JSON.stringify(redactValue(deep))).toContain('[truncated]');
  });
});

describe('createLogger', () => {
  let lines: string[];
  let previous: (line: string) => void;
  beforeEach(() => {
    lines = [];
    previous = setLogSink((l) => lines.push(l));
    setLogLevel('debug');
  });
  afterEach(() => {
    setLogSink(previous);
    setLogLevel('info');
  });

  it('writes one JSON line with personal data and secrets redacted in the message, base fields and fields', () => {
    createLogger({ service: 'gateway', contact: 'ops@example.com' }).warn('refused Bearer abc.def.ghijklmn from jane@example.com', {
      err: new Error('card 4111-1111-1111-1111 declined'),
      question: 'my phone is +44 20 7946 0958',
      requestId: 'req_1',
    });
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    for (const secret of ['ops@example.com', 'jane@example.com', 'abc.def.ghijklmn', '4111-1111-1111-1111', '7946 0958']) expect(line).not.toContain(secret);
    const record = JSON.parse(line) as Record<string, unknown>;
    expect(record).toMatchObject({ level: 'warn', service: 'gateway', contact: '[redacted:email]', requestId: 'req_1', question: '[redacted:text 28 chars]' });
    expect(record['msg']).toBe('refused Bearer [redacted:token] from [redacted:email]');
  });

  it('respects the level', () => {
    setLogLevel('warn');
    createLogger().info('quiet');
    expect(lines).toHaveLength(0);
  });
});
