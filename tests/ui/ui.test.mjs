// The dashboard in a real browser (issue 15). `run.sh` starts the sandbox with `--api-key` and
// hands over SANDBOX_URL, DASHBOARD_URL, UI_API_KEY, CHROMIUM (or FIREFOX) and SCREENSHOTS. The steps run in
// order on one page, as a person would use it: sign in (a wrong key first), subscribe webhooks,
// drive the guide's payout flow through the API and find it in the page, advance the clock from
// the page until a quote expires, arm `insufficient_funds` from the page and see the next commit
// answer `nsf`, resend a webhook, set a balance, reveal an attribute, filter the journal, take a
// screenshot of every view (desktop and phone), then reset the tenant through its confirmation.
// Any console error or uncaught exception in the page (a CSP violation included) fails the run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const BASE = process.env.SANDBOX_URL;
const DASHBOARD = process.env.DASHBOARD_URL;
const KEY = process.env.UI_API_KEY;
const SHOTS = process.env.SCREENSHOTS;
const V = `${BASE}/v0.1.4`;
/** UI_BROWSER=firefox runs the same steps in Firefox (WebDriver BiDi), when one is installed. */
const FIREFOX = process.env.UI_BROWSER === 'firefox' ? process.env.FIREFOX : null;

const USD_SOURCE = 'clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574';
const BTC_DESTINATION = 'dst_d2138fd0-00be-45a8-985f-4f5bde500962';
const BTC_WALLET_ATTR = 'attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c';
const BTC_ADDRESS = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';
/** Changes made through the API must show in the page within a second (plus slack for a loaded
 * two-core CI machine running Chromium beside the sandbox). */
const LIVE_MS = 1500;

async function api(method, url, body) {
  const r = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, body: text ? JSON.parse(text) : null };
}

async function initiate(user, amount) {
  const a = await api('POST', `${V}/payout/${user}`,
    `{"source_currency_code":"USD","destination_currency_code":"BTC","source_token":"${USD_SOURCE}",` +
    `"destination_token":"${BTC_DESTINATION}","source_amount":${amount}}`);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.body.status, 'PENDING', a.text);
  return a.body;
}

const commit = (user, payout) => api('PUT', `${V}/payout/${user}/${payout}`);

/** A webhook receiver on the loopback: remembers every POST, answers 200. */
function receiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ body, signature: req.headers['x-masspay-signature'] });
      res.end('ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, got, url: `http://127.0.0.1:${server.address().port}/hooks` })));
}

