// Users: every user of the tenant with its stored fields, its wallets (MassPay's GET
// /wallet/{user_token}, fetched when asked: it is a journaled MassPay call) and its stored
// attributes, whose values are masked until revealed.

import { MASSPAY, call, describe } from './api.js';
import { badge, fields, frame, h, money, newest, more, short, swap, table, when } from './dom.js';

/** Attribute values shown in clear (attr_set_token/attribute token). */
const revealed = new Set();
/** Wallets fetched per user: an array, or {error}. */
const wallets = new Map();

const SKIP = new Set(['user_token', 'first_name', 'middle_name', 'last_name', 'email', 'status', 'created_on']);

function attributeSets(sets, rerender) {
  if (sets.length === 0) return h('p', { class: 'empty' }, 'No attribute stored.');
  return sets.map((s) =>
    table(
      `${s.destination_token} · ${s.currency}`,
      ['Attribute', 'Value', ''],
      s.values.map((v) => {
        const key = `${s.attr_set_token}/${v.token}`;
        const open = revealed.has(key);
        return h(
          'tr',
          null,
          h('th', { scope: 'row' }, v.label),
          h('td', { class: 'secret' }, open ? h('code', null, v.value) : h('span', { 'aria-label': 'hidden value' }, '•'.repeat(Math.min(12, Math.max(4, v.value.length))))),
          h('td', null, h('button', {
            type: 'button',
            class: 'reveal',
            'data-key': `reveal|${key}`,
            'aria-pressed': String(open),
            'aria-label': `${open ? 'Hide' : 'Reveal'} ${v.label}`,
            onclick: () => {
              if (open) revealed.delete(key);
              else revealed.add(key);
              rerender();
            },
          }, open ? 'Hide' : 'Reveal')),
        );
      }),
    ),
  );
}

function walletList(u, rerender) {
  const w = wallets.get(u.user_token);
  const load = async () => {
    try {
      wallets.set(u.user_token, await call('GET', `${MASSPAY}/wallet/${u.user_token}`));
    } catch (e) {
      wallets.set(u.user_token, { error: describe(e) });
    }
    rerender();
  };
  return [
    h('p', null,
      h('button', { type: 'button', 'data-key': `wallets|${u.user_token}`, onclick: load }, w ? 'Reload wallets' : 'Show wallets'),
      h('small', { class: 'muted' }, ` GET ${MASSPAY}/wallet/{user_token}: a MassPay call, so it shows in the journal.`)),
    !w
      ? null
      : w.error
        ? h('p', { class: 'error' }, w.error)
        : table(
            `Wallets of ${u.first_name} ${u.last_name}`,
            ['Currency', 'Balance', 'Type', 'Wallet', 'Active'],
            w.map((x) => h('tr', null, h('th', { scope: 'row' }, x.currency_code), h('td', { class: 'n' }, money(x.balance, x.currency_code)), h('td', null, x.type, x.last_4 ? ` ${x.card_type ?? ''} …${x.last_4}` : ''), h('td', null, h('code', { title: x.token }, short(x.token))), h('td', null, x.active ? 'yes' : 'no'))),
            'No wallet.',
          ),
  ];
}

function userItem(u, sets, rerender) {
  return h(
    'li',
    { 'data-user': u.user_token },
    h(
      'details',
      { 'data-key': u.user_token },
      h(
        'summary',
        { 'data-key': `s|${u.user_token}` },
        h('strong', null, [u.first_name, u.middle_name, u.last_name].filter(Boolean).join(' ')),
        ` ${u.email} · ${u.country} `,
        badge(u.status, 'user'),
        h('span', { class: 'muted' }, ` · ${short(u.user_token)} · ${sets.length} attribute set${sets.length === 1 ? '' : 's'}`),
      ),
      fields([
        ['User token', h('code', null, u.user_token)],
        ['Created', when(u.created_on)],
        ...Object.entries(u)
          .filter(([k]) => !SKIP.has(k))
          .map(([k, v]) => [k, typeof v === 'object' && v !== null ? h('code', null, JSON.stringify(v)) : String(v)]),
      ]),
      h('h4', null, 'Wallets'),
      walletList(u, rerender),
      h('h4', null, 'Stored attributes'),
      attributeSets(sets, rerender),
    ),
  );
}

export default {
  mount(ctx) {
    const { section, body } = frame(
      'users',
      'Users',
      'Users of this tenant, newest first, with their wallets and stored attributes (values hidden until revealed).',
    );
    const revealAll = h('button', { type: 'button', id: 'reveal-all', 'aria-pressed': 'false' }, 'Reveal all values');
    section.append(h('p', null, revealAll), body);
    let sig = '';
    let last = null;
    const rerender = () => {
      sig = '';
      if (last) this_.update(last);
    };
    revealAll.addEventListener('click', () => {
      const all = revealAll.getAttribute('aria-pressed') !== 'true';
      revealAll.setAttribute('aria-pressed', String(all));
      revealAll.textContent = all ? 'Hide all values' : 'Reveal all values';
      revealed.clear();
      if (all && last) for (const s of last.state.attributes) for (const v of s.values) revealed.add(`${s.attr_set_token}/${v.token}`);
      rerender();
    });
    const this_ = {
      section,
      needs: () => ({}),
      update(data) {
        last = data;
        const { state } = data;
        const next = JSON.stringify([state.users, state.attributes, [...revealed], [...wallets]]);
        if (next === sig) return;
        sig = next;
        const list = newest(state.users);
        swap(
          body,
          list.total
            ? h('ol', { class: 'entries', id: 'user-list' }, list.shown.map((u) => userItem(u, state.attributes.filter((s) => s.user_token === u.user_token), rerender)))
            : h('p', { class: 'empty' }, 'No user yet. Create one through the MassPay API (POST /user).'),
          more(list, 'users'),
        );
      },
    };
    return this_;
  },
};
