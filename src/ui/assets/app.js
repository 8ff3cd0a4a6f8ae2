// The dashboard: asks for an API key, then polls that tenant's state (and the journal and the
// webhook log where the view needs them) twice a second and renders the view the URL names
// (#overview, #payouts[/payout_…], #users, #requests, #webhooks).

import { ApiError, describe, get, getKey, setKey } from './api.js';
import { $, $$, tickRelative } from './dom.js';
import * as controls from './controls.js';
import overview from './overview.js';
import payouts, { observe } from './payouts.js';
import users from './users.js';
import requests from './requests.js';
import webhooks from './webhooks.js';

const VIEWS = { overview, payouts, users, requests, webhooks };
const TITLES = { overview: 'Overview', payouts: 'Payouts', users: 'Users', requests: 'Requests', webhooks: 'Webhooks' };
/** Between the end of one poll and the start of the next: a change shows within a second. */
const POLL_MS = 400;

const ctx = {
  /** Every scenario the sandbox knows (GET /_sandbox/scenarios), fetched once per key. */
  scenarios: [],
  refresh,
  announce,
  fail: (e) => announce(describe(e), true),
};

let route = { name: 'overview', arg: '' };
const mounted = new Map();
let data = null;

let quiet;
/** Says what an action did (or the API's error) in the status line; news fades after 15 s. */
function announce(text, error = false) {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', error);
  clearTimeout(quiet);
  if (!error) quiet = setTimeout(() => s.textContent === text && (s.textContent = ''), 15_000);
}

function connection(problem) {
  const c = $('#connection');
  c.hidden = !problem;
  if (problem && c.textContent !== problem) c.textContent = problem;
}

// ----- the key ---------------------------------------------------------------------------------

async function open(key) {
  setKey(key);
  try {
    ctx.scenarios = await get('/_sandbox/scenarios');
  } catch (e) {
    setKey('');
    signedOut(describe(e));
    return;
  }
  $('#login-error').textContent = '';
  $('#login').hidden = true;
  for (const id of ['#nav', '#who', '#controls', '#view']) $(id).hidden = false;
  $('#tenant').textContent = key.length > 8 ? `Key …${key.slice(-4)}` : 'Key ••••';
  controls.mount(ctx);
  show(false);
}

function signedOut(message = '') {
  setKey('');
  data = null;
  mounted.clear();
  $('#view').replaceChildren();
  for (const id of ['#nav', '#who', '#controls', '#view']) $(id).hidden = true;
  connection(null);
  $('#login').hidden = false;
  $('#login-error').textContent = message;
  $('#key').value = '';
  $('#key').focus();
}

// ----- views -----------------------------------------------------------------------------------

/** Shows the view the URL names; `focus` moves the keyboard there (after a navigation). */
function show(focus) {
  const [name, ...rest] = location.hash.slice(1).split('/');
  const changed = VIEWS[name] && name !== route.name;
  if (VIEWS[name]) route = { name, arg: decodeURIComponent(rest.join('/')) };
  if (!getKey()) return;
  for (const a of $$('#nav a')) {
    if (a.hash === `#${route.name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  let view = mounted.get(route.name);
  if (!view) {
    view = VIEWS[route.name].mount(ctx);
    mounted.set(route.name, view);
    $('#view').append(view.section);
  }
  for (const [n, v] of mounted) v.section.hidden = n !== route.name;
  document.title = `${TITLES[route.name]} · masspay-sandbox`;
  if (data) render();
  if (focus && changed) view.section.querySelector('h2')?.focus();
  refresh();
}

function render() {
  observe(data.state);
  controls.update(data);
  mounted.get(route.name)?.update(data, route.arg);
  tickRelative(data.state.clock);
}

// ----- polling ---------------------------------------------------------------------------------

/** Optional reads: their failure shows in the view; only a 401 ends the session. */
const optional = (path) =>
  get(path).catch((e) => {
    if (e instanceof ApiError && e.status === 401) throw e;
    return { error: describe(e) };
  });

async function tick() {
  const view = mounted.get(route.name);
  if (!getKey() || !view) return;
  const needs = view.needs(route.arg);
  try {
    const [state, journal, hooks] = await Promise.all([
      get('/_sandbox/state'),
      needs.requests === undefined ? null : optional(`/_sandbox/requests${needs.requests}`),
      needs.webhooks ? optional('/_sandbox/webhooks') : null,
    ]);
    if (!getKey()) return;
    data = { state, requests: journal, webhooks: hooks };
    connection(null);
    render();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) signedOut(describe(e));
    else connection(`Lost the sandbox: ${describe(e)} Retrying…`);
  }
}

let running = null;
let again = false;

/** Polls now; a call during a poll runs one more after it. Resolves once the view is current. */
function refresh() {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    try {
      do {
        again = false;
        await tick();
      } while (again);
    } finally {
      running = null;
    }
  })();
  return running;
}

async function loop() {
  for (;;) {
    if (getKey() && !document.hidden) await refresh();
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

// ----- start -----------------------------------------------------------------------------------

$('#login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const key = $('#key').value.trim();
  if (key) open(key);
});
$('#signout').addEventListener('click', () => signedOut());
window.addEventListener('hashchange', () => show(true));
document.addEventListener('visibilitychange', () => document.hidden || refresh());

if (getKey()) open(getKey());
else $('#key').focus();
loop();
