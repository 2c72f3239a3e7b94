/**
 * The console's HTML (the page shell with one section per panel, the first state embedded as
 * a JSON data block, which a CSP does not treat as script) and the login form, plus the
 * security headers every console response carries: a strict Content-Security-Policy (scripts,
 * styles, images and connections from the admin origin only, no inline script, no framing,
 * forms post only here), nosniff, no referrer, no caching.
 */
import type { ServerResponse } from 'node:http'
import type { ConsoleState } from './state.js'

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

export function securityHeaders (): Record<string, string> {
  return {
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    // Not no-referrer: with it a browser sends `Origin: null` on the login POST, and the Origin check needs it.
    'referrer-policy': 'same-origin',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'cache-control': 'no-store',
  }
}

export function sendHtml (res: ServerResponse, status: number, html: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...securityHeaders(), ...extra, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) })
  res.end(html)
}

export function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, c => c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;')
}

/** JSON safe inside a <script type="application/json"> block (no `</script>`, no `<!--`). */
function jsonBlock (v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

function head (title: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="stylesheet" href="/console/style.css"><link rel="icon" href="/console/favicon.svg" type="image/svg+xml"></head>`
}

/** Panels in page order; `wide` ones take a whole row (tables with long names). */
const PANELS: Array<[id: string, title: string, hint: string, wide?: boolean]> = [
  ['panel-listeners', 'Listeners', 'bound address, TLS, open downstream connections'],
  ['panel-routes', 'Routes', 'match → cluster; calls/s and error share over the last second (per routed service)', true],
  ['panel-clusters', 'Clusters and hosts', 'labels, zone, health (active check) or outlier ejection, calls in flight, shard', true],
  ['panel-discovery', 'Discovery', 'pushed apps and services: instances, last revision and when'],
  ['panel-ldc', 'LDC zones and shard map', 'zones this gateway serves, shard ranges to zones'],
  ['panel-counters', 'Filter counters', 'rate-limit decisions, stress and LDC routing, audit records, denials…'],
  ['panel-audit', 'Recent audit records', 'the audit trail\'s last records, newest first: metadata only, never bodies; redacted headers stay redacted', true],
]

export function consolePage (state: ConsoleState, entity: string): string {
  const panels = PANELS.map(([id, title, hint, wide]) => `<section id="${id}" class="panel${wide === true ? ' wide' : ''}"><h2>${title}</h2><p class="hint">${escapeHtml(hint)}</p><div class="body"><p class="note">loading…</p></div></section>`).join('\n')
  return `${head(`Isthmus console · ${entity}`)}
<body><header><h1>Isthmus <span class="entity">${escapeHtml(entity)}</span></h1><span id="live" class="note">connecting</span> <span id="status" class="note"></span>
<form method="post" action="/console/logout" class="logout"><button type="submit">log out</button></form></header>
<main>
${panels}
<section id="panel-revisions" class="panel wide"><h2>Config revisions</h2><p class="hint">the last accepted changes (who, when); pick two generations to see what changed</p>
<div id="revisions-list"></div>
<p class="diff-pick">diff from <select id="diff-from" aria-label="from generation"></select> to <select id="diff-to" aria-label="to generation"></select> <button id="diff-show" type="button">show diff</button></p>
<div id="diff-out"></div></section>
</main>
<script type="application/json" id="isthmus-state">${jsonBlock(state)}</script>
<script src="/console/app.js"></script>
</body></html>`
}

export function loginPage (message: string | null, tokenLogin: boolean): string {
  const form = tokenLogin
    ? `<form method="post" action="/console/login"><label>Admin token <input type="password" name="token" id="token" autocomplete="current-password" required autofocus></label> <button type="submit" id="login">log in</button></form>`
    : '<p>This gateway has no admin token: use an admin client certificate.</p>'
  return `${head('Isthmus console · log in')}
<body class="login"><main><h1>Isthmus console</h1>${message === null ? '' : `<p class="bad" id="login-error">${escapeHtml(message)}</p>`}${form}
<p class="note">Read-only view of the gateway. The session cookie lasts until you log out or it expires.</p></main></body></html>`
}

export const STYLE_CSS = `:root{font:14px/1.4 system-ui,sans-serif;color:#1d2330;background:#f4f5f7}
body{margin:0}header{display:flex;gap:1em;align-items:baseline;padding:.6em 1.2em;background:#1d2330;color:#fff}
header h1{font-size:1.2em;margin:0}.entity{color:#9cc3ff}header .note{color:#c8ccd4}.logout{margin-left:auto}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));grid-auto-flow:row dense;gap:1em;padding:1em}
.panel{background:#fff;border-radius:6px;padding:.6em 1em;box-shadow:0 1px 2px #0002}.panel.wide{grid-column:1/-1}
.panel[hidden]{display:none}td.mono{font-family:ui-monospace,monospace;font-size:.8em}h2{font-size:1.05em;margin:.2em 0}h3{font-size:.95em;margin:.8em 0 .2em}h4{margin:.6em 0 .2em;font-size:.9em}
.hint,.note{color:#667;font-size:.85em;margin:.1em 0 .5em}.panel .body{overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.2em .5em;border-bottom:1px solid #e3e5e8;font-size:.9em;vertical-align:top;overflow-wrap:break-word}td.health,td.num{white-space:nowrap}th{color:#556}
.health.healthy{color:#17803d}.health.unhealthy,.health.ejected,.bad{color:#b42318;font-weight:600}.ok{color:#17803d}
pre.diff{background:#f7f8fa;padding:.5em;overflow:auto;max-height:30em;font-size:.85em}.add{color:#17803d;background:#e9f7ee}.del{color:#b42318;background:#fdeceb}.hunk{color:#667}
span.add,span.del,span.ctx,span.hunk{display:block;white-space:pre}
body.login main{display:block;max-width:28em;margin:4em auto;background:#fff;padding:1.5em;border-radius:6px}
`

export const FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><path d="M3 8h10" stroke="#9cc3ff" stroke-width="3"/></svg>'
