// Webhooks: the tenant's deliveries (state, attempts, the attempt log, the signed body), a resend
// button on each, and the tenant's own subscription (PUT/DELETE /_sandbox/webhook).

import { call } from './api.js';
import { badge, bodyText, fields, frame, h, more, newest, pre, short, swap, table, when } from './dom.js';

/** The payout status a delivery's body carries, if it is one. */
export function bodyStatus(d) {
  try {
    return JSON.parse(d.body).status;
  } catch {
    return undefined;
  }
}

/** One delivery as a <details>: its state up front, the attempt log and body inside. */
export function deliveryItem(d, ctx) {
  const resend = async () => {
    try {
      const again = await call('POST', `/_sandbox/webhooks/${encodeURIComponent(d.id)}/resend`);
      ctx.announce(`Delivery ${d.id} resent as ${again.id}.`);
      ctx.refresh();
    } catch (e) {
      ctx.fail(e);
    }
  };
  const status = bodyStatus(d);
  const attempts = d.attempt_log ?? [];
  return h(
    'li',
    { 'data-delivery': d.id, 'data-state': d.state },
    h(
      'details',
      { 'data-key': d.id },
      h(
        'summary',
        { 'data-key': `s|${d.id}` },
        badge(d.state, 'wh'),
        ' ',
        h('code', { title: d.id }, short(d.id)),
        ` ${d.event_type}`,
        status ? [' → ', badge(status)] : null,
        h('span', { class: 'muted' }, ` · ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`, d.last_status ? ` · last HTTP ${d.last_status}` : ''),
      ),
      fields([
        ['Delivery', h('code', null, d.id)],
        ['About', d.event_type === 'payout' ? h('a', { href: `#payouts/${d.object_token}` }, d.object_token) : d.object_token],
        ['To', h('code', null, d.url)],
        ['State', d.state],
        ['Attempts', String(d.attempts)],
        ['Last status', d.last_status == null ? '—' : String(d.last_status)],
      ]),
      h('p', null, h('button', { type: 'button', class: 'resend', 'data-key': `resend|${d.id}`, onclick: resend }, 'Resend')),
      h('h4', null, 'Attempt log'),
      table(
        `Attempts of ${d.id}`,
        ['At (wall clock)', 'HTTP status', 'Error'],
        attempts.map((a) => h('tr', null, h('td', null, when(a.at)), h('td', null, a.status ?? '—'), h('td', null, a.error ?? ''))),
        d.state === 'dropped' ? 'Dropped by a scenario: never sent.' : 'No attempt yet.',
      ),
      h('h4', null, 'Body'),
      pre(bodyText(d.body), `Body of ${d.id}`),
    ),
  );
}

export default {
  mount(ctx) {
    const { section, body } = frame(
      'webhooks',
      'Webhooks',
      'Status notifications of this tenant, newest first: where they went, how each attempt ended, and the signed body. A delivery can be sent again.',
    );
    const url = h('input', { id: 'hook-url', type: 'url', required: true, placeholder: 'http://127.0.0.1:9000/hooks', autocomplete: 'off' });
    const secret = h('input', { id: 'hook-secret', autocomplete: 'off', placeholder: 'default' });
    const current = h('p', { class: 'muted', 'aria-live': 'polite' });
    const subscribe = async (e) => {
      e.preventDefault();
      try {
        const sub = await call('PUT', '/_sandbox/webhook', { url: url.value.trim(), ...(secret.value ? { secret: secret.value } : {}) });
        current.textContent = `Subscribed: ${sub.url}`;
        ctx.announce(`Webhooks of this tenant now go to ${sub.url}.`);
      } catch (err) {
        ctx.fail(err);
      }
    };
    const unsubscribe = async () => {
      try {
        await call('DELETE', '/_sandbox/webhook');
        current.textContent = 'No subscription of this tenant (--webhook-url ones still apply).';
        ctx.announce('Unsubscribed.');
      } catch (err) {
        ctx.fail(err);
      }
    };
    const form = h(
      'form',
      { class: 'filters', 'aria-label': 'This tenant’s subscription', onsubmit: subscribe },
      h('label', { for: 'hook-url' }, 'Send to'), url,
      h('label', { for: 'hook-secret' }, 'Secret'), secret,
      h('button', null, 'Subscribe'),
      h('button', { type: 'button', onclick: unsubscribe }, 'Unsubscribe'),
    );
    section.append(form, current, body);
    let sig = '';
    return {
      section,
      needs: () => ({ webhooks: true }),
      update({ webhooks }) {
        const next = JSON.stringify(webhooks);
        if (next === sig) return;
        sig = next;
        if (!webhooks) return swap(body, h('p', { class: 'empty' }, 'Loading…'));
        if (webhooks.error) return swap(body, h('p', { class: 'error' }, webhooks.error));
        const list = newest(webhooks);
        swap(
          body,
          h('p', { class: 'count' }, `${list.total} deliver${list.total === 1 ? 'y' : 'ies'}`),
          list.total
            ? h('ol', { class: 'entries', id: 'deliveries' }, list.shown.map((d) => deliveryItem(d, ctx)))
            : h('p', { class: 'empty' }, 'No delivery yet: subscribe a URL here (or start with --webhook-url), then initiate or commit a payout.'),
          more(list, 'deliveries'),
        );
      },
    };
  },
};
