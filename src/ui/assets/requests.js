// Requests: the tenant's request journal (its MassPay calls), newest first, filtered by method,
// path and status; each entry opens to its body and answer where the journal keeps them.

import { call } from './api.js';
import { bodyText, frame, h, more, newest, pre, swap, when } from './dom.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** One journal entry as a <details>: method, path, status, time; opens to the bodies. */
export function entryItem(e) {
  const key = `${e.at}|${e.method}|${e.path}|${e.status}|${e.idempotency_key ?? ''}`;
  const bodies = 'request_body' in e || 'response_body' in e;
  return h(
    'li',
    { 'data-status': e.status },
    h(
      'details',
      { 'data-key': key },
      h(
        'summary',
        { 'data-key': `s|${key}` },
        h('span', { class: 'method' }, e.method),
        ' ',
        h('code', { class: 'path' }, e.path),
        ' ',
        h('span', { class: `badge http-${String(e.status)[0]}xx` }, e.status),
        ' ',
        h('span', { class: 'muted' }, when(e.at)),
        e.idempotency_key ? h('span', { class: 'muted' }, ` · Idempotency-Key ${e.idempotency_key}`) : null,
      ),
      bodies
        ? [
            h('h4', null, 'Request body'),
            e.request_body == null || e.request_body === '' ? h('p', { class: 'muted' }, '(none)') : pre(bodyText(e.request_body), 'Request body'),
            h('h4', null, 'Answer'),
            e.response_body == null || e.response_body === '' ? h('p', { class: 'muted' }, '(none)') : pre(bodyText(e.response_body), 'Answer body'),
          ]
        : h('p', { class: 'muted' }, 'This sandbox’s journal keeps method, path, status and time; no bodies.'),
    ),
  );
}

/** `200`, `4xx`, `5`: a status prefix where x is any digit. */
function statusMatcher(text) {
  const t = text.trim().toLowerCase();
  if (!t) return () => true;
  if (!/^[0-9x]{1,3}$/.test(t)) return () => false;
  const re = new RegExp(`^${t.replace(/x/g, '\\d')}`);
  return (status) => re.test(String(status));
}

export default {
  mount(ctx) {
    const { section, body } = frame(
      'requests',
      'Requests',
      'The request journal: this tenant’s MassPay calls (admin calls are not journaled), newest first, timed on the test clock.',
    );
    const method = h('select', { id: 'req-method' }, h('option', { value: '' }, 'any'), METHODS.map((m) => h('option', { value: m }, m)));
    const path = h('input', { id: 'req-path', type: 'search', autocomplete: 'off', placeholder: '/payout' });
    const status = h('input', { id: 'req-status', autocomplete: 'off', placeholder: '200, 4xx', size: '6' });
    let timer;
    const again = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ctx.refresh(), 200);
    };
    method.addEventListener('change', () => ctx.refresh());
    path.addEventListener('input', again);
    status.addEventListener('input', again);
    const form = h(
      'form',
      { class: 'filters', role: 'search', 'aria-label': 'Filter the journal', onsubmit: (e) => e.preventDefault() },
      h('label', { for: 'req-method' }, 'Method'), method,
      h('label', { for: 'req-path' }, 'Path contains'), path,
      h('label', { for: 'req-status' }, 'Status'), status,
      h('button', {
        type: 'button',
        class: 'danger',
        onclick: async () => {
          try {
            await call('DELETE', '/_sandbox/requests');
            ctx.announce('Journal cleared.');
            ctx.refresh();
          } catch (e) {
            ctx.fail(e);
          }
        },
      }, 'Clear journal'),
    );
    section.append(form, body);
    let sig = '';
    return {
      section,
      needs: () => {
        const q = new URLSearchParams();
        if (method.value) q.set('method', method.value);
        if (path.value.trim()) q.set('path', path.value.trim());
        return { requests: q.size ? `?${q}` : '' };
      },
      update({ requests }) {
        const next = JSON.stringify([requests, status.value]);
        if (next === sig) return;
        sig = next;
        if (!requests) return swap(body, h('p', { class: 'empty' }, 'Loading…'));
        if (requests.error) return swap(body, h('p', { class: 'error' }, requests.error));
        const ok = statusMatcher(status.value);
        const list = newest(requests.filter((e) => ok(e.status)));
        swap(
          body,
          h('p', { class: 'count', 'aria-live': 'polite' }, `${list.total} request${list.total === 1 ? '' : 's'}`),
          list.total ? h('ol', { class: 'entries', id: 'journal' }, list.shown.map(entryItem)) : h('p', { class: 'empty' }, 'No request matches.'),
          more(list, 'requests'),
        );
      },
    };
  },
};
