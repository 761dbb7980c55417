// The gateway dashboard (GET /dashboard): polls GET /dashboard/data every second and renders it.
// Plain browser JavaScript, no build step, no dependency. Every value from the gateway is put in
// the page with textContent or as an attribute value, never parsed as markup: route ids, paths
// and upstream names are the operator's text. The admin token lives in sessionStorage (this tab
// only); a token a proxy adds as an Authorization header works as well (the first poll goes
// without one of our own).
'use strict';

const TOKEN_KEY = 'gateway.adminToken';
const DATA_URL = '/dashboard/data';
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);
let pollTimer = null;

/** An element with text content and attributes (no markup is ever parsed). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

const fmtRps = (n) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const fmtRate = (r) => (r === null ? '–' : `${(r * 100).toFixed(r > 0 && r < 0.001 ? 2 : 1)} %`);
function fmtMs(ms) {
  if (ms === null) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

function actionText(a) {
  if (a.kind === 'unmatched') return 'answered by the gateway (404, 405, 400)';
  if (a.kind === 'respond') return `respond ${a.status}`;
  if (a.kind === 'aggregate') return `aggregate: ${a.upstreams.join(', ')}`;
  const split = a.split.map((s) => `${s.upstream} ${s.weight}%`).join(', ');
  return split === '' ? a.upstream : `${a.upstream} (split: ${split})`;
}

function routeRow(r) {
  const match = el('td', null);
  for (const p of r.paths) match.append(el('span', { class: 'path' }, p));
  const hint = [r.methods ? r.methods.join(' ') : null, r.hosts ? r.hosts.join(' ') : null].filter(Boolean).join(' · ');
  if (hint !== '') match.append(el('span', { class: 'hint' }, hint));
  return el(
    'tr',
    { 'data-route': r.id },
    el('td', { class: 'id' }, r.id),
    match,
    el('td', { class: 'to' }, actionText(r.action)),
    el('td', { class: 'num rps' }, fmtRps(r.rps)),
    el('td', { class: r.errorRate ? 'num errors bad' : 'num errors' }, fmtRate(r.errorRate)),
    el('td', { class: 'num p99' }, fmtMs(r.p99Ms)),
  );
}

function targetRows(name, upstream) {
  return upstream.targets.map((t, i) =>
    el(
      'tr',
      { 'data-target': t.address, 'data-upstream': name },
      el('td', null, i === 0 ? name : ''),
      el('td', null, el('span', { class: 'path' }, t.url), t.address !== t.url ? el('span', { class: 'hint' }, t.address) : null),
      el('td', { class: 'health' }, el('span', { class: `badge ${t.health}` }, t.health)),
      el('td', { class: 'breaker' }, el('span', { class: `badge ${t.breaker}` }, t.breaker)),
      el('td', { class: 'num inflight' }, t.inflight),
      el('td', { class: 'num connections' }, t.openConnections),
      el('td', { class: 'num queued' }, t.queued),
    ),
  );
}

function render(d) {
  $('config-version').textContent = `v${d.config.version}`;
  $('config-loaded').textContent = `${new Date(d.config.loadedAt).toLocaleTimeString()} (${d.config.source})`;
  $('workers').textContent = `${d.workers.ready} / ${d.workers.total}`;
  $('total-rps').textContent = fmtRps(d.total.rps);
  $('total-errors').textContent = fmtRate(d.total.errorRate);
  $('total-p99').textContent = fmtMs(d.total.p99Ms);
  $('window').textContent = d.windowSeconds > 0 ? `(last ${Math.round(d.windowSeconds)} s)` : '(warming up)';
  const rows = d.routes.map(routeRow);
  if (d.unmatched.requests > 0) rows.push(routeRow({ ...d.unmatched, id: '(no route)', paths: [], methods: null, hosts: null, action: { kind: 'unmatched' } }));
  $('routes').tBodies[0].replaceChildren(...rows);
  $('targets').tBodies[0].replaceChildren(...Object.entries(d.upstreams).flatMap(([name, u]) => targetRows(name, u)));
  $('status').textContent = `updated ${new Date(d.generatedAt).toLocaleTimeString()}`;
  $('summary').hidden = false;
  $('data').hidden = false;
  $('login').hidden = true;
}

function showLogin(message) {
  clearTimeout(pollTimer);
  $('summary').hidden = true;
  $('data').hidden = true;
  $('routes').tBodies[0].replaceChildren();
  $('targets').tBodies[0].replaceChildren();
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('status').textContent = '';
  $('token').focus();
}

// One poll chain at a time: every path through poll() schedules the next one exactly once
// (a body that fails to read, a render error or a hung request must not stop the page from
// updating), except a 401, which shows the login form.
const POLL_TIMEOUT_MS = 5000;

async function poll() {
  clearTimeout(pollTimer);
  const token = sessionStorage.getItem(TOKEN_KEY);
  try {
    const res = await fetch(DATA_URL, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
      signal: AbortSignal.timeout(POLL_TIMEOUT_MS),
    });
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(token ? 'That token was not accepted.' : '');
      return;
    }
    if (!res.ok) $('status').textContent = `the gateway answered ${res.status}; retrying`;
    else render(await res.json());
  } catch {
    $('status').textContent = 'the gateway does not answer; retrying';
  }
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, POLL_MS);
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value);
  $('token').value = '';
  void poll();
});

$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin('');
});

void poll();
