// The controls beside every view: advance the test clock, arm and disarm scenarios, set a
// funding balance, reset the tenant. Each is one admin call, then a refresh of the view.

import { call } from './api.js';
import { $, $$, h, span, stamp } from './dom.js';

let ctx;
let bound = false;
/** While an arm/disarm call runs, polls do not overwrite the boxes the user just changed. */
let arming = false;

export function mount(c) {
  ctx = c;
  renderScenarios();
  if (bound) return;
  bound = true;
  for (const b of $$('[data-advance]')) b.addEventListener('click', () => advance(Number(b.dataset.advance)));
  $('#advance-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const seconds = Math.round(Number($('#advance-amount').value) * Number($('#advance-unit').value));
    if (seconds > 0) advance(seconds);
  });
  $('#disarm').addEventListener('click', () => arm([]));
  $('#balance-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const currency = $('#balance-currency').value;
    const balance = $('#balance-amount').value.trim();
    act(`${currency} balance set to ${balance}.`, () =>
      call('PUT', '/_sandbox/balance', { currency_code: currency, balance }),
    ).then((ok) => ok && ($('#balance-amount').value = ''));
  });
  const dialog = $('#reset-dialog');
  $('#reset').addEventListener('click', () => {
    dialog.returnValue = '';
    dialog.showModal();
  });
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'reset') {
      act('Tenant reset: back to the fixtures.', () => call('POST', '/_sandbox/reset'));
    }
    $('#reset').focus();
  });
}

/** Runs one admin call; says what happened (or the API's error) in the status line. */
async function act(done, fn) {
  try {
    const answer = await fn();
    ctx.announce(typeof done === 'function' ? done(answer) : done);
    await ctx.refresh();
    return true;
  } catch (e) {
    ctx.fail(e);
    return false;
  }
}

function advance(seconds) {
  act(
    (a) => `Test clock advanced by ${span(seconds * 1000)}, to ${a.now}.`,
    () => call('POST', '/_sandbox/clock/advance', { seconds }),
  );
}

async function arm(names) {
  arming = true;
  try {
    await act(
      names.length ? `Armed for this tenant: ${names.join(', ')}.` : 'No scenario armed for this tenant.',
      () => (names.length ? call('PUT', '/_sandbox/scenario', { scenarios: names }) : call('DELETE', '/_sandbox/scenario')),
    );
  } finally {
    arming = false;
  }
}

function renderScenarios() {
  const list = $('#scenario-list');
  const boxes = ctx.scenarios.map((s) => {
    const id = `scenario-${s.name}`;
    const input = h('input', {
      type: 'checkbox',
      id,
      value: s.name,
      checked: s.global,
      disabled: s.global,
      'aria-describedby': `${id}-about`,
    });
    input.addEventListener('change', () =>
      arm($$('input:checked:not(:disabled)', list).map((i) => i.value)),
    );
    return h(
      'div',
      { class: 'check' },
      input,
      h('label', { for: id }, h('code', null, s.name), s.global ? ' (--scenario: every request)' : ''),
      h('p', { id: `${id}-about`, class: 'about', title: s.description }, s.description),
    );
  });
  list.replaceChildren(list.querySelector('legend'), ...boxes);
  if (boxes.length === 0) list.append(h('p', { class: 'empty' }, 'This sandbox lists no scenarios.'));
}

/** Brings the controls' readings up to date without touching what the user is editing. */
export function update({ state }) {
  const clock = $('#clock-now');
  if (clock.dateTime !== state.clock) {
    clock.dateTime = state.clock;
    clock.textContent = stamp(state.clock);
  }
  if (!arming) {
    const armed = new Set(state.scenarios);
    for (const box of $$('#scenario-list input:not(:disabled)')) box.checked = armed.has(box.value);
  }
  const select = $('#balance-currency');
  const codes = state.balances.map((b) => b.currency_code);
  if ($$('option', select).map((o) => o.value).join() !== codes.join()) {
    const keep = select.value;
    select.replaceChildren(...codes.map((c) => h('option', { value: c }, c)));
    if (codes.includes(keep)) select.value = keep;
  }
  const current = state.balances.find((b) => b.currency_code === select.value);
  $('#balance-amount').placeholder = current ? String(current.balance) : '';
}
