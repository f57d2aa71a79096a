import { createHash } from 'node:crypto'

/**
 * The authorization pages: plain HTML, one small inline script allowed by its hash, nothing
 * loaded from elsewhere, never framed. The sign-in page shows the EIP-4361 message; with a
 * wallet in the browser (`window.ethereum`) the script fills in the account and asks the wallet
 * to sign, otherwise the user signs the shown message with any Ethereum tool and pastes the
 * signature.
 */

const STYLE = 'body{font:15px/1.45 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}textarea{width:100%;font:13px monospace}input[type=text]{width:100%;font:13px monospace}button{font-size:15px;padding:.4rem 1rem;margin:.5rem 0}.err{color:#a40000}code{word-break:break-all}'

// The message arrives with the zero address in its second line; the script writes the account there.
const SCRIPT = `(function(){
var d=JSON.parse(document.getElementById('siwe').textContent),m=document.getElementById('message'),a=document.getElementById('address'),s=document.getElementById('signature'),f=document.getElementById('signin'),w=document.getElementById('wallet');
function fill(addr){m.value=d.message.replace(d.placeholder,addr)}
a.addEventListener('input',function(){if(/^0x[0-9a-fA-F]{40}$/.test(a.value))fill(a.value)});
if(window.ethereum){w.hidden=false;w.addEventListener('click',function(){
window.ethereum.request({method:'eth_requestAccounts'}).then(function(acc){a.value=acc[0];fill(acc[0]);
var hex='0x'+Array.from(new TextEncoder().encode(m.value)).map(function(b){return b.toString(16).padStart(2,'0')}).join('');
return window.ethereum.request({method:'personal_sign',params:[hex,acc[0]]})}).then(function(sig){s.value=sig;f.submit()}).catch(function(e){document.getElementById('status').textContent=String(e&&e.message||e)})})}
})()`

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
const SCRIPT_HASH = sha256(SCRIPT)
const STYLE_HASH = sha256(STYLE)

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** JSON inside a <script type="application/json">: `<` escaped so no `</script>` ends it early. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c')
}

export interface Page {
  status: number
  html: string
  headers: Record<string, string>
}

/** `formTarget`: the origin the form's POST may end up at (the app's redirect URI), which CSP form-action must allow. */
function page(status: number, title: string, body: string, formTarget?: string): Page {
  const formAction = formTarget === undefined ? "'self'" : `'self' ${formTarget}`
  return {
    status,
    html: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': `default-src 'none'; script-src ${SCRIPT_HASH}; style-src ${STYLE_HASH}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    },
  }
}

export function errorPage(status: number, message: string): Page {
  return page(status, 'Authorization refused', `<p class="err">${escapeHtml(message)}</p><p>Nothing was shared. Go back to the app and start again.</p>`)
}

export function signInPage(o: { requestId: string; clientName: string; scopes: string[]; message: string; placeholder: string; redirectOrigin: string; error?: string }): Page {
  const scopes = o.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')
  return page(
    200,
    'Sign in to share your records',
    `<p><b>${escapeHtml(o.clientName)}</b> asks to read MedRec records held by this provider. It asks for:</p><ul>${scopes}</ul>
<p>It will get only what the chain lets your account read (your own records, or what a patient granted you), for a few minutes, and every read is in the patient's audit log.</p>
${o.error === undefined ? '' : `<p class="err">${escapeHtml(o.error)}</p>`}
<form id="signin" method="post" action="authorize">
<input type="hidden" name="request" value="${escapeHtml(o.requestId)}">
<button type="button" id="wallet" hidden>Sign in with my wallet</button>
<p><label>Your account address<br><input type="text" id="address" autocomplete="off" spellcheck="false" placeholder="0x…"></label></p>
<p><label>Message to sign (EIP-4361, personal_sign)<br><textarea id="message" name="message" rows="12" spellcheck="false">${escapeHtml(o.message)}</textarea></label></p>
<p><label>Signature<br><input type="text" id="signature" name="signature" autocomplete="off" spellcheck="false" placeholder="0x… (65 bytes)"></label></p>
<p id="status"></p>
<button type="submit">Sign in and allow</button>
</form>
<script type="application/json" id="siwe">${scriptJson({ message: o.message, placeholder: o.placeholder })}</script>
<script>${SCRIPT}</script>`,
    o.redirectOrigin,
  )
}

export function choosePatientPage(o: { choiceId: string; clientName: string; patients: { patientId: string; label: string }[]; redirectOrigin: string }): Page {
  const options = o.patients.map((p, i) => `<p><label><input type="radio" name="patient" value="${escapeHtml(p.patientId)}"${i === 0 ? ' checked' : ''}> ${escapeHtml(p.label)}</label></p>`).join('')
  return page(
    200,
    'Whose records?',
    `<p>Your account may read the records of more than one patient here. Choose the one <b>${escapeHtml(o.clientName)}</b> may read:</p>
<form method="post" action="authorize"><input type="hidden" name="choice" value="${escapeHtml(o.choiceId)}">${options}<button type="submit">Allow</button></form>`,
    o.redirectOrigin,
  )
}