async function until(what, fn, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the dashboard at /_sandbox/ui', () => {
  let browser;
  let page;
  let hooks;
  const problems = [];
  let user;
  let seed;

  const text = (sel) => page.$eval(sel, (el) => el.textContent.trim());
  const go = async (view) => {
    await page.evaluate((v) => (location.hash = v), view);
    await page.waitForSelector(`#view-${view.split('/')[0]}:not([hidden])`);
  };
  /** Waits until the page shows what `fn` (run in the page) looks for; returns elapsed ms. */
  const shows = async (what, fn, arg, ms = 5000) => {
    const t0 = Date.now();
    try {
      await page.waitForFunction(fn, { timeout: ms, polling: 50 }, arg);
    } catch {
      assert.fail(`the page did not show ${what} within ${ms} ms`);
    }
    return Date.now() - t0;
  };
  /** A real click; retried when a poll re-rendered the element between finding and clicking. */
  const click = async (sel) => {
    for (let i = 0; ; i++) {
      try {
        return await page.click(sel);
      } catch (e) {
        if (i === 5 || !/detached|not clickable|No node found/.test(e.message)) throw e;
      }
    }
  };
  const rowText = (token) => page.$eval(`tr[data-payout="${token}"]`, (tr) => [...tr.cells].map((c) => c.textContent.trim()));
  const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

  before(async () => {
    assert.ok(BASE && DASHBOARD && KEY && SHOTS, 'run this through run.sh');
    hooks = await receiver();
    browser = await puppeteer.launch(
      FIREFOX
        ? { browser: 'firefox', executablePath: FIREFOX, headless: true }
        : { executablePath: process.env.CHROMIUM, headless: true, args: ['--no-sandbox', '--headless=new', '--disable-dev-shm-usage'] },
    );
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('request', (r) => /^(blob|data):/.test(r.url()) || r.url().startsWith(`${BASE}/`) || problems.push(`request elsewhere: ${r.url()}`));
  });

  after(async () => {
    await browser?.close();
    hooks?.server.close();
  });

  test('the start-up output names the dashboard, whose page loads without a key', async () => {
    assert.equal(DASHBOARD, `${BASE}/_sandbox/ui`);
    const r = await page.goto(DASHBOARD, { waitUntil: 'load' });
    assert.equal(r.status(), 200);
    await page.waitForSelector('#key');
    assert.equal(await page.$eval('#nav', (n) => n.hidden), true);
  });

  test('a wrong key gets the API 401 in the page; the right one opens the tenant', async () => {
    await page.type('#key', 'not-the-key');
    await page.keyboard.press('Enter');
    await shows('the 401', () => /401 Unauthorized\./.test(document.querySelector('#login-error').textContent));
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    // A 401 is an expected answer here, not a page problem.
    problems.length = 0;

    await page.type('#key', KEY);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#nav:not([hidden])');
    await shows('the balances', () => document.querySelector('tr[data-currency="USD"]')?.textContent.includes('250000'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('masspay-sandbox-key')), KEY);
    // The scenarios the sandbox ships are offered.
    const offered = await page.$$eval('#scenario-list input', (xs) => xs.map((x) => x.value));
    assert.ok(offered.includes('insufficient_funds') && offered.includes('server_error'), offered.join());
  });

  test('the views are reachable by keyboard, and focus follows the navigation', async () => {
    await page.evaluate(() => document.activeElement?.blur());
    let reached = false;
    for (let i = 0; i < 15 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.getAttribute('href') === '#payouts');
    }
    assert.ok(reached, 'Tab never reached the Payouts link');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#view-payouts:not([hidden])');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'payouts-title');
    assert.equal(await page.$eval('a[href="#payouts"]', (a) => a.getAttribute('aria-current')), 'page');
  });

  test('webhooks are subscribed from the page', async () => {
    await go('webhooks');
    await page.type('#hook-url', hooks.url);
    await click('#view-webhooks form button:not([type])');
    await shows('the subscription', () => document.querySelector('#status').textContent.includes('now go to'));
  });

  test('the guide’s flow through the API: the payout shows with its status and amounts, live', async (t) => {
    await go('payouts');
    const u = await api('POST', `${V}/user`, {
      internal_user_id: '4324-rOzk', country: 'USA', first_name: 'John', last_name: 'Doe',
      email: 'jdoe@gmail.com', language: 'en', mobile_number: '16502000226',
    });
    assert.equal(u.status, 200, u.text);
    user = u.body.user_token;
    const attrs = await api('POST', `${V}/attribute/${user}/${BTC_DESTINATION}/BTC`, { values: [{ token: BTC_WALLET_ATTR, value: BTC_ADDRESS }] });
    assert.equal(attrs.status, 200, attrs.text);
    seed = await initiate(user, '100.5');
    const c = await commit(user, seed.payout_token);
    assert.equal(c.body.status, 'success', c.text);

    const ms = await shows('the COMPLETED payout', (t) => document.querySelector(`tr[data-payout="${t}"] .badge`)?.textContent === 'COMPLETED', seed.payout_token);
    assert.ok(ms <= LIVE_MS, `shown after ${ms} ms`);
    t.diagnostic(`the committed payout showed ${ms} ms after the commit's answer`);
    const [, status, source, destination, fee, rate, , who, where] = await rowText(seed.payout_token);
    assert.equal(status, 'COMPLETED');
    assert.equal(source, '100.5 USD');
    assert.equal(destination, `${seed.destination_amount} BTC`);
    assert.equal(fee, '2.99 USD');
    assert.equal(rate, String(seed.exchange_rate));
    assert.match(who, /^John Doe/);
    assert.match(where, /MEX · CRYPTOCURRENCY/);
    // The colour is the status's own.
    const colour = await page.$eval(`tr[data-payout="${seed.payout_token}"] .badge`, (b) => getComputedStyle(b).backgroundColor);
    assert.equal(colour, 'rgb(220, 245, 227)');

    await go('overview');
    await shows('the debited balance', () => document.querySelector('tr[data-currency="USD"]')?.textContent.includes('249896.51'));
  });

  test('a payout’s detail: status history, its requests, its webhooks, the PDF', async () => {
    await go('payouts');
    await click(`tr[data-payout="${seed.payout_token}"] th a`);
    await page.waitForSelector('#payout-detail');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'payout-detail-title');
    await shows('the history', () => {
      const h = document.querySelector('#payout-history')?.textContent ?? '';
      return h.includes('PENDING') && h.includes('COMPLETED');
    });
    await shows('its commit in the journal', (t) => [...document.querySelectorAll('#payout-detail .path')].some((p) => p.textContent.endsWith(t)), seed.payout_token);
    await shows('its two webhook deliveries', () => document.querySelectorAll('#payout-detail [data-delivery]').length >= 2);

    await click('#open-pdf');
    // A new tab on the PDF's blob: URL (Firefox opens it on about:blank first).
    const target = await browser.waitForTarget((t) => t.url().startsWith('blob:'), { timeout: 5000 });
    assert.match(target.url(), /^blob:http:\/\/127\.0\.0\.1:\d+\//);
    await (await target.page())?.close();
    // The dashboard's tab is in front again (a hidden tab does not poll).
    await page.bringToFront();
    await page.waitForSelector('#pdf-link');
    const head = await page.$eval('#pdf-link', async (a) => {
      const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
      return { start: String.fromCharCode(...bytes.slice(0, 5)), size: bytes.length };
    });
    assert.equal(head.start, '%PDF-');
    assert.ok(head.size > 500, `${head.size} bytes`);
    await shot('payout-detail');
  });

  test('advancing the clock from the page expires a quote', async () => {
    const p = await initiate(user, '20');
    await go('payouts');
    await shows('the PENDING payout', (t) => document.querySelector(`tr[data-payout="${t}"] .badge`)?.textContent === 'PENDING', p.payout_token);
    assert.match((await rowText(p.payout_token))[6], /^in 1 min 5\d s$|^in 2 min$/);
    const before = await page.$eval('#clock-now', (t) => t.dateTime);

    await click('button[data-advance="120"]');
    await shows('the CANCELLED payout', (t) => document.querySelector(`tr[data-payout="${t}"] .badge`)?.textContent === 'CANCELLED', p.payout_token);
    assert.match((await rowText(p.payout_token))[6], /^expired \d+ s ago$/);
    const now = await page.$eval('#clock-now', (t) => t.dateTime);
    const moved = Date.parse(now) - Date.parse(before);
    assert.ok(moved >= 120_000 && moved < 150_000, `the clock moved ${moved} ms`);
    const s = await api('GET', `${V}/payout/${user}/${p.payout_token}`);
    assert.equal(s.body.status, 'CANCELLED', s.text);
    const c = await commit(user, p.payout_token);
    assert.equal(c.body.status, 'ex_rate_expired', c.text);
  });

  test('arming insufficient_funds from the page makes the next commit answer nsf; disarming undoes it', async () => {
    await go('overview');
    await click('#scenario-insufficient_funds');
    await until('the scenario armed', async () => (await api('GET', `${BASE}/_sandbox/state`)).body.scenarios.includes('insufficient_funds'));
    await shows('it in the overview', () => document.querySelector('#active-scenarios').textContent.includes('insufficient_funds'));
    const p = await initiate(user, '30');
    const c = await commit(user, p.payout_token);
    assert.equal(c.body.status, 'nsf', c.text);
    const s = await api('GET', `${V}/payout/${user}/${p.payout_token}`);
    assert.equal(s.body.status, 'PENDING', s.text);

    await click('#scenario-insufficient_funds');
    await until('the scenario disarmed', async () => (await api('GET', `${BASE}/_sandbox/state`)).body.scenarios.length === 0);
    await shows('no scenario in the overview', () => !document.querySelector('#active-scenarios').textContent.includes('insufficient_funds'));
    assert.equal((await commit(user, p.payout_token)).body.status, 'success');
  });

  test('a webhook is resent from the page', async () => {
    await until('the first deliveries', () => hooks.got.length >= 2);
    await go('webhooks');
    await shows('the deliveries', () => document.querySelectorAll('#deliveries > li').length >= 2);
    const count = await page.$$eval('#deliveries > li', (l) => l.length);
    const received = hooks.got.length;
    const first = await page.$eval('#deliveries > li:last-child', (li) => li.dataset.delivery);
    const logged = (await api('GET', `${BASE}/_sandbox/webhooks`)).body.find((d) => d.id === first);

    await click(`li[data-delivery="${first}"] summary`);
    await click(`li[data-delivery="${first}"] button.resend`);
    await shows('one more delivery', (n) => document.querySelectorAll('#deliveries > li').length === n + 1, count);
    await until('the resent body at the receiver', () => hooks.got.length > received && hooks.got.slice(received).some((g) => g.body === logged.body));
    await shows('the new delivery delivered', () => document.querySelector('#deliveries > li:first-child')?.dataset.state === 'delivered');
    // The opened delivery stayed open through the re-render.
    assert.equal(await page.$eval(`li[data-delivery="${first}"] details`, (d) => d.open), true);
    assert.match(await text(`li[data-delivery="${first}"] table`), /200/);
  });

  test('a funding balance is set from the page', async () => {
    await page.select('#balance-currency', 'USD');
    await page.type('#balance-amount', '1000.25');
    await click('#balance-form button');
    await until('the new balance', async () => {
      const b = await api('GET', `${V}/account/balance`);
      return b.body.find((x) => x.currency_code === 'USD').balance === 1000.25;
    });
    await go('overview');
    await shows('it in the overview', () => document.querySelector('tr[data-currency="USD"]').textContent.includes('1000.25'));
  });

  test('users: attribute values are masked until revealed; wallets on request', async () => {
    await go('users');
    await click(`li[data-user="${user}"] summary`);
    const hidden = await text(`li[data-user="${user}"] td.secret`);
    assert.ok(!hidden.includes(BTC_ADDRESS) && hidden.includes('•'), hidden);
    await click(`li[data-user="${user}"] button.reveal`);
    await shows('the revealed address', (u) => document.querySelector(`li[data-user="${u}"] td.secret`).textContent === 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', user);
    assert.equal(await page.$eval(`li[data-user="${user}"] button.reveal`, (b) => b.getAttribute('aria-pressed')), 'true');
    await click(`li[data-user="${user}"] button[data-key^="wallets|"]`);
    await shows('the wallets', (u) => document.querySelector(`li[data-user="${u}"] table caption`)?.textContent.startsWith('Wallets'), user);
  });

  test('requests: the journal newest first, filtered by method, path and status, with bodies where kept', async () => {
    await go('requests');
    await shows('the journal', () => document.querySelectorAll('#journal > li').length > 5);
    const all = await page.$$eval('#journal .path', (ps) => ps.map((p) => p.textContent));
    assert.match(all[0], /\/wallet\//, 'the newest (the wallet call) comes first');
    await page.select('#req-method', 'PUT');
    await shows('only PUTs', () => [...document.querySelectorAll('#journal .method')].every((m) => m.textContent === 'PUT'));
    await page.type('#req-path', seed.payout_token);
    await shows('one PUT', () => document.querySelectorAll('#journal > li').length === 1);
    await page.select('#req-method', '');
    await page.click('#req-path', { count: 3 });
    await page.keyboard.press('Backspace');
    await page.type('#req-status', '4xx');
    await shows('no 4xx', () => document.querySelector('#view-requests .empty')?.textContent === 'No request matches.');
    await page.click('#req-status', { count: 3 });
    await page.keyboard.press('Backspace');
    await shows('the whole journal again', () => document.querySelectorAll('#journal > li').length > 5);
    await click('#journal > li:first-child summary');
    const opened = await text('#journal > li:first-child details');
    const entry = (await api('GET', `${BASE}/_sandbox/requests`)).body.at(-1);
    if ('response_body' in entry) assert.match(opened, /Answer/);
    else assert.match(opened, /no bodies/);
  });

  test('every view, at 1280×800 and at a phone’s width, without sideways scrolling', async () => {
    for (const view of ['overview', 'payouts', 'users', 'requests', 'webhooks']) {
      await go(view);
      await new Promise((r) => setTimeout(r, 300));
      await shot(`${view}-1280`);
    }
    await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
    for (const view of ['overview', 'payouts', `payouts/${seed.payout_token}`, 'webhooks']) {
      await go(view);
      await new Promise((r) => setTimeout(r, 300));
      const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(scroll <= width, `${view}: the page is ${scroll} px wide in a ${width} px window`);
      await shot(`${view.split('/')[0]}${view.includes('/') ? '-detail' : ''}-phone`);
    }
    await page.setViewport({ width: 1280, height: 800 });
  });

  test('reset asks first; cancelling keeps everything, confirming empties the tenant', async () => {
    await go('payouts');
    await click('#reset');
    await page.waitForSelector('#reset-dialog[open]');
    await shot('reset-dialog');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#reset-dialog:not([open])');
    assert.ok((await api('GET', `${BASE}/_sandbox/state`)).body.payouts.length === 3, 'cancel reset nothing');

    await click('#reset');
    await click('#reset-confirm');
    await shows('no payout left', () => document.querySelector('#view-payouts .empty')?.textContent.startsWith('No payout yet'));
    const state = (await api('GET', `${BASE}/_sandbox/state`)).body;
    assert.deepEqual([state.users.length, state.payouts.length, state.scenarios.length], [0, 0, 0]);
    await go('overview');
    await shows('the initial balance', () => document.querySelector('tr[data-currency="USD"]').textContent.includes('250000'));
  });

  test('the page logged no error and loaded nothing from elsewhere', async () => {
    assert.deepEqual(problems, []);
  });
});
