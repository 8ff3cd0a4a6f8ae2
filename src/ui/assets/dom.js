// Small DOM and formatting helpers shared by the views. No framework: elements are built with
// h() and a view's changing part is swapped whole, keeping focus and open <details> by data-key.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** h('p', {class: 'x', onclick: f, 'data-key': k}, 'text', child, [more]) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces a container's children; what had focus or was open (by data-key) stays so. */
export function swap(container, ...nodes) {
  const active = document.activeElement;
  const focusKey = active && container.contains(active) ? active.dataset.key : undefined;
  const open = new Set($$('details[open][data-key]', container).map((d) => d.dataset.key));
  container.replaceChildren(...nodes.flat().filter((n) => n != null && n !== false));
  for (const d of $$('details[data-key]', container)) if (open.has(d.dataset.key)) d.open = true;
  if (focusKey) container.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
}

/** A view's frame: its heading (focus lands there on navigation) and a body to swap. */
export function frame(id, title, intro) {
  const body = h('div', { class: 'view-body' });
  const section = h(
    'section',
    { id: `view-${id}`, class: 'view', 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, tabindex: '-1' }, title),
    intro ? h('p', { class: 'intro' }, intro) : null,
  );
  return { section, body };
}

/** A status badge: colour and text (never colour alone). */
export const badge = (status, kind = 'st') =>
  h('span', { class: `badge ${kind}-${String(status).replace(/[^A-Za-z0-9_]/g, '')}` }, status);

/** An amount with its currency, exactly as the API wrote it. */
export const money = (amount, currency) =>
  h('span', { class: 'money' }, h('span', { class: 'num' }, amount ?? '—'), ' ', currency ?? '');

/** `2026-12-04T04:41:33.120Z` → `2026-12-04 04:41:33 UTC` in a <time>. */
export function when(iso) {
  return iso ? h('time', { datetime: iso }, stamp(iso)) : '—';
}

export const stamp = (iso) => String(iso).replace('T', ' ').replace(/\.\d+/, '').replace(/Z$|\+00:00$/, ' UTC');

/** A duration in words: 100 s → `1 min 40 s`. */
export function span(ms) {
  let s = Math.round(Math.abs(ms) / 1000);
  const parts = [];
  for (const [n, unit] of [[86400, 'd'], [3600, 'h'], [60, 'min'], [1, 's']]) {
    if (s >= n || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(s / n)} ${unit}`);
      s %= n;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** `in 1 min 40 s` / `expired 20 s ago`, relative to the test clock; updated in place. */
export function relative(iso, now, past = 'ago') {
  const el = h('time', { datetime: iso, 'data-relative': past, title: iso });
  el.textContent = relativeText(iso, now, past);
  return el;
}

export function relativeText(iso, now, past) {
  const d = Date.parse(iso) - Date.parse(now);
  if (Number.isNaN(d)) return iso ?? '—';
  return d > 0 ? `in ${span(d)}` : `${past === 'ago' ? '' : past + ' '}${span(d)} ago`;
}

/** Refreshes every relative time in the page against the test clock's new reading. */
export function tickRelative(now) {
  for (const el of $$('time[data-relative]')) {
    const text = relativeText(el.dateTime, now, el.dataset.relative);
    if (el.textContent !== text) el.textContent = text;
  }
}

/** A token shortened for a table cell; the whole one stays in the title and for copying. */
export function short(token) {
  if (!token) return '—';
  const m = /^([a-z_]+_)?([0-9a-f]{8})[0-9a-f-]{28}$/.exec(token);
  return m ? `${m[1] ?? ''}${m[2]}…` : token;
}

/**
 * A table with a caption, in a scroller so a phone scrolls the table, not the page. A `stack`
 * table turns into one card per row on a narrow screen, each cell labelled by its header.
 */
export function table(caption, headers, rows, empty = 'Nothing yet.', cls = null) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  for (const tr of rows) [...tr.cells].forEach((c, i) => headers[i] && c.setAttribute('data-label', headers[i]));
  return h(
    'div',
    { class: 'scroll', role: 'region', 'aria-label': caption, tabindex: '0' },
    h(
      'table',
      { class: cls },
      h('caption', null, caption),
      h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, rows),
    ),
  );
}

/** A definition list from [term, value] pairs (values may be nodes). */
export const fields = (pairs, cls = 'fields') =>
  h('dl', { class: cls }, pairs.filter(([, v]) => v != null && v !== '').map(([t, v]) => [h('dt', null, t), h('dd', null, v)]));

/** A body as readable text: JSON pretty-printed, anything else as written. */
export function bodyText(body) {
  if (body == null) return '';
  if (typeof body !== 'string') return JSON.stringify(body, null, 2);
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

export const pre = (text, label) => h('pre', { class: 'body', tabindex: '0', 'aria-label': label }, text);

/** Newest first, at most `max` (a huge tenant must not freeze the page). */
export function newest(list, max = 500) {
  const all = list ?? [];
  return { shown: all.slice(-max).reverse(), total: all.length };
}

export const more = ({ shown, total }, what) =>
  total > shown.length ? h('p', { class: 'note' }, `Showing the newest ${shown.length} of ${total} ${what}.`) : null;
