// Overview: the tenant's funding balances, test clock and armed scenarios, and a count of what
// it holds (payouts by status, deliveries by state, journal entries).

import { badge, frame, h, money, span, stamp, swap, table } from './dom.js';

function counts(list, key) {
  const by = new Map();
  for (const x of list) by.set(x[key], (by.get(x[key]) ?? 0) + 1);
  return [...by].sort(([a], [b]) => String(a).localeCompare(String(b)));
}

export default {
  mount(ctx) {
    const { section, body } = frame('overview', 'Overview', null);
    const clock = h('time', { id: 'overview-clock' });
    const skew = h('span', { class: 'muted' });
    const clockCard = h('section', { class: 'card', 'aria-labelledby': 'ov-clock' }, h('h3', { id: 'ov-clock' }, 'Test clock'), h('p', { class: 'big' }, clock), h('p', null, skew));
    section.append(clockCard, body);
    let sig = '';
    return {
      section,
      needs: () => ({ requests: '', webhooks: true }),
      update({ state, requests, webhooks }) {
        if (clock.dateTime !== state.clock) {
          clock.dateTime = state.clock;
          clock.textContent = stamp(state.clock);
          const ahead = Date.parse(state.clock) - Date.now();
          skew.textContent = Math.abs(ahead) < 5000 ? 'In step with this computer’s clock.' : `${span(ahead)} ${ahead > 0 ? 'ahead of' : 'behind'} this computer’s clock.`;
        }
        const global = ctx.scenarios.filter((s) => s.global).map((s) => s.name);
        const next = JSON.stringify([state.balances, state.scenarios, global, counts(state.payouts, 'status'), state.users.length, requests, webhooks && counts(Array.isArray(webhooks) ? webhooks : [], 'state')]);
        if (next === sig) return;
        sig = next;
        const armed = [...global.map((n) => [n, 'every request (--scenario)']), ...state.scenarios.map((n) => [n, 'this tenant'])];
        const hooks = Array.isArray(webhooks) ? webhooks : [];
        const journal = Array.isArray(requests) ? requests : [];
        const last = journal.at(-1);
        swap(
          body,
          h(
            'section',
            { class: 'card', 'aria-labelledby': 'ov-balances' },
            h('h3', { id: 'ov-balances' }, 'Funding balances'),
            table(
              'Balance per currency',
              ['Currency', 'Balance', 'Funding account (source_token)'],
              state.balances.map((b) =>
                h('tr', { 'data-currency': b.currency_code }, h('th', { scope: 'row' }, b.currency_code), h('td', { class: 'n' }, money(b.balance, b.currency_code)), h('td', null, h('code', { title: b.token }, b.token))),
              ),
            ),
          ),
          h(
            'section',
            { class: 'card', 'aria-labelledby': 'ov-scenarios' },
            h('h3', { id: 'ov-scenarios' }, 'Active scenarios'),
            armed.length
              ? h('ul', { id: 'active-scenarios' }, armed.map(([n, scope]) => h('li', null, h('code', null, n), ` — ${scope}`)))
              : h('p', { id: 'active-scenarios', class: 'empty' }, 'None: the sandbox answers as the happy path would (magic amounts still apply).'),
          ),
          h(
            'section',
            { class: 'card', 'aria-labelledby': 'ov-activity' },
            h('h3', { id: 'ov-activity' }, 'Activity'),
            h(
              'ul',
              { class: 'plain' },
              h('li', null, h('a', { href: '#users' }, `${state.users.length} user${state.users.length === 1 ? '' : 's'}`), ` · ${state.attributes.length} attribute set${state.attributes.length === 1 ? '' : 's'}`),
              h('li', null, h('a', { href: '#payouts' }, `${state.payouts.length} payout${state.payouts.length === 1 ? '' : 's'}`), counts(state.payouts, 'status').map(([s, n]) => [' ', badge(s), ` ${n}`])),
              h('li', null, h('a', { href: '#webhooks' }, `${hooks.length} webhook deliver${hooks.length === 1 ? 'y' : 'ies'}`), counts(hooks, 'state').map(([s, n]) => [' ', badge(s, 'wh'), ` ${n}`])),
              h(
                'li',
                null,
                h('a', { href: '#requests' }, `${journal.length} journaled request${journal.length === 1 ? '' : 's'}`),
                last ? [' · last: ', h('code', null, `${last.method} ${last.path.length > 60 ? `${last.path.slice(0, 59)}…` : last.path}`), ` → ${last.status}`] : null,
              ),
            ),
          ),
        );
      },
    };
  },
};
