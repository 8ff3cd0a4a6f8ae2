// Payouts: every payout of the tenant with its status, money and quote expiry; #payouts/TOKEN
// opens one: its status history, the journal's requests about it, its webhook deliveries and
// its confirmation PDF (MassPay's PATCH /payout/{user}/{payout}).

import { MASSPAY, call } from './api.js';
import { badge, fields, frame, h, money, more, newest, relative, short, swap, table, when } from './dom.js';
import { entryItem } from './requests.js';
import { bodyStatus, deliveryItem } from './webhooks.js';

/** Status changes this page saw while polling, per payout, on the test clock. */
const seen = new Map();
/** Confirmation PDFs opened (payout token → blob: URL), so the link survives a re-render. */
const pdfs = new Map();

/** Notes every status change since the last poll (called on each poll, whatever the view). */
export function observe(state) {
  const live = new Set();
  for (const p of state.payouts) {
    live.add(p.payout_token);
    const log = seen.get(p.payout_token);
    if (!log) seen.set(p.payout_token, [{ status: p.status, at: state.clock, first: true }]);
    else if (log.at(-1).status !== p.status) log.push({ status: p.status, at: state.clock });
  }
  for (const t of seen.keys()) if (!live.has(t)) seen.delete(t);
}

const userName = (u) => (u ? `${u.first_name} ${u.last_name}`.trim() || u.email : 'unknown user');

function row(p, users, now, selected) {
  const u = users.get(p.user_token);
  return h(
    'tr',
    { 'data-payout': p.payout_token, class: selected ? 'selected' : null },
    h('th', { scope: 'row' }, h('a', { href: `#payouts/${p.payout_token}`, 'data-key': p.payout_token, title: p.payout_token, 'aria-current': selected ? 'true' : null }, short(p.payout_token))),
    h('td', { class: 'status' }, badge(p.status)),
    h('td', { class: 'n source' }, money(p.source_amount, p.source_currency_code)),
    h('td', { class: 'n destination-amount' }, money(p.destination_amount, p.destination_currency_code)),
    h('td', { class: 'n fee' }, money(p.fee, p.source_currency_code)),
    h('td', { class: 'n rate' }, p.exchange_rate),
    h('td', { class: 'expiry' }, relative(p.expiration, now, 'expired')),
    h('td', null, userName(u), h('br'), h('small', { title: p.user_token }, short(p.user_token))),
    h('td', null, p.payer_name, h('br'), h('small', { title: p.destination_token }, `${p.country_code} · ${p.delivery_type}`)),
  );
}

function list(state, users, arg) {
  const all = newest(state.payouts);
  return [
    table(
      `${all.total} payout${all.total === 1 ? '' : 's'}`,
      ['Payout', 'Status', 'Source amount', 'Destination amount', 'Fee', 'Rate', 'Quote expiry', 'User', 'Destination'],
      all.shown.map((p) => row(p, users, state.clock, p.payout_token === arg)),
      'No payout yet. Initiate one through the MassPay API (POST /payout/{user_token}).',
      'stack',
    ),
    more(all, 'payouts'),
  ];
}

/** Derived, since the state keeps only the current status: PENDING at initiate, then what the
 * webhook log carried, then what this page saw change, then the current status. */
function history(p, deliveries, initiate) {
  const rows = [{ status: 'PENDING', how: 'initiated', at: initiate?.at }];
  const have = new Set(['PENDING']);
  for (const d of deliveries) {
    const s = bodyStatus(d);
    if (s === 'PENDING' && !rows[0].at && !rows[0].wall) rows[0].wall = d.attempt_log?.[0]?.at;
    else if (s && !have.has(s)) {
      have.add(s);
      rows.push({ status: s, how: `webhook ${short(d.id)}`, wall: d.attempt_log?.[0]?.at });
    }
  }
  for (const o of seen.get(p.payout_token) ?? []) {
    if (!o.first && !have.has(o.status)) {
      have.add(o.status);
      rows.push({ status: o.status, how: 'seen changing by this page', at: o.at });
    }
  }
  if (!have.has(p.status)) rows.push({ status: p.status, how: 'current state' });
  return h(
    'ol',
    { class: 'history', id: 'payout-history' },
    rows.map((r) =>
      h('li', null, badge(r.status), ` ${r.how}`,
        r.at ? [' · test clock ', when(r.at)] : r.wall ? [' · sent ', when(r.wall)] : null,
        r.status === p.status && p.status_reason ? ` · ${p.status_reason}` : null),
    ),
  );
}

const mentions = (e, token) =>
  e.path.includes(token) || [e.request_body, e.response_body].some((b) => b != null && JSON.stringify(b).includes(token));

