import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

/** A minimal browser client for the chat protocol, so `npm start` can be tried without tools. */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla chat</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem;color:#1d2330}
 h1{font-size:1.3rem} #log{border:1px solid #ccd;border-radius:8px;padding:1rem;min-height:16rem;background:#fafbfd}
 .q{font-weight:600;margin-top:.8rem} .a{white-space:pre-wrap} .meta{color:#667;font-size:.8rem} .err{color:#b00020}
 form{display:flex;gap:.5rem;margin-top:1rem} input{flex:1;padding:.5rem;font:inherit} button{padding:.5rem 1rem;font:inherit}
</style></head><body>
<h1>Flotilla chat</h1>
<p class="meta">Ask about an order (try 1001, 1002, 1003, 9999) or a policy. Answers stream in; each shows its workflow id (GET /v1/workflows/&lt;id&gt;).</p>
<div id="log" aria-live="polite"></div>
<form id="f"><input id="q" autocomplete="off" value="Where is my order 1001 and can I get delivery by tomorrow?" aria-label="Question"><button>Ask</button></form>
<script>
const log = document.getElementById('log');
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/chat');
const answers = {};
function add(cls, text) { const d = document.createElement('div'); d.className = cls; d.textContent = text; log.appendChild(d); return d; }
ws.onmessage = (e) => {
  const f = JSON.parse(e.data);
  if (f.type === 'accepted') { answers[f.workflowId] = add('a', ''); add('meta', 'workflow ' + f.workflowId); }
  else if (f.type === 'token' && answers[f.workflowId]) answers[f.workflowId].textContent += f.text;
  else if (f.type === 'answer') {
    const el = answers[f.workflowId] || add('a', ''); el.textContent = f.text;
    const src = (f.sources || []).map((s, i) => '[' + (i + 1) + '] ' + s.title).join('  ');
    add('meta', (f.validated ? 'validated' : 'not validated') + ' · ' + (f.model ? f.model.label : '') + (src ? ' · sources: ' + src : ''));
  } else if (f.type === 'error') add('err', f.code + ': ' + f.message);
};
ws.onclose = () => add('err', 'connection closed');
document.getElementById('f').onsubmit = (e) => {
  e.preventDefault(); const q = document.getElementById('q').value.trim(); if (!q) return;
  add('q', q); ws.send(JSON.stringify({ type: 'ask', question: q }));
};
</script></body></html>`;

@ApiExcludeController()
@Controller()
export class ChatPageController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return PAGE;
  }
}
