/**
 * The console's script, served as /console/app.js (the page allows scripts from 'self' only,
 * never inline). Plain browser JavaScript, no framework and no build step: it reads the first
 * state the page embeds as a JSON data block, then follows `GET /v1/events` and redraws the
 * panels. Every value goes in with textContent (never as HTML). Kept as a string so `tsc`
 * ships it with the server code.
 */
export const APP_JS = String.raw`'use strict'
;(function () {
  var $ = function (id) { return document.getElementById(id) }
  function el (tag, attrs, kids) {
    var e = document.createElement(tag)
    if (attrs) for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k])) }
    if (kids !== undefined) for (var i = 0; i < [].concat(kids).length; i++) {
      var c = [].concat(kids)[i]
      if (c === null || c === undefined) continue
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)))
    }
    return e
  }
  function table (head, rows) {
    var t = el('table', null, [el('thead', null, el('tr', null, head.map(function (h) { return el('th', null, h) })))])
    var tb = el('tbody')
    rows.forEach(function (r) { tb.appendChild(r) })
    t.appendChild(tb)
    return t
  }
  function fill (id, node) {
    var p = $(id)
    if (!p) return
    var body = p.querySelector('.body')
    body.replaceChildren(node)
  }
  function show (id, on) { var p = $(id); if (p) p.hidden = !on }
  function pct (x) { return (x * 100).toFixed(1) + '%' }
  function labels (o) { return Object.keys(o).map(function (k) { return k + '=' + o[k] }).join(', ') }

  function listeners (s) {
    fill('panel-listeners', table(['listener', 'address', 'TLS', 'open connections'], s.listeners.map(function (l) {
      return el('tr', { 'data-listener': l.name }, [el('td', null, l.name), el('td', null, l.address), el('td', null, l.tls ? 'yes' : 'no'), el('td', null, l.connections === null ? '–' : l.connections)])
    })))
  }
  function routes (s) {
    fill('panel-routes', table(['route', 'match', 'cluster', 'calls/s', 'errors'], s.routes.map(function (r) {
      return el('tr', { 'data-route': r.name }, [el('td', null, r.name), el('td', null, r.match), el('td', null, r.cluster + (r.subset ? ' [' + r.subset + ']' : '')),
        el('td', { class: 'num' }, r.service === null ? '–' : r.callsPerSec.toFixed(1)), el('td', { class: r.errorRate > 0 ? 'num bad' : 'num' }, r.service === null ? '–' : pct(r.errorRate))])
    })))
  }
  function hostRow (h) {
    var health = h.health
    if (h.health === 'ejected') health += ' (' + Math.ceil(h.ejectedMsLeft / 1000) + ' s left' + (h.ejectReason ? ', ' + h.ejectReason : '') + ')'
    return el('tr', { 'data-host': h.id, 'data-health': h.health }, [el('td', null, h.id), el('td', null, labels(h.labels)), el('td', null, h.zone || '–'),
      el('td', { class: 'health ' + h.health }, health), el('td', null, h.inFlight), el('td', null, h.shard || '–')])
  }
  function clusters (s) {
    var wrap = el('div')
    s.clusters.forEach(function (c) {
      var title = c.name + ' (' + c.protocol + ', ' + c.lb + ', ' + c.totalHosts + ' hosts' + (c.unavailable > 0 ? ', ' + c.unavailable + ' unavailable' : '') + ')'
      wrap.appendChild(el('h3', { 'data-cluster': c.name }, title))
      wrap.appendChild(table(['host', 'labels', 'zone', 'health', 'in flight', 'shard'], c.hosts.map(hostRow)))
      if (c.hosts.length < c.totalHosts) wrap.appendChild(el('p', { class: 'note' }, (c.totalHosts - c.hosts.length) + ' more hosts not listed'))
    })
    fill('panel-clusters', wrap)
  }
  function discovery (s) {
    show('panel-discovery', s.discovery !== null)
    if (s.discovery === null) return
    var d = s.discovery
    var t = table(['app / service', 'instances', 'revision', 'pushed'], d.apps.map(function (a) {
      return el('tr', { 'data-app': a.name }, [el('td', null, a.kind === 'service' ? 'service ' + a.name : a.name), el('td', null, a.instances), el('td', null, a.revision), el('td', null, a.pushedAt)])
    }))
    fill('panel-discovery', d.total === 0 ? el('p', { class: 'note' }, 'nothing pushed yet') : t)
  }
  var lastGen = null
  function revisions (s) {
    show('panel-revisions', s.revisions !== null)
    if (s.revisions === null || s.revisions.length === 0) return
    if (s.revisions[0].generation === lastGen) return
    lastGen = s.revisions[0].generation
    var list = table(['generation', 'when', 'who', 'changed'], s.revisions.map(function (r) {
      return el('tr', { 'data-generation': r.generation }, [el('td', null, r.generation), el('td', null, r.at), el('td', null, r.who), el('td', null, r.keys.join(', ') || '(start)')])
    }))
    var from = $('diff-from'); var to = $('diff-to')
    var gens = s.revisions.map(function (r) { return r.generation })
    ;[from, to].forEach(function (sel, i) {
      sel.replaceChildren.apply(sel, gens.map(function (g) { return el('option', { value: g }, g) }))
      sel.value = String(i === 0 ? (gens[1] !== undefined ? gens[1] : gens[0]) : gens[0])
    })
    $('revisions-list').replaceChildren(list)
  }
  function showDiff () {
    var from = $('diff-from').value; var to = $('diff-to').value
    var out = $('diff-out')
    fetch('/v1/revisions/' + encodeURIComponent(from) + '/diff/' + encodeURIComponent(to), { credentials: 'same-origin' }).then(function (r) {
      return r.json().then(function (b) { return { ok: r.ok, b: b } })
    }).then(function (x) {
      if (!x.ok) { out.replaceChildren(el('p', { class: 'bad' }, x.b.error ? x.b.error.message : 'diff failed')); return }
      var nodes = []
      if (x.b.resources.length === 0) nodes.push(el('p', { class: 'note' }, 'no difference'))
      x.b.resources.forEach(function (r) {
        nodes.push(el('h4', { 'data-diff-key': r.key }, r.key + ' (' + r.kind + (r.revisionAfter !== null ? ', revision ' + (r.revisionBefore === null ? '–' : r.revisionBefore) + ' → ' + r.revisionAfter : '') + ')'))
        var pre = el('pre', { class: 'diff' })
        r.hunks.forEach(function (h) {
          pre.appendChild(el('span', { class: 'hunk' }, h.header + '\n'))
          h.lines.forEach(function (l) { pre.appendChild(el('span', { class: l[0] === '+' ? 'add' : l[0] === '-' ? 'del' : 'ctx' }, l + '\n')) })
        })
        if (r.kind === 'tooLarge') pre.appendChild(el('span', null, 'too large to diff here'))
        nodes.push(pre)
      })
      out.replaceChildren.apply(out, nodes)
    }).catch(function (e) { out.replaceChildren(el('p', { class: 'bad' }, String(e))) })
  }
  function ldc (s) {
    show('panel-ldc', s.ldc !== null)
    if (s.ldc === null) return
    var l = s.ldc
    var wrap = el('div', null, [el('p', null, 'local zones: ' + (l.localZones.join(', ') || 'all') + (l.zones.length ? '; zones: ' + l.zones.join(', ') : ''))])
    wrap.appendChild(table(['shards', 'zone'], l.table.map(function (r) { return el('tr', null, [el('td', null, r.from + '–' + r.to), el('td', null, r.zone)]) })))
    fill('panel-ldc', wrap)
  }
  function counters (s) {
    show('panel-counters', s.counters.length > 0)
    fill('panel-counters', table(['counter', 'labels', 'value'], s.counters.map(function (c) {
      return el('tr', { 'data-counter': c.name }, [el('td', null, c.name), el('td', null, labels(c.labels)), el('td', null, c.value)])
    })))
  }
  function who (c) {
    if (c === null) return 'anonymous'
    return (c.entity || '?') + (c.app ? '/' + c.app : '') + ' (' + c.auth + ')'
  }
  function audit (s) {
    show('panel-audit', s.audit !== null)
    if (s.audit === null) return
    var a = s.audit
    var t = table(['time', 'caller', 'service / method', 'route → cluster', 'status', 'error code', 'ms', 'trace', 'headers'], a.records.map(function (r) {
      var h = Object.keys(r.headers).map(function (k) { return k + ': ' + r.headers[k] }).join(', ')
      return el('tr', { 'data-audit-trace': r.traceId || null, 'data-audit-status': r.status }, [el('td', { class: 'num' }, r.time), el('td', { title: r.caller ? r.caller.principal : (r.peer || r.addr) }, who(r.caller)),
        el('td', null, r.proto + ' ' + r.service + '/' + r.method), el('td', null, (r.route || '–') + ' → ' + (r.cluster || '–')),
        el('td', { class: r.status === 0 ? 'num' : 'num bad' }, r.status), el('td', null, r.code || '–'), el('td', { class: 'num' }, r.ms),
        el('td', { class: 'mono' }, r.traceId || r.sofaTraceId || '–'), el('td', null, h || '–')])
    }))
    var note = el('p', { class: 'note' }, a.total + ' records audited by this process; the last ' + a.capacity + ' are kept here')
    fill('panel-audit', a.records.length === 0 ? el('p', { class: 'note' }, 'no call audited yet') : el('div', null, [t, note]))
  }
  function render (s) {
    listeners(s); routes(s); clusters(s); discovery(s); revisions(s); ldc(s); counters(s); audit(s)
    $('status').textContent = 'generation ' + s.generation + ' · updated ' + s.at
  }

  var first = $('isthmus-state')
  if (first) render(JSON.parse(first.textContent))
  $('diff-show').addEventListener('click', showDiff)
  var es = new EventSource('/v1/events')
  es.addEventListener('state', function (ev) { render(JSON.parse(ev.data)); $('live').textContent = 'live' ; $('live').className = 'ok' })
  es.addEventListener('error', function () { $('live').textContent = 'reconnecting'; $('live').className = 'bad' })
})()
`