async function openPdf(p, ctx) {
  try {
    const { content } = await call('PATCH', `${MASSPAY}/payout/${p.user_token}/${p.payout_token}`);
    const bytes = Uint8Array.from(atob(content), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/pdf' }));
    pdfs.set(p.payout_token, url);
    window.open(url, '_blank');
    ctx.announce('Confirmation PDF opened in a new tab.');
    ctx.refresh();
  } catch (e) {
    ctx.fail(e);
  }
}

function detail(arg, state, users, data, ctx) {
  const p = state.payouts.find((x) => x.payout_token === arg);
  if (!p) return h('p', { class: 'empty' }, `This tenant has no payout ${arg}.`, ' ', h('a', { href: '#payouts' }, 'Back to the list'));
  const journal = Array.isArray(data.requests) ? data.requests.filter((e) => mentions(e, arg)) : [];
  const initiate = journal.find((e) => e.method === 'POST' && mentions({ path: '', response_body: e.response_body }, arg));
  const hooks = Array.isArray(data.webhooks) ? data.webhooks.filter((d) => d.object_token === arg) : [];
  const u = users.get(p.user_token);
  const pdf = pdfs.get(arg);
  return h(
    'section',
    { class: 'card', id: 'payout-detail', 'aria-labelledby': 'payout-detail-title' },
    h('h3', { id: 'payout-detail-title', tabindex: '-1', 'data-key': 'payout-detail-title' }, 'Payout ', h('code', null, p.payout_token)),
    h(
      'p',
      { class: 'buttons' },
      h('button', { type: 'button', id: 'open-pdf', 'data-key': 'open-pdf', onclick: () => openPdf(p, ctx) }, 'Open confirmation PDF'),
      pdf ? h('a', { href: pdf, target: '_blank', id: 'pdf-link', download: `${arg}.pdf` }, 'Download the PDF') : null,
      h('a', { href: '#payouts' }, 'Close'),
    ),
    fields([
      ['Status', [badge(p.status), p.status_reason ? ` ${p.status_reason}` : '']],
      ['Source amount', money(p.source_amount, p.source_currency_code)],
      ['Fee', money(p.fee, p.source_currency_code)],
      ['Exchange rate', p.exchange_rate],
      ['Destination amount', money(p.destination_amount, p.destination_currency_code)],
      ['Quote expires', [when(p.expiration), ' (', relative(p.expiration, state.clock, 'expired'), ')']],
      ['Estimated availability', when(p.estimated_availability)],
      ['User', [userName(u), ' ', h('code', null, p.user_token)]],
      ['Destination', [`${p.payer_name} · ${p.country_code} · ${p.delivery_type} `, h('code', null, p.destination_token)]],
      ['Source account', h('code', null, p.source_token)],
      ['Client transfer id', p.client_transfer_id],
      ['Attribute set', p.attr_set_token ? h('code', null, p.attr_set_token) : ''],
      ['Pickup code', p.pickup_code],
      ['Metadata', p.metadata == null ? '' : h('code', null, JSON.stringify(p.metadata))],
    ]),
    h('h4', null, 'Status history'),
    history(p, hooks, initiate),
    h('h4', null, 'Requests about it'),
    data.requests == null
      ? h('p', { class: 'empty' }, 'Loading…')
      : data.requests.error
      ? h('p', { class: 'error' }, data.requests.error)
      : journal.length
        ? h('ol', { class: 'entries' }, [...journal].reverse().map(entryItem))
        : h('p', { class: 'empty' }, 'None in the journal (it keeps the last 1000 requests).'),
    h('h4', null, 'Webhook deliveries'),
    data.webhooks == null
      ? h('p', { class: 'empty' }, 'Loading…')
      : data.webhooks.error
      ? h('p', { class: 'error' }, data.webhooks.error)
      : hooks.length
        ? h('ol', { class: 'entries' }, [...hooks].reverse().map((d) => deliveryItem(d, ctx)))
        : h('p', { class: 'empty' }, 'None (webhooks go only where a URL is subscribed).'),
  );
}

export default {
  mount(ctx) {
    const { section, body } = frame(
      'payouts',
      'Payouts',
      'Every payout of this tenant, newest first. The quote expiry is measured on the test clock.',
    );
    const box = h('div', { class: 'detail' });
    section.append(body, box);
    let listSig = '';
    let detailSig = '';
    let shown = '';
    return {
      section,
      needs: (arg) => (arg ? { requests: '', webhooks: true } : {}),
      update(data, arg) {
        const { state } = data;
        const users = new Map(state.users.map((u) => [u.user_token, u]));
        const names = state.users.map((u) => [u.user_token, userName(u)]);
        const sig = JSON.stringify([state.payouts, names, arg]);
        if (sig !== listSig) {
          listSig = sig;
          swap(body, list(state, users, arg));
        }
        const dsig = arg ? JSON.stringify([arg, state.payouts.find((p) => p.payout_token === arg), names, data.requests, data.webhooks, seen.get(arg), pdfs.get(arg)]) : '';
        if (dsig !== detailSig) {
          detailSig = dsig;
          swap(box, arg ? detail(arg, state, users, data, ctx) : []);
        }
        if (arg && arg !== shown) box.querySelector('h3')?.focus();
        shown = arg;
      },
    };
  },
};
