import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from './auth.guard';

/** A minimal browser client for the chat protocol, so `npm start` can be tried without tools. */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla chat</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem;color:#1d2330}
 h1{font-size:1.3rem} #log{border:1px solid #ccd;border-radius:8px;padding:1rem;min-height:16rem;background:#fafbfd}
 .q{font-weight:600;margin-top:.8rem} .a{white-space:pre-wrap} .meta{color:#667;font-size:.8rem} .err{color:#b00020}
 .confirm{border:1px solid #d9a400;background:#fff8e1;border-radius:6px;padding:.5rem;margin:.4rem 0} .confirm button{margin:.3rem .4rem 0 0}
 form{display:flex;gap:.5rem;margin-top:1rem} input{flex:1;padding:.5rem;font:inherit} button{padding:.5rem 1rem;font:inherit}
</style></head><body>
<h1>Flotilla chat</h1>
<p class="meta">Ask about an order (try 1001, 1002, 1003, 9999), a policy, or a refund (&ldquo;Please refund $5 on order 1001&rdquo;: you are asked to confirm first). Answers stream in; each shows its workflow id (GET /v1/workflows/&lt;id&gt;).</p>
<details id="auth"><summary class="meta">Credential (needed when the server requires authentication)</summary>
<form id="t"><input id="token" type="password" autocomplete="off" placeholder="JWT or API key (flk_…)" aria-label="Access token"><button>Connect</button></form>
<p class="meta">Kept in this tab only (sessionStorage) and sent as a WebSocket subprotocol, never in the URL.</p></details>
<div id="log" aria-live="polite"></div>
<form id="f"><input id="q" autocomplete="off" value="Where is my order 1001 and can I get delivery by tomorrow?" aria-label="Question"><button>Ask</button></form>
<script>
const log = document.getElementById('log');
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/chat';
// Per workflow: its answer element and the cursor of the last stream frame shown; open ones are resumed after a reconnect.
const answers = {};
let ws, retry = 0, queued = [];
function add(cls, text) { const d = document.createElement('div'); d.className = cls; d.textContent = text; log.appendChild(d); return d; }
function send(frame) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); else queued.push(frame); }
function track(f) { if (f.cursor) answers[f.workflowId].cursor = f.cursor; }
function connect() {
  ws = new WebSocket(url);
  ws.onopen = () => {
    retry = 0;
    for (const id in answers) if (!answers[id].done) ws.send(JSON.stringify(answers[id].cursor ? { type: 'resume', workflowId: id, after: answers[id].cursor } : { type: 'resume', workflowId: id }));
    queued.splice(0).forEach((f) => ws.send(JSON.stringify(f)));
  };
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    const a = answers[f.workflowId];
    if (f.type === 'accepted') { answers[f.workflowId] = { el: add('a', ''), done: false }; add('meta', 'workflow ' + f.workflowId); }
    else if (f.type === 'token' && a) { a.el.textContent += f.text; track(f); }
    else if (f.type === 'revision' && a) { a.el.textContent = ''; add('meta', 'revising: ' + f.reasons.join('; ')); track(f); }
    else if (f.type === 'confirmation') {
      // A side effect waits for the user: exactly what would be done, and two buttons.
      if (a) track(f);
      const box = add('confirm', 'Please confirm: ' + f.summary + ' — answer by ' + new Date(f.expiresAt).toLocaleTimeString() + '. ');
      const answer = (approve) => { send({ type: 'confirm', workflowId: f.workflowId, approve }); yes.disabled = no.disabled = true; };
      const yes = document.createElement('button'); yes.textContent = 'Confirm'; yes.onclick = () => answer(true);
      const no = document.createElement('button'); no.textContent = 'Decline'; no.onclick = () => answer(false);
      box.append(document.createElement('br'), yes, no);
    }
    else if (f.type === 'confirming') add('meta', (f.approve ? 'confirmed: ' : 'declined: ') + f.summary);
    else if (f.type === 'answer') {
      const el = a ? a.el : add('a', ''); el.textContent = f.text;
      if (a) { track(f); a.done = true; }
      const src = (f.sources || []).map((s, i) => '[' + (i + 1) + '] ' + s.title).join('  ');
      add('meta', (f.validated ? 'validated' : 'not validated') + ' · ' + (f.model ? f.model.label : '') + (src ? ' · sources: ' + src : ''));
    } else if (f.type === 'error') {
      if (a && (f.cursor || f.code === 'NOT_FOUND')) a.done = true;
      add('err', f.code + ': ' + f.message);
    }
  };
  ws.onclose = () => {
    // Reconnect with backoff; the open answers are resumed where they stopped.
    const delay = Math.min(10000, 500 * 2 ** retry++);
    add('err', 'connection lost; reconnecting in ' + Math.round(delay / 1000) + ' s');
    setTimeout(connect, delay);
  };
}
connect();
document.getElementById('f').onsubmit = (e) => {
  e.preventDefault(); const q = document.getElementById('q').value.trim(); if (!q) return;
  add('q', q); send({ type: 'ask', question: q });
};
</script></body></html>`;

@ApiExcludeController()
@Public()
@Controller()
export class ChatPageController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return PAGE;
  }
}
