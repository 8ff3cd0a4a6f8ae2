// Contract test: MassPay's official JavaScript SDK, masspay-js-sdk 2.0.0 (API 1.0.0), unchanged,
// against masspay-sandbox. Run with `node --test` from this directory (or `bash run.sh`).
//
// The test starts the sandbox binary itself (env SANDBOX_BIN, else ../../target/release/…, else
// ../../target/debug/…) on a free port, points the SDK at http://HOST:PORT/v1.0.0 and:
//   1. runs the crypto payout flow (balance → user → cheapest → attributes → initiate → commit →
//      status → balance) and checks the money to the cent;
//   2. calls every operation the SDK defines (SDK_OPERATIONS below, checked against the SDK's own
//      services) with valid arguments and checks the answer's shape against the SDK's typings;
//   3. drives the failure paths a client must handle (magic amounts, 404/400/401 errors).
// Every test gets its own API key, so its own tenant: tests never see each other's state.
//
// An operation the sandbox does not serve fails its test, with the sandbox's answer in the message
// and in the summary printed at the end. SDK_TODO=Service.method,… turns the listed operations'
// tests into node:test TODO tests: they still run and are reported, but do not fail the run.
// SDK_REPORT=FILE also writes the summary (JSON) to FILE.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sdkPackage from 'masspay-js-sdk';

const { MasspayJsSdk, ApiError } = sdkPackage;
const HERE = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// Every operation masspay-js-sdk 2.0.0 defines: its 12 services and 46 methods, in the order of
// the SDK's README table (dist/src/services/*Service.d.ts). A test below checks this list against
// the SDK's service prototypes, so an SDK upgrade that adds or drops a method is noticed.
// ---------------------------------------------------------------------------------------------
export const SDK_OPERATIONS = {
  AccountService: ['getAccountBalance', 'getAccountStatement'],
  AttributeService: ['getAllAttrs', 'storeAttrs', 'getAttrs'],
  CardService: ['getWalletCardInfo', 'updateWalletCardInfo'],
  CatalogService: [
    'getCountryList',
    'getCountryServices',
    'getCheapestCountryServices',
    'getDestinationTokenAlternatives',
    'getDestinationToken',
    'getUserAgreement',
    'getUserAgreementsNames',
  ],
  KycService: [
    'findAttributesVelocity',
    'getUserUserTokenKycAu10Tix',
    'uploadIdPhotos',
    'getUserUserTokenKycAttempts',
    'getUserUserTokenKycVeriff',
  ],
  LoadService: [
    'resendBalanceNotification',
    'loadUser',
    'getUserLoadsByToken',
    'resendLoadNotification',
    'cancelUserLoad',
  ],
  PayoutService: [
    'initiatePayout',
    'getUserPayoutsByToken',
    'commitPayoutTxn',
    'getPayoutStatus',
    'getTransactionConfirmationDetails',
  ],
  SpendBackService: ['getUserSpendbacksByToken', 'initiateSpendback'],
  SubaccountService: ['createSubaccount', 'getSubaccountSubaccountTokenUbo', 'uploadSubaccountUboId'],
  TaxService: ['getTaxUsers', 'getTaxInterviewLink'],
  UserService: [
    'createUser',
    'getUserByToken',
    'updateUser',
    'userLookup',
    'getUserHistory',
    'getAllUsersHistory',
  ],
  WalletService: ['getWallet', 'getAutopayoutRules', 'createAutopayoutRule', 'deleteAutopayoutRule'],
};

// Fixture constants the sandbox serves identically in every tenant (README, fixtures/).
const USD_FUNDING = 'clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574';
const BTC_DESTINATION = 'dst_d2138fd0-00be-45a8-985f-4f5bde500962';
const BTC_WALLET_ATTR = 'attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c';
const BTC_ADDRESS = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';
// A tiny PNG (1×1), base64: what the ID-upload operations carry.
const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
// MassPay's fixed 404 sentence (reference §0.5; the SDK's Error404 model enumerates it).
const NOT_FOUND_MESSAGE =
  'The requested resource was not found. Please ensure that the URL for the request is correct and that the requested resource exists.';

const RUN = randomUUID().slice(0, 8);

// Bodies for the sub-account operations (CreateSubaccountTxn, AddUBORequest).
const SUBACCOUNT = {
  company_name: 'Acme Payouts LLC',
  phone: '16502000226',
  inc_date: '2015-06-01',
  registration_number: '12-3456789',
  website: 'https://acme.example.com',
  legal_structure: 'LLC',
  address1: '2000 main st',
  state: 'CA',
  city: 'Santa Monica',
  zip: '90405',
  country: 'USA',
  industry: 'General',
  signer: { first_name: 'John', last_name: 'Doe', email: 'jdoe@gmail.com', dob: '1975-03-24' },
};
const UBO = {
  ownership_percentage: 60,
  phone: '16502000226',
  first_name: 'Jane',
  last_name: 'Doe',
  email: 'jane.doe@example.com',
  dob: '1978-11-02',
  tax_id: '123456789',
  address1: '2000 main st',
  city: 'Santa Monica',
  state: 'CA',
  zip: '90405',
  country: 'USA',
};

// ---------------------------------------------------------------------------------------------
// The sandbox process
// ---------------------------------------------------------------------------------------------
let sandbox; // { child, origin, stderr }

function sandboxBinary() {
  if (process.env.SANDBOX_BIN) return path.resolve(process.env.SANDBOX_BIN);
  const candidates = ['../../target/release/masspay-sandbox', '../../target/debug/masspay-sandbox'].map(
    (p) => path.resolve(HERE, p),
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `no sandbox binary: set SANDBOX_BIN or run \`cargo build --release\` (looked for ${candidates.join(', ')})`,
    );
  }
  return found;
}

function startSandbox() {
  const bin = sandboxBinary();
  // A MASSPAY_SANDBOX_* variable from the caller's shell (a global scenario, a key list, a port)
  // would change what this test sees: start from a clean slate, keeping only the log level.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('MASSPAY_SANDBOX_') || k === 'MASSPAY_SANDBOX_LOG',
    ),
  );
  const child = spawn(bin, ['--host', '127.0.0.1', '--port', '0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin} printed no "listening on" line within 15 s; stderr: ${stderr}`));
    }, 15_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.resume();
        resolve({ child, origin: m[1].replace(/\/$/, ''), get stderr() { return stderr; } });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${bin}: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited (code ${code}, signal ${signal}) before listening; stderr: ${stderr}`));
    });
  });
}

async function stopSandbox() {
  if (!sandbox) return;
  const { child } = sandbox;
  if (child.exitCode !== null || child.signalCode !== null) {
    process.stderr.write(
      `\nthe sandbox exited during the run (code ${child.exitCode}, signal ${child.signalCode}); its stderr:\n${sandbox.stderr}\n`,
    );
    return;
  }
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// A trace of every HTTP exchange the SDK makes (it calls the global fetch at request time).
// ---------------------------------------------------------------------------------------------
const trace = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init = {}) => {
  const res = await realFetch(url, init);
  trace.push({
    method: init.method ?? 'GET',
    url: String(url),
    requestHeaders: Object.fromEntries(new Headers(init.headers).entries()),
    requestBody: typeof init.body === 'string' ? init.body : undefined,
    status: res.status,
    responseHeaders: Object.fromEntries(res.headers.entries()),
  });
  return res;
};

function pathOf(url) {
  const u = new URL(url);
  return u.pathname + u.search;
}

// ---------------------------------------------------------------------------------------------
// SDK instances: one API key (one tenant) per test.
// ---------------------------------------------------------------------------------------------
function apiKey(label) {
  return `sdk-contract-${label}-${RUN}`;
}

function newSdk(label, key = apiKey(label)) {
  return new MasspayJsSdk({ BASE: `${sandbox.origin}/v1.0.0`, AUTHORIZER_NAME_API_KEY: key });
}

/** The sandbox's admin API (not part of the SDK): used only to read the tenant's test clock. */
async function admin(label, method, p) {
  const res = await realFetch(`${sandbox.origin}/_sandbox${p}`, {
    method,
    headers: { Authorization: apiKey(label) },
  });
  const text = await res.text();
  assert.ok(res.ok, `admin ${method} ${p} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Shapes: the SDK's typings (dist/src/models/*.d.ts) as runtime checks. A field without `?` in
// the typings is required; an optional one, when present, must still have the right JS type.
// ---------------------------------------------------------------------------------------------
class Opt {
  constructor(spec) {
    this.spec = spec;
  }
}
class Enum {
  constructor(values) {
    this.values = values;
  }
}
class ArrayOf {
  constructor(spec) {
    this.spec = spec;
  }
}
const opt = (spec) => new Opt(spec);
const oneOf = (...values) => new Enum(values);
const arrayOf = (spec) => new ArrayOf(spec);

function show(v) {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

/**
 * What the shape checks of the running test saw besides failures: fields the SDK's typings do not
 * declare (harmless to the SDK, which passes them through) and empty arrays (whose item shape went
 * unchecked). Reported per operation in the summary.
 */
let observed = { undeclared: new Set(), empty: new Set() };

function checkShape(value, spec, at = 'response') {
  if (spec instanceof Opt) {
    if (value === undefined) return;
    checkShape(value, spec.spec, at);
    return;
  }
  if (spec instanceof Enum) {
    assert.ok(spec.values.includes(value), `${at}: ${show(value)} is not one of ${spec.values.join(' | ')}`);
    return;
  }
  if (spec instanceof ArrayOf) {
    assert.ok(Array.isArray(value), `${at}: expected an array, got ${show(value)}`);
    if (value.length === 0) observed.empty.add(at);
    value.forEach((item, i) => checkShape(item, spec.spec, `${at}[${i}]`));
    return;
  }
  if (typeof spec === 'string') {
    switch (spec) {
      case 'integer':
        assert.ok(Number.isInteger(value), `${at}: expected an integer, got ${show(value)}`);
        return;
      case 'object':
        assert.ok(
          value !== null && typeof value === 'object' && !Array.isArray(value),
          `${at}: expected an object, got ${show(value)}`,
        );
        return;
      case 'any':
        return;
      default:
        assert.equal(typeof value, spec, `${at}: expected a ${spec}, got ${show(value)}`);
        return;
    }
  }
  assert.ok(
    value !== null && typeof value === 'object' && !Array.isArray(value),
    `${at}: expected an object, got ${show(value)}`,
  );
  for (const key of Object.keys(value)) {
    if (!(key in spec)) observed.undeclared.add(`${at.replace(/\[\d+\]/g, '[]')}.${key}`);
  }
  for (const [key, fieldSpec] of Object.entries(spec)) {
    if (!(fieldSpec instanceof Opt)) {
      assert.ok(key in value, `${at}.${key}: required by the SDK's typings but missing in ${show(value)}`);
    }
    checkShape(value[key], fieldSpec, `${at}.${key}`);
  }
}

const PAYOUT_STATUS = oneOf('PENDING', 'PROCESSING', 'COMPLETED', 'CANCELLED', 'SCHEDULED', 'READY_FOR_PICKUP', 'HOLD', 'ERROR');
const DELIVERY_TYPE = oneOf('CASH_PICKUP', 'BANK_DEPOSIT', 'HOME_DELIVERY', 'MOBILE_WALLET', 'MASSPAY_CARD', 'PAPER_CHECK', 'BILL', 'CRYPTOCURRENCY');
const COMMIT_STATUS = oneOf('success', 'failure', 'addtl_attr_req', 'ex_rate_expired', 'nsf');
const ATTR_TYPE = oneOf(
  'CardNumber', 'BankAccountType', 'BankAccountNumber', 'BankAccountBranchNumber', 'BankName', 'PhoneNumber',
  'Gender', 'IdentificationNumber', 'BillReferenceNumber', 'BankRoutingNumber', 'BankAccountName', 'MaidenName',
  'SocialSecurity', 'EmploymentName', 'EmploymentAddress', 'EmploymentPhone', 'EmploymentOccupation',
  'EmploymentSupervisor', 'RemittanceReason', 'Relationship', 'SecondLastName', 'SWIFT', 'BirthCountry',
  'SourceOfFunds', 'DateOfBirth', 'CardExpiration', 'CardZip', 'IdentificationType', 'BankCity', 'BankState',
  'IDSelfieCollection', 'City', 'Country', 'IdentificationExpiration', 'Address1', 'IFramePaymentCollection',
);
const LOAD_STATUS = oneOf('COMPLETED', 'CANCELLED', 'SCHEDULED');
const PAYER_RATE = { currency_symbol: 'string', exchange_rate: 'number' };

const SHAPES = {};
SHAPES.AvailableBalanceTxnResp = { token: 'string', balance: 'number', currency_code: 'string' };
SHAPES.StoredUser = {
  user_token: 'string',
  status: oneOf('ACTIVE', 'LOCKED', 'DEACTIVE'),
  created_on: 'string',
  internal_user_id: 'string',
  address1: opt('string'),
  address2: opt('string'),
  city: opt('string'),
  state_province: opt('string'),
  postal_code: opt('string'),
  country: opt('string'),
  first_name: 'string',
  middle_name: opt('string'),
  last_name: 'string',
  email: 'string',
  language: opt('string'),
  mobile_number: opt('string'),
  business_name: opt('string'),
  timezone: 'string',
  date_of_birth: opt('string'),
  metadata: opt('object'),
  activation_url: opt('string'),
};
SHAPES.FoundUser = { user_token: 'string', first_name: 'string', last_name: 'string', internal_user_id: 'string' };
SHAPES.TxnHistoryResp = {
  token: 'string',
  type: oneOf('load', 'payout', 'spend back', 'info'),
  time_of_txn: 'string',
  source_amount: 'number',
  source_currency_code: 'string',
  destination_amount: 'number',
  destination_currency_code: 'string',
  fee: 'number',
  status: PAYOUT_STATUS,
  notes: opt('string'),
  payer_name: opt('string'),
  pickup_code: opt('string'),
  source_token: opt('string'),
  destination_token: 'string',
  delivery_type: opt(DELIVERY_TYPE),
  client_transfer_id: opt('string'),
  status_reason: opt('string'),
  client_id: opt('integer'),
  user_token: opt('string'),
};
SHAPES.Country = { code: 'string', name: 'string', three_letter_code: 'string' };
SHAPES.ServicePayer = {
  destination_token: 'string',
  payer_logo: opt('string'),
  payer_name: 'string',
  exchange_rate: arrayOf(PAYER_RATE),
  fee: 'number',
  max_limit: 'number',
  min_limit: 'number',
  source_amount: opt('number'),
  number_of_locations: opt('integer'),
  estimated_availability: opt('string'),
  additional_description: opt('string'),
  is_dynamic_token: opt('boolean'),
};
SHAPES.Service = { country_code: 'string', delivery_type: DELIVERY_TYPE, payers: arrayOf(SHAPES.ServicePayer) };
SHAPES.Company = {
  company_logo: 'string',
  services: arrayOf(SHAPES.Service),
  rating: 'number',
  description: 'string',
  company_name: 'string',
};
SHAPES.CompaniesResp = { companies: arrayOf(SHAPES.Company) };
SHAPES.UserAgreement = {
  name: 'string',
  content: 'string',
  last_modified: 'string',
  id: 'integer',
  mime_type: opt('string'),
};
SHAPES.UserAgreementName = { name: 'string', last_modified: 'string', id: 'integer', mime_type: 'string' };
SHAPES.AttrsRequirement = {
  token: 'string',
  attr_set_token: opt('string'),
  label: 'string',
  validation: 'string',
  is_optional: 'boolean',
  value: opt('string'),
  expected_value: opt('string'),
  type: ATTR_TYPE,
  input_type: oneOf('text', 'options', 'date'),
  last_attr_value_used: opt('boolean'),
};
SHAPES.AllAttributesResp = {
  destination_token: opt('string'),
  payer_logo: opt('string'),
  payer_name: opt('string'),
  exchange_rate: opt(arrayOf(PAYER_RATE)),
  max_limit: opt('number'),
  min_limit: opt('number'),
  number_of_locations: opt('number'),
  estimated_availability: opt('string'),
  additional_description: opt('string'),
  is_dynamic_token: opt('boolean'),
  attributes: opt(arrayOf(SHAPES.AttrsRequirement)),
};
SHAPES.AttrSetToken = { attr_set_token: 'string' };
SHAPES.PayoutTxnResp = {
  payout_token: 'string',
  client_transfer_id: 'string',
  source_currency_code: 'string',
  destination_currency_code: 'string',
  source_token: 'string',
  destination_token: 'string',
  destination_amount: 'number',
  source_amount: 'number',
  attr_set_token: 'string',
  exchange_rate: 'number',
  fee: 'number',
  expiration: 'string',
  pickup_code: 'string',
  status: PAYOUT_STATUS,
  payer_logo: opt('string'),
  payer_name: 'string',
  delivery_type: DELIVERY_TYPE,
  country_code: 'string',
  metadata: opt('object'),
  estimated_availability: 'string',
  status_reason: opt('string'),
  attrs: opt('object'),
};
SHAPES.PayoutTxnCommitResp = {
  payout_token: 'string',
  status: COMMIT_STATUS,
  pickup_code: opt('string'),
  errors: opt('string'),
};
SHAPES.FileContent = { content: 'string' };
SHAPES.SessionLink = { session_url: 'string' };
SHAPES.KYCSession = {
  provider: oneOf('Veriff', 'Au10tix'),
  session_id: 'string',
  session_time: 'string',
  status: oneOf('Started', 'Submitted', 'Abandoned', 'Expired', 'Resubmitted', 'Declined', 'Approved', 'Resubmission requested', 'Review'),
  resp: opt('object'),
};
SHAPES.Success = { success: 'boolean' };
SHAPES.LoadTxnResp = { load_token: 'string', status: LOAD_STATUS, wallet_token: 'string' };
SHAPES.Loads = {
  load_token: 'string',
  time_of_load: 'string',
  client_load_id: 'string',
  source_token: 'string',
  wallet_token: 'string',
  amount: 'number',
  source_currency_code: 'string',
  notes: 'string',
  status: LOAD_STATUS,
  metadata: opt('object'),
};
SHAPES.SpendBackTxnResp = { spendback_token: 'string', client_spendback_id: 'string', status: oneOf('success', 'failure') };
SHAPES.SpendBacks = {
  spendback_token: 'string',
  time_of_spendback: 'string',
  client_spendback_id: 'string',
  source_token: 'string',
  wallet_token: 'string',
  amount: 'number',
  source_currency_code: 'string',
  notes: 'string',
  metadata: opt('object'),
};
SHAPES.SubaccountCreated = { subaccount_token: 'string', api_key: 'string' };
SHAPES.UboCreated = { subaccount_ubo_token: 'string' };
SHAPES.TaxYearUserResp = {
  user_token: opt('string'),
  address1: 'string',
  address2: opt('string'),
  city: 'string',
  state_province: opt('string'),
  postal_code: opt('number'), // typed number in 1.0.0 (dist/src/models/TaxYearUserResp.d.ts)
  country: 'string',
  first_name: 'string',
  middle_name: opt('string'),
  last_name: 'string',
  email: opt('string'),
  mobile_number: opt('string'),
  business_name: opt('string'),
  date_of_birth: 'string',
  balance: 'number',
  tax_id: opt('string'),
};
SHAPES.InterviewLink = { interview_url: 'string' };
SHAPES.WalletTxnResp = {
  user_token: 'string',
  token: 'string',
  balance: 'number',
  currency_code: 'string',
  type: oneOf('MASSPAY_CARD', 'USER_FUNDS'),
  card_type: opt(oneOf('MASTERCARD', 'VISA', 'AMEX', 'DISCOVER', 'UNIONPAY')),
  last_4: opt('string'),
  active: 'boolean',
  client_paying_fees: opt('boolean'),
};
SHAPES.AutopayoutResp = { token: 'string', destination_token: 'string', percentage: 'number', attr_set_token: opt('string') };
SHAPES.CardResp = {
  card_number: 'string',
  cvv: 'string',
  expiration_date: 'string',
  pin_number: 'string',
  balance: 'number',
  type: oneOf('VISA', 'MASTERCARD', 'DISCOVER', 'AMEX', 'UNIONPAY'),
  status: oneOf('ACTIVE', 'INACTIVE', 'CLOSED'),
};
// The error body: the 1.0.0 ErrorNNN model (title?, message, code) plus 0.1.4's Exception keys.
SHAPES.Error = { code: 'integer', title: opt('string'), message: 'string', Exception: 'string', Errors: arrayOf('string') };

// ---------------------------------------------------------------------------------------------
// Exact decimals: the SDK hands amounts over as JS numbers; compare them as decimal strings.
// ---------------------------------------------------------------------------------------------
const SCALE = 18;
function toScaled(n) {
  let s = typeof n === 'number' ? String(n) : n;
  if (/e/i.test(s)) s = Number(s).toFixed(SCALE);
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  const [int, frac = ''] = s.split('.');
  assert.ok(frac.length <= SCALE, `too many decimals in ${s}`);
  const v = BigInt(int + frac.padEnd(SCALE, '0'));
  return neg ? -v : v;
}
function fromScaled(v) {
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(SCALE + 1, '0');
  const int = digits.slice(0, -SCALE);
  const frac = digits.slice(-SCALE).replace(/0+$/, '');
  return (neg ? '-' : '') + int + (frac ? `.${frac}` : '');
}
const dec = {
  add: (a, b) => fromScaled(toScaled(a) + toScaled(b)),
  sub: (a, b) => fromScaled(toScaled(a) - toScaled(b)),
  str: (a) => fromScaled(toScaled(a)),
};

// ---------------------------------------------------------------------------------------------
// Per-operation results, for the summary at the end.
// ---------------------------------------------------------------------------------------------
const TODO = new Set(
  (process.env.SDK_TODO ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const results = new Map(); // 'Service.method' → { ok, requests, error?, status?, body? }
const defined = new Set();

function describeRequests(from) {
  return trace.slice(from).map((r) => `${r.method} ${pathOf(r.url)} → ${r.status}`);
}

/**
 * One test for one SDK operation. `body` calls the operation under test (with whatever it needs
 * first); any throw (an ApiError from the SDK, or a shape or value assertion) fails the test and
 * is recorded with the requests made and the sandbox's answer.
 */
function opTest(service, method, body) {
  const name = `${service}.${method}`;
  defined.add(name);
  const options = TODO.has(name) ? { todo: 'listed in SDK_TODO' } : {};
  test(name, options, async () => {
    const from = trace.length;
    observed = { undeclared: new Set(), empty: new Set() };
    const notes = () => ({ undeclared: [...observed.undeclared], empty: [...observed.empty] });
    try {
      await body();
      results.set(name, { ok: true, requests: describeRequests(from), ...notes() });
    } catch (e) {
      const entry = { ok: false, requests: describeRequests(from), ...notes() };
      if (e instanceof ApiError) {
        entry.status = e.status;
        entry.body = e.body;
        entry.error = `${e.request.method} ${pathOf(e.url)} → ${e.status} ${errorSummary(e.body)}`;
      } else {
        // A shape or value assertion: say what was asked and answered.
        entry.error = `${e.message.split('\n')[0]}  [${entry.requests.join('; ')}]`;
      }
      results.set(name, entry);
      throw new Error(`${name}: ${entry.error}`);
    }
  });
}

/** A MassPay error body in one line: title and the details (Errors), else the body itself. */
function errorSummary(body) {
  if (body && typeof body === 'object' && Array.isArray(body.Errors)) {
    return `${body.title ?? ''} ${JSON.stringify(body.Errors)}`.trim();
  }
  return show(body);
}

/** Calls an SDK operation; a rejection is rethrown as is (opTest records it). */
async function sdkCall(promise) {
  return await promise;
}

// ---------------------------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------------------------
before(async () => {
  sandbox = await startSandbox();
});

after(async () => {
  await stopSandbox();
  printSummary();
});

function printSummary() {
  const all = Object.entries(SDK_OPERATIONS).flatMap(([s, ms]) => ms.map((m) => `${s}.${m}`));
  const pass = all.filter((n) => results.get(n)?.ok);
  const fail = all.filter((n) => results.has(n) && !results.get(n).ok);
  const notRun = all.filter((n) => !results.has(n));
  const lines = [
    '',
    `masspay-js-sdk 2.0.0 against masspay-sandbox: ${pass.length}/${all.length} operations pass, ${fail.length} fail${notRun.length ? `, ${notRun.length} not run` : ''}`,
    '',
    'PASS',
    ...pass.map((n) => `  ${n}  [${results.get(n).requests.join('; ')}]`),
    '',
    fail.length ? 'FAIL' : 'FAIL (none)',
    ...fail.map((n) => `  ${n}: ${results.get(n).error}`),
  ];
  if (notRun.length) lines.push('', 'NOT RUN', ...notRun.map((n) => `  ${n}`));
  const undeclared = all.filter((n) => results.get(n)?.undeclared?.length);
  if (undeclared.length) {
    lines.push('', "NOTE fields the sandbox sends that the SDK's typings do not declare");
    lines.push(...undeclared.map((n) => `  ${n}: ${results.get(n).undeclared.join(', ')}`));
  }
  const empty = all.filter((n) => results.get(n)?.ok && results.get(n).empty.length);
  if (empty.length) {
    lines.push('', 'NOTE empty lists (item shape not exercised)');
    lines.push(...empty.map((n) => `  ${n}: ${results.get(n).empty.join(', ')}`));
  }
  lines.push('');
  // node --test passes a test file's stdout through (as diagnostics); stderr is shown as is.
  process.stderr.write(`${lines.join('\n')}\n`);
  if (process.env.SDK_REPORT) {
    const report = Object.fromEntries(all.map((n) => [n, results.get(n) ?? { ok: false, error: 'not run' }]));
    writeFileSync(process.env.SDK_REPORT, `${JSON.stringify(report, null, 2)}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared steps
// ---------------------------------------------------------------------------------------------
const JOHN = {
  internal_user_id: '4324-rOzk',
  address1: '2000 main st',
  address2: 'apt D',
  city: 'Santa Monica',
  state_province: 'CA',
  postal_code: '90405',
  country: 'USA',
  first_name: 'John',
  middle_name: '',
  last_name: 'Doe',
  email: 'jdoe@gmail.com',
  language: 'en',
  mobile_number: '16502000226',
  business_name: 'ABC Company',
  date_of_birth: '1975-03-24',
  metadata: { group_id: 541 },
};

/** A user with the BTC wallet address stored for the crypto destination. */
async function userWithWallet(sdk, overrides = {}) {
  const user = await sdk.UserService.createUser({ ...JOHN, ...overrides });
  const { attr_set_token } = await sdk.AttributeService.storeAttrs(user.user_token, BTC_DESTINATION, 'BTC', {
    values: [{ token: BTC_WALLET_ATTR, value: BTC_ADDRESS }],
  });
  return { user, userToken: user.user_token, attrSetToken: attr_set_token };
}

function btcPayout(sourceAmount, clientTransferId = `ctid-${randomUUID().slice(0, 12)}`) {
  return {
    client_transfer_id: clientTransferId,
    source_currency_code: 'USD',
    destination_currency_code: 'BTC',
    source_token: USD_FUNDING,
    destination_token: BTC_DESTINATION,
    source_amount: sourceAmount,
    metadata: { group_id: 541 },
  };
}

async function usdBalance(sdk) {
  const balances = await sdk.AccountService.getAccountBalance();
  const usd = balances.find((b) => b.token === USD_FUNDING);
  assert.ok(usd, `no balance with token ${USD_FUNDING} in ${show(balances)}`);
  assert.equal(usd.currency_code, 'USD');
  return usd.balance;
}

function isPdf(base64) {
  return Buffer.from(base64, 'base64').subarray(0, 5).toString('latin1') === '%PDF-';
}

// =============================================================================================
// 0. The operation list is the SDK's
// =============================================================================================
test('SDK_OPERATIONS lists exactly the services and methods masspay-js-sdk 2.0.0 defines', () => {
  const sdk = new MasspayJsSdk({ BASE: 'http://127.0.0.1:1/v1.0.0' });
  const actual = {};
  for (const key of Object.keys(sdk).sort()) {
    if (!key.endsWith('Service')) continue;
    actual[key] = Object.getOwnPropertyNames(Object.getPrototypeOf(sdk[key]))
      .filter((m) => m !== 'constructor' && typeof sdk[key][m] === 'function')
      .sort();
  }
  const listed = Object.fromEntries(
    Object.entries(SDK_OPERATIONS)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([s, ms]) => [s, [...ms].sort()]),
  );
  assert.deepEqual(listed, actual);
  assert.equal(Object.values(SDK_OPERATIONS).flat().length, 46);
});

// =============================================================================================
// 1. The crypto payout flow, as MassPay's guide runs it, through the SDK
// =============================================================================================
test('payout flow: balance → user → cheapest → attributes → initiate → commit → status → balance', async () => {
  const sdk = newSdk('flow');

  // 1. Balance.
  const before = await usdBalance(sdk);
  assert.equal(dec.str(before), '250000');

  // 2. User.
  const user = await sdk.UserService.createUser(JOHN);
  checkShape(user, SHAPES.StoredUser, 'createUser');
  assert.match(user.user_token, /^usr_[0-9a-f-]{36}$/);
  assert.equal(user.status, 'ACTIVE');
  assert.equal(user.email, JOHN.email);

  // 3. Cheapest services in Mexico: the CRYPTOCURRENCY service's payer paying BTC.
  const catalog = await sdk.CatalogService.getCheapestCountryServices('MEX');
  checkShape(catalog, SHAPES.CompaniesResp, 'getCheapestCountryServices');
  const cryptoPayers = catalog.companies
    .flatMap((c) => c.services)
    .filter((s) => s.delivery_type === 'CRYPTOCURRENCY')
    .flatMap((s) => s.payers)
    .filter((p) => p.exchange_rate.some((r) => r.currency_symbol === 'BTC'));
  assert.equal(cryptoPayers.length, 1, `BTC payers among the crypto services: ${show(cryptoPayers)}`);
  const destination = cryptoPayers[0].destination_token;
  assert.equal(destination, BTC_DESTINATION);

  // 4. Attributes, then store the wallet address.
  const attrs = await sdk.AttributeService.getAttrs(user.user_token, destination, 'BTC');
  checkShape(attrs, arrayOf(SHAPES.AttrsRequirement), 'getAttrs');
  const walletAttr = attrs.find((a) => a.token === BTC_WALLET_ATTR);
  assert.ok(walletAttr, `no attribute ${BTC_WALLET_ATTR} in ${show(attrs)}`);
  assert.equal(walletAttr.is_optional, false);
  assert.ok(new RegExp(`^(?:${walletAttr.validation})$`).test(BTC_ADDRESS), 'the address matches the served regex');
  const stored = await sdk.AttributeService.storeAttrs(user.user_token, destination, 'BTC', {
    values: [{ token: BTC_WALLET_ATTR, value: BTC_ADDRESS }],
  });
  checkShape(stored, SHAPES.AttrSetToken, 'storeAttrs');
  const attrsAfter = await sdk.AttributeService.getAttrs(user.user_token, destination, 'BTC');
  assert.equal(attrsAfter.find((a) => a.token === BTC_WALLET_ATTR).value, BTC_ADDRESS);

  // 5. Initiate: 100.5 USD → BTC.
  const payout = await sdk.PayoutService.initiatePayout(user.user_token, btcPayout(100.5, 'aEjn345'));
  checkShape(payout, SHAPES.PayoutTxnResp, 'initiatePayout');
  assert.match(payout.payout_token, /^payout_[0-9a-f-]{36}$/);
  assert.equal(payout.status, 'PENDING');
  assert.equal(payout.client_transfer_id, 'aEjn345');
  assert.equal(payout.source_currency_code, 'USD');
  assert.equal(payout.destination_currency_code, 'BTC');
  assert.equal(payout.source_token, USD_FUNDING);
  assert.equal(payout.destination_token, BTC_DESTINATION);
  assert.equal(payout.delivery_type, 'CRYPTOCURRENCY');
  assert.equal(payout.country_code, 'MEX');
  assert.equal(dec.str(payout.source_amount), '100.5');
  assert.equal(dec.str(payout.fee), '2.99');
  assert.deepEqual(payout.metadata, { group_id: 541 });

  // 6. Commit.
  const commit = await sdk.PayoutService.commitPayoutTxn(user.user_token, payout.payout_token);
  checkShape(commit, SHAPES.PayoutTxnCommitResp, 'commitPayoutTxn');
  assert.equal(commit.payout_token, payout.payout_token);
  assert.equal(commit.status, 'success');
  assert.equal(commit.errors, undefined, 'a first success carries no errors');

  // Status: crypto settles at once.
  const status = await sdk.PayoutService.getPayoutStatus(user.user_token, payout.payout_token);
  checkShape(status, SHAPES.PayoutTxnResp, 'getPayoutStatus');
  assert.equal(status.status, 'COMPLETED');
  assert.equal(status.payout_token, payout.payout_token);

  // Balance: debited exactly source_amount + fee, once.
  const afterBalance = await usdBalance(sdk);
  const debit = dec.add(payout.source_amount, payout.fee);
  assert.equal(debit, '103.49');
  assert.equal(dec.str(afterBalance), dec.sub(before, debit));
  assert.equal(dec.str(afterBalance), '249896.51');

  // A second commit never debits again.
  const again = await sdk.PayoutService.commitPayoutTxn(user.user_token, payout.payout_token);
  assert.equal(again.status, 'success');
  assert.equal(again.errors, 'Duplicate transfer');
  assert.equal(dec.str(await usdBalance(sdk)), '249896.51');
});

// =============================================================================================
// 2. Every operation the SDK defines, with valid arguments
// =============================================================================================
describe('every masspay-js-sdk 2.0.0 operation', () => {
  const label = 'ops';
  let sdk;
  let fx; // { user, userToken, attrSetToken, payout, commit }

  // Tokens that only unserved operations can produce: each is asked for through the SDK first,
  // and falls back to a well-formed sample token so the operation under test is still called.
  const memo = {};
  async function once(key, produce, fallback) {
    if (!(key in memo)) {
      try {
        memo[key] = await produce();
      } catch {
        memo[key] = fallback;
      }
      if (memo[key] === undefined) memo[key] = fallback;
    }
    return memo[key];
  }
  const wallets = () =>
    once('wallets', async () => {
      await loadResp(); // a load creates the user's funds wallet where wallets appear on demand
      return await sdk.WalletService.getWallet(fx.userToken);
    }, []);
  // The user's funds wallet (loads, spend-backs, autopayout rules) and card wallet (card ops).
  const walletToken = () =>
    once(
      'wallet',
      async () =>
        (await wallets()).find((w) => w.type === 'USER_FUNDS')?.token ?? (await loadResp())?.wallet_token,
      'usr_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574',
    );
  const cardWalletToken = () =>
    once(
      'card',
      async () => (await wallets()).find((w) => w.type === 'MASSPAY_CARD')?.token,
      'usr_wlt_38400000-8cf0-11bd-b23e-10b96e4ef00d',
    );
  const loadResp = () =>
    once(
      'load',
      () =>
        sdk.LoadService.loadUser(fx.userToken, {
          client_load_id: `load-${randomUUID().slice(0, 8)}`,
          source_token: USD_FUNDING,
          amount: 50,
          source_currency_code: 'USD',
          notes: 'Commission payment for July',
          notify_user: false,
        }),
      undefined,
    );
  const loadToken = async () => (await loadResp())?.load_token ?? 'ld_ba4275f2-bae1-488d-9d6f-20af1cd83574';
  // A spend-back of part of what was loaded into the user's wallet.
  const spendbackCall = async (clientSpendbackId) => {
    await loadResp();
    return sdk.SpendBackService.initiateSpendback(fx.userToken, undefined, {
      client_spendback_id: clientSpendbackId,
      source_token: USD_FUNDING,
      source_currency_code: 'USD',
      amount: 5,
      notes: 'Returned commission',
    });
  };
  const spendback = () => once('spendback', () => spendbackCall(`sb-${randomUUID().slice(0, 8)}`), undefined);
  const autopayoutRule = async () =>
    once(
      'autopayout',
      async () =>
        (
          await sdk.WalletService.createAutopayoutRule(fx.userToken, await walletToken(), {
            destination_token: BTC_DESTINATION,
            percentage: 25,
          })
        ).token,
      'autopay_3684cc43-fe3b-4994-8ca1-7dc0db94430f',
    );
  const subaccount = () =>
    once(
      'subaccount',
      async () => (await sdk.SubaccountService.createSubaccount(SUBACCOUNT)).subaccount_token,
      'sub_3f5d3fe8-a9c0-48c7-90ad-a72948730f56',
    );
  const ubo = () =>
    once(
      'ubo',
      async () =>
        (await sdk.SubaccountService.getSubaccountSubaccountTokenUbo(await subaccount(), UBO)).subaccount_ubo_token,
      'ubo_62727c1f-38a3-4a98-b7c9-e84093a106cd',
    );

  before(async () => {
    sdk = newSdk(label);
    const u = await userWithWallet(sdk);
    const payout = await sdk.PayoutService.initiatePayout(u.userToken, btcPayout(25));
    const commit = await sdk.PayoutService.commitPayoutTxn(u.userToken, payout.payout_token);
    assert.equal(commit.status, 'success', `fixture payout commit: ${show(commit)}`);
    fx = { ...u, payout, commit };
  });

  // --- AccountService ---------------------------------------------------------------------
  opTest('AccountService', 'getAccountBalance', async () => {
    const r = await sdkCall(sdk.AccountService.getAccountBalance());
    checkShape(r, arrayOf(SHAPES.AvailableBalanceTxnResp));
    assert.ok(r.length >= 1);
    assert.deepEqual(
      r.map((b) => b.currency_code).sort(),
      ['BTC', 'ETH', 'LTC', 'USD', 'USDC', 'USDT'],
    );
  });

  opTest('AccountService', 'getAccountStatement', async () => {
    const { now } = await admin(label, 'GET', '/clock');
    const end = now.slice(0, 10);
    const start = new Date(Date.parse(`${end}T00:00:00Z`) - 30 * 86400_000).toISOString().slice(0, 10);
    const r = await sdkCall(sdk.AccountService.getAccountStatement(start, end));
    checkShape(r, SHAPES.FileContent);
    assert.ok(isPdf(r.content), 'content is a base64 PDF');
  });

  // --- AttributeService -------------------------------------------------------------------
  opTest('AttributeService', 'getAllAttrs', async () => {
    const r = await sdkCall(sdk.AttributeService.getAllAttrs(fx.userToken));
    checkShape(r, arrayOf(SHAPES.AllAttributesResp));
    const set = r.find((s) => s.destination_token === BTC_DESTINATION);
    assert.ok(set, `the stored BTC destination is listed: ${show(r)}`);
    assert.ok(set.attributes?.some((a) => a.token === BTC_WALLET_ATTR && a.value === BTC_ADDRESS));
  });

  opTest('AttributeService', 'storeAttrs', async () => {
    const r = await sdkCall(
      sdk.AttributeService.storeAttrs(fx.userToken, BTC_DESTINATION, 'BTC', {
        values: [{ token: BTC_WALLET_ATTR, value: BTC_ADDRESS }],
      }),
    );
    checkShape(r, SHAPES.AttrSetToken);
    assert.match(r.attr_set_token, /^attr_set_/);
  });

  opTest('AttributeService', 'getAttrs', async () => {
    const r = await sdkCall(sdk.AttributeService.getAttrs(fx.userToken, BTC_DESTINATION, 'BTC'));
    checkShape(r, arrayOf(SHAPES.AttrsRequirement));
    assert.equal(r.find((a) => a.token === BTC_WALLET_ATTR)?.value, BTC_ADDRESS);
  });

  // --- CardService ------------------------------------------------------------------------
  opTest('CardService', 'getWalletCardInfo', async () => {
    const r = await sdkCall(sdk.CardService.getWalletCardInfo(fx.userToken, await cardWalletToken()));
    checkShape(r, SHAPES.CardResp);
  });

  opTest('CardService', 'updateWalletCardInfo', async () => {
    // No response body is defined (CancelablePromise<any>): resolving is the contract.
    await sdkCall(sdk.CardService.updateWalletCardInfo(fx.userToken, await cardWalletToken(), '0123', 'UNSUSPEND'));
  });

  // --- CatalogService ---------------------------------------------------------------------
  opTest('CatalogService', 'getCountryList', async () => {
    const r = await sdkCall(sdk.CatalogService.getCountryList());
    checkShape(r, arrayOf(SHAPES.Country));
    assert.ok(r.some((c) => c.three_letter_code === 'MEX'));
  });

  opTest('CatalogService', 'getCountryServices', async () => {
    const r = await sdkCall(sdk.CatalogService.getCountryServices('MEX'));
    checkShape(r, SHAPES.CompaniesResp);
    assert.ok(r.companies.flatMap((c) => c.services).some((s) => s.payers.some((p) => p.destination_token === BTC_DESTINATION)));
    // The 1.0.0 filters the SDK exposes: source currency, payer name, destination currency.
    const btc = await sdkCall(
      sdk.CatalogService.getCountryServices('MEX', undefined, undefined, fx.userToken, 'USD', undefined, 'BTC'),
    );
    checkShape(btc, SHAPES.CompaniesResp);
    const payers = btc.companies.flatMap((c) => c.services).flatMap((s) => s.payers);
    assert.ok(payers.length >= 1);
    assert.ok(payers.every((p) => p.exchange_rate.some((x) => x.currency_symbol === 'BTC')), show(payers));
  });

  opTest('CatalogService', 'getCheapestCountryServices', async () => {
    const r = await sdkCall(sdk.CatalogService.getCheapestCountryServices('MEX', 150));
    checkShape(r, SHAPES.CompaniesResp);
    const payers = r.companies.flatMap((c) => c.services).flatMap((s) => s.payers);
    assert.ok(payers.length >= 1);
    // With `limit`, payers carry source_amount (amount + fee ≤ limit).
    for (const p of payers) {
      assert.equal(typeof p.source_amount, 'number', `limit given, source_amount expected: ${show(p)}`);
      assert.ok(toScaled(dec.add(p.source_amount, p.fee)) <= toScaled(150), show(p));
    }
  });

  opTest('CatalogService', 'getDestinationTokenAlternatives', async () => {
    const r = await sdkCall(sdk.CatalogService.getDestinationTokenAlternatives(BTC_DESTINATION));
    checkShape(r, SHAPES.Service);
  });

  opTest('CatalogService', 'getDestinationToken', async () => {
    const r = await sdkCall(sdk.CatalogService.getDestinationToken(BTC_DESTINATION, true));
    checkShape(r, SHAPES.Service);
    assert.equal(r.delivery_type, 'CRYPTOCURRENCY');
    assert.equal(r.payers.length, 1);
    assert.equal(r.payers[0].destination_token, BTC_DESTINATION);
    assert.equal(typeof r.payers[0].payer_logo, 'string', 'include_payer_logos=true gives the logo');
  });

  opTest('CatalogService', 'getUserAgreement', async () => {
    const names = await sdkCall(sdk.CatalogService.getUserAgreementsNames());
    assert.ok(Array.isArray(names) && names.length >= 1, `agreements to pick an id from: ${show(names)}`);
    const r = await sdkCall(sdk.CatalogService.getUserAgreement(names[0].id));
    checkShape(r, SHAPES.UserAgreement);
    assert.equal(r.id, names[0].id);
    assert.ok(Buffer.from(r.content, 'base64').length > 0);
  });

  opTest('CatalogService', 'getUserAgreementsNames', async () => {
    const r = await sdkCall(sdk.CatalogService.getUserAgreementsNames());
    checkShape(r, arrayOf(SHAPES.UserAgreementName));
    assert.ok(r.length >= 1);
  });

  // --- KycService -------------------------------------------------------------------------
  opTest('KycService', 'findAttributesVelocity', async () => {
    // A second user storing the same wallet address: the check on the first user finds them.
    const other = await userWithWallet(sdk, { internal_user_id: 'velocity-2', email: 'velocity-2@example.com' });
    const attrs = await sdkCall(sdk.AttributeService.getAttrs(fx.userToken, BTC_DESTINATION, 'BTC'));
    const type = attrs.find((a) => a.token === BTC_WALLET_ATTR).type;
    const r = await sdkCall(sdk.KycService.findAttributesVelocity(fx.userToken, undefined, [{ type, value: BTC_ADDRESS }]));
    checkShape(r, arrayOf('string'));
    assert.ok(r.includes(other.userToken), `the other user sharing ${BTC_ADDRESS}: ${show(r)}`);
  });

  opTest('KycService', 'getUserUserTokenKycAu10Tix', async () => {
    const r = await sdkCall(sdk.KycService.getUserUserTokenKycAu10Tix(fx.userToken));
    checkShape(r, SHAPES.SessionLink);
  });

  opTest('KycService', 'uploadIdPhotos', async () => {
    const r = await sdkCall(
      sdk.KycService.uploadIdPhotos(fx.userToken, [
        { type: 'face', content: PNG_1X1 },
        { type: 'document-front', content: PNG_1X1 },
      ]),
    );
    // Record<string, any> | null
    assert.ok(r === null || (typeof r === 'object' && !Array.isArray(r)), `expected an object or null, got ${show(r)}`);
  });

  opTest('KycService', 'getUserUserTokenKycAttempts', async () => {
    const r = await sdkCall(sdk.KycService.getUserUserTokenKycAttempts(fx.userToken));
    checkShape(r, arrayOf(SHAPES.KYCSession));
  });

  opTest('KycService', 'getUserUserTokenKycVeriff', async () => {
    const r = await sdkCall(sdk.KycService.getUserUserTokenKycVeriff(fx.userToken));
    checkShape(r, SHAPES.SessionLink);
  });

  // --- LoadService ------------------------------------------------------------------------
  opTest('LoadService', 'resendBalanceNotification', async () => {
    const r = await sdkCall(sdk.LoadService.resendBalanceNotification(fx.userToken));
    checkShape(r, SHAPES.Success);
  });

  opTest('LoadService', 'loadUser', async () => {
    const r = await sdkCall(
      sdk.LoadService.loadUser(fx.userToken, {
        client_load_id: `load-${randomUUID().slice(0, 8)}`,
        source_token: USD_FUNDING,
        amount: 20,
        source_currency_code: 'USD',
        notes: 'Commission payment for July',
        notify_user: false,
      }),
    );
    checkShape(r, SHAPES.LoadTxnResp);
    assert.equal(r.status, 'COMPLETED', 'a load without time_to_process runs now');
  });

  opTest('LoadService', 'getUserLoadsByToken', async () => {
    await loadResp();
    const r = await sdkCall(sdk.LoadService.getUserLoadsByToken(fx.userToken));
    checkShape(r, arrayOf(SHAPES.Loads));
  });

  opTest('LoadService', 'resendLoadNotification', async () => {
    const r = await sdkCall(sdk.LoadService.resendLoadNotification(fx.userToken, await loadToken()));
    checkShape(r, SHAPES.Success);
  });

  opTest('LoadService', 'cancelUserLoad', async () => {
    // No response body is defined (CancelablePromise<any>).
    await sdkCall(sdk.LoadService.cancelUserLoad(fx.userToken, await loadToken()));
  });

  // --- PayoutService ----------------------------------------------------------------------
  opTest('PayoutService', 'initiatePayout', async () => {
    const r = await sdkCall(sdk.PayoutService.initiatePayout(fx.userToken, btcPayout(10)));
    checkShape(r, SHAPES.PayoutTxnResp);
    assert.equal(r.status, 'PENDING');
    // With `limit`: the amount is lowered so that amount + fee fits.
    const limited = await sdkCall(sdk.PayoutService.initiatePayout(fx.userToken, btcPayout(500), 100));
    checkShape(limited, SHAPES.PayoutTxnResp);
    assert.equal(dec.add(limited.source_amount, limited.fee), '100');
  });

  opTest('PayoutService', 'getUserPayoutsByToken', async () => {
    const r = await sdkCall(sdk.PayoutService.getUserPayoutsByToken(fx.userToken));
    checkShape(r, arrayOf(SHAPES.PayoutTxnResp));
    assert.ok(r.some((p) => p.payout_token === fx.payout.payout_token));
    const withLogos = await sdkCall(sdk.PayoutService.getUserPayoutsByToken(fx.userToken, undefined, true));
    assert.ok(withLogos.every((p) => typeof p.payer_logo === 'string'), 'includePayerLogos=true gives logos');
  });

  opTest('PayoutService', 'commitPayoutTxn', async () => {
    const p = await sdkCall(sdk.PayoutService.initiatePayout(fx.userToken, btcPayout(12)));
    const r = await sdkCall(sdk.PayoutService.commitPayoutTxn(fx.userToken, p.payout_token));
    checkShape(r, SHAPES.PayoutTxnCommitResp);
    assert.equal(r.status, 'success');
  });

  opTest('PayoutService', 'getPayoutStatus', async () => {
    const r = await sdkCall(sdk.PayoutService.getPayoutStatus(fx.userToken, fx.payout.payout_token, true));
    checkShape(r, SHAPES.PayoutTxnResp);
    assert.equal(r.status, 'COMPLETED');
    assert.equal(typeof r.payer_logo, 'string', 'includePayerLogo=true (query include_payer_logo) gives the logo');
  });

  opTest('PayoutService', 'getTransactionConfirmationDetails', async () => {
    const r = await sdkCall(sdk.PayoutService.getTransactionConfirmationDetails(fx.userToken, fx.payout.payout_token));
    checkShape(r, { content: opt('string') });
    assert.equal(typeof r.content, 'string', 'a committed payout has a confirmation');
    assert.ok(isPdf(r.content), 'content is a base64 PDF');
  });

  // --- SpendBackService -------------------------------------------------------------------
  opTest('SpendBackService', 'getUserSpendbacksByToken', async () => {
    await spendback();
    const r = await sdkCall(sdk.SpendBackService.getUserSpendbacksByToken(fx.userToken));
    checkShape(r, arrayOf(SHAPES.SpendBacks));
    assert.ok(r.length >= 1, 'the spend-back made above is listed');
  });

  opTest('SpendBackService', 'initiateSpendback', async () => {
    const r = await sdkCall(spendbackCall(`sb-${randomUUID().slice(0, 8)}`));
    checkShape(r, SHAPES.SpendBackTxnResp);
    assert.equal(r.status, 'success');
  });

  // --- SubaccountService ------------------------------------------------------------------
  opTest('SubaccountService', 'createSubaccount', async () => {
    const r = await sdkCall(sdk.SubaccountService.createSubaccount({ ...SUBACCOUNT, company_name: 'Acme Payouts Two LLC' }));
    checkShape(r, SHAPES.SubaccountCreated);
  });

  opTest('SubaccountService', 'getSubaccountSubaccountTokenUbo', async () => {
    const r = await sdkCall(sdk.SubaccountService.getSubaccountSubaccountTokenUbo(await subaccount(), UBO));
    checkShape(r, SHAPES.UboCreated);
  });

  opTest('SubaccountService', 'uploadSubaccountUboId', async () => {
    const r = await sdkCall(
      sdk.SubaccountService.uploadSubaccountUboId(await subaccount(), await ubo(), [
        { type: 'document-front', content: PNG_1X1 },
        { type: 'document-back', content: PNG_1X1 },
      ]),
    );
    assert.ok(r === null || (typeof r === 'object' && !Array.isArray(r)), `expected an object or null, got ${show(r)}`);
  });

  // --- TaxService -------------------------------------------------------------------------
  opTest('TaxService', 'getTaxUsers', async () => {
    const r = await sdkCall(sdk.TaxService.getTaxUsers());
    checkShape(r, arrayOf(SHAPES.TaxYearUserResp), 'getTaxUsers() (default: previous year)');
    // The default year is the previous one; this year's list holds the fixture's paid-out user.
    const { now } = await admin(label, 'GET', '/clock');
    const thisYear = await sdkCall(sdk.TaxService.getTaxUsers(0, Number(now.slice(0, 4))));
    checkShape(thisYear, arrayOf(SHAPES.TaxYearUserResp));
    assert.ok(thisYear.some((u) => u.user_token === fx.userToken), `this year's list: ${show(thisYear)}`);
  });

  opTest('TaxService', 'getTaxInterviewLink', async () => {
    const r = await sdkCall(sdk.TaxService.getTaxInterviewLink(fx.userToken, 'https://example.com/tax-done'));
    checkShape(r, SHAPES.InterviewLink);
  });

  // --- UserService ------------------------------------------------------------------------
  opTest('UserService', 'createUser', async () => {
    const r = await sdkCall(
      sdk.UserService.createUser({
        internal_user_id: 'create-op',
        country: 'MEX',
        first_name: 'Ana',
        last_name: 'García',
        email: 'ana.garcia@example.com',
      }),
    );
    checkShape(r, SHAPES.StoredUser);
    assert.equal(r.status, 'ACTIVE');
  });

  opTest('UserService', 'getUserByToken', async () => {
    const r = await sdkCall(sdk.UserService.getUserByToken(fx.userToken));
    checkShape(r, SHAPES.StoredUser);
    assert.equal(r.user_token, fx.userToken);
    assert.equal(r.email, JOHN.email);
  });

  opTest('UserService', 'updateUser', async () => {
    const r = await sdkCall(
      sdk.UserService.updateUser(fx.userToken, {
        status: 'ACTIVE',
        internal_user_id: JOHN.internal_user_id,
        address1: '2100 main st',
        city: 'Santa Monica',
        state_province: 'CA',
        postal_code: '90405',
        country: 'USA',
        first_name: 'John',
        last_name: 'Doe',
        email: JOHN.email,
      }),
    );
    checkShape(r, SHAPES.StoredUser);
    assert.equal(r.address1, '2100 main st');
  });

  opTest('UserService', 'userLookup', async () => {
    const r = await sdkCall(sdk.UserService.userLookup(JOHN.email, JOHN.first_name, JOHN.internal_user_id));
    checkShape(r, SHAPES.FoundUser);
    assert.equal(r.user_token, fx.userToken);
  });

  opTest('UserService', 'getUserHistory', async () => {
    const r = await sdkCall(sdk.UserService.getUserHistory(fx.userToken));
    checkShape(r, arrayOf(SHAPES.TxnHistoryResp));
    assert.ok(r.some((t) => t.token === fx.payout.payout_token && t.type === 'payout'), show(r));
    const payoutsOnly = await sdkCall(sdk.UserService.getUserHistory(fx.userToken, undefined, undefined, 'payout'));
    assert.ok(payoutsOnly.every((t) => t.type === 'payout'));
  });

  opTest('UserService', 'getAllUsersHistory', async () => {
    const r = await sdkCall(sdk.UserService.getAllUsersHistory());
    checkShape(r, arrayOf(SHAPES.TxnHistoryResp));
    const mine = r.find((t) => t.token === fx.payout.payout_token);
    assert.ok(mine, show(r));
    assert.equal(mine.user_token, fx.userToken);
  });

  // --- WalletService ----------------------------------------------------------------------
  opTest('WalletService', 'getWallet', async () => {
    const r = await sdkCall(sdk.WalletService.getWallet(fx.userToken));
    checkShape(r, arrayOf(SHAPES.WalletTxnResp));
    assert.ok(r.length >= 1, 'the loaded user has a wallet');
    assert.ok(r.every((w) => w.user_token === fx.userToken));
  });

  opTest('WalletService', 'getAutopayoutRules', async () => {
    const wallet = await walletToken();
    const rule = await autopayoutRule();
    const r = await sdkCall(sdk.WalletService.getAutopayoutRules(fx.userToken, wallet));
    checkShape(r, arrayOf(SHAPES.AutopayoutResp));
    assert.ok(r.some((x) => x.token === rule), `the rule made above is listed: ${show(r)}`);
  });

  opTest('WalletService', 'createAutopayoutRule', async () => {
    const r = await sdkCall(
      sdk.WalletService.createAutopayoutRule(fx.userToken, await walletToken(), {
        destination_token: BTC_DESTINATION,
        percentage: 50,
        attr_set_token: fx.attrSetToken,
      }),
    );
    checkShape(r, SHAPES.AutopayoutResp);
  });

  opTest('WalletService', 'deleteAutopayoutRule', async () => {
    const wallet = await walletToken();
    const rule = await autopayoutRule();
    // CancelablePromise<void>
    await sdkCall(sdk.WalletService.deleteAutopayoutRule(fx.userToken, wallet, rule));
    const left = await sdkCall(sdk.WalletService.getAutopayoutRules(fx.userToken, wallet));
    assert.ok(!left.some((x) => x.token === rule), `the deleted rule is gone: ${show(left)}`);
  });

  test('each listed operation has a test above', () => {
    const all = Object.entries(SDK_OPERATIONS).flatMap(([s, ms]) => ms.map((m) => `${s}.${m}`));
    assert.deepEqual(all.filter((n) => !defined.has(n)), []);
  });
});

// =============================================================================================
// 3. What a client must handle, through the SDK
// =============================================================================================
describe('failure paths through the SDK', () => {
  test('magic amount .51: commit answers nsf, the payout stays PENDING, nothing is debited', async () => {
    const sdk = newSdk('nsf');
    const { userToken } = await userWithWallet(sdk);
    const before = await usdBalance(sdk);
    const p = await sdk.PayoutService.initiatePayout(userToken, btcPayout(20.51));
    assert.equal(p.status, 'PENDING');
    const c = await sdk.PayoutService.commitPayoutTxn(userToken, p.payout_token);
    checkShape(c, SHAPES.PayoutTxnCommitResp, 'commitPayoutTxn');
    assert.equal(c.status, 'nsf');
    // .51 answers nsf on every commit.
    assert.equal((await sdk.PayoutService.commitPayoutTxn(userToken, p.payout_token)).status, 'nsf');
    assert.equal((await sdk.PayoutService.getPayoutStatus(userToken, p.payout_token)).status, 'PENDING');
    assert.equal(dec.str(await usdBalance(sdk)), dec.str(before));
  });

  test('magic amount .52: commit answers ex_rate_expired and the payout is CANCELLED', async () => {
    const sdk = newSdk('expired');
    const { userToken } = await userWithWallet(sdk);
    const p = await sdk.PayoutService.initiatePayout(userToken, btcPayout(30.52));
    const c = await sdk.PayoutService.commitPayoutTxn(userToken, p.payout_token);
    assert.equal(c.status, 'ex_rate_expired');
    assert.equal((await sdk.PayoutService.getPayoutStatus(userToken, p.payout_token)).status, 'CANCELLED');
  });

  test('magic amount .54: commit answers failure and the payout is ERROR with a status_reason', async () => {
    const sdk = newSdk('failure');
    const { userToken } = await userWithWallet(sdk);
    const before = await usdBalance(sdk);
    const p = await sdk.PayoutService.initiatePayout(userToken, btcPayout(40.54));
    const c = await sdk.PayoutService.commitPayoutTxn(userToken, p.payout_token);
    assert.equal(c.status, 'failure');
    const s = await sdk.PayoutService.getPayoutStatus(userToken, p.payout_token);
    assert.equal(s.status, 'ERROR');
    assert.equal(typeof s.status_reason, 'string');
    assert.ok(s.status_reason.length > 0);
    assert.equal(dec.str(await usdBalance(sdk)), dec.str(before));
  });

  test('unknown user: the SDK rejects with an ApiError 404 whose body has MassPay error shape', async () => {
    const sdk = newSdk('unknown-user');
    const missing = `usr_${randomUUID()}`;
    const err = await sdk.UserService.getUserByToken(missing).then(
      (v) => assert.fail(`expected a rejection, got ${show(v)}`),
      (e) => e,
    );
    assert.ok(err instanceof ApiError, `expected ApiError, got ${err}`);
    assert.equal(err.status, 404);
    assert.equal(err.message, 'Not found.'); // the SDK's own label for 404 (UserService errors map)
    checkShape(err.body, SHAPES.Error, 'error body');
    assert.equal(err.body.code, 404);
    assert.equal(err.body.title, 'Not found.');
    assert.equal(err.body.message, NOT_FOUND_MESSAGE);

    // The same for the payout operations on an unknown user.
    const err2 = await sdk.PayoutService.initiatePayout(missing, btcPayout(10)).then(
      (v) => assert.fail(`expected a rejection, got ${show(v)}`),
      (e) => e,
    );
    assert.ok(err2 instanceof ApiError);
    assert.equal(err2.status, 404);
    checkShape(err2.body, SHAPES.Error, 'error body');
  });

  test('invalid user: the SDK rejects with an ApiError 400 listing every problem', async () => {
    const sdk = newSdk('bad-user');
    const err = await sdk.UserService.createUser({ internal_user_id: 'x', country: 'Mexico', first_name: 'A', last_name: 'B' }).then(
      (v) => assert.fail(`expected a rejection, got ${show(v)}`),
      (e) => e,
    );
    assert.ok(err instanceof ApiError, `expected ApiError, got ${err}`);
    assert.equal(err.status, 400);
    assert.equal(err.message, 'Bad request.');
    checkShape(err.body, { ...SHAPES.Error, error: { reason: opt('string'), details: arrayOf('string') } }, 'error body');
    assert.ok(err.body.error.details.length >= 2, `email and country both reported: ${show(err.body)}`);
  });

  test('no API key: the SDK sends no Authorization header and rejects with an ApiError 401', async () => {
    const sdk = new MasspayJsSdk({ BASE: `${sandbox.origin}/v1.0.0` });
    const err = await sdk.AccountService.getAccountBalance().then(
      (v) => assert.fail(`expected a rejection, got ${show(v)}`),
      (e) => e,
    );
    assert.ok(err instanceof ApiError, `expected ApiError, got ${err}`);
    assert.equal(err.status, 401);
    assert.equal(err.message, 'Unauthorized.');
    checkShape(err.body, SHAPES.Error, 'error body');
  });
});

// =============================================================================================
// 4. What the SDK sends, and API 1.0.0 specifics
// =============================================================================================
describe('the SDK on the wire', () => {
  test('the raw key (no "Bearer"), Accept and the SDK user-agent are sent and accepted', async () => {
    const sdk = newSdk('headers');
    const from = trace.length;
    await sdk.AccountService.getAccountBalance();
    const [req] = trace.slice(from);
    assert.equal(req.requestHeaders.authorization, apiKey('headers'));
    assert.equal(req.requestHeaders.accept, 'application/json');
    assert.equal(req.requestHeaders['user-agent'], 'MasspayJsSdk (JS/2.0.0; MassPayApi/1.0.0)');
    assert.equal(pathOf(req.url), '/v1.0.0/payout/account/balance');
    assert.equal(req.status, 200);
    assert.match(req.responseHeaders['content-type'], /^application\/json/);
  });

  test('the default query values the SDK always sends are accepted', async () => {
    const sdk = newSdk('defaults');
    const { userToken } = await userWithWallet(sdk);
    const from = trace.length;
    await sdk.CatalogService.getCheapestCountryServices('MEX');
    await sdk.UserService.getUserHistory(userToken);
    const paths = trace.slice(from).map((r) => `${pathOf(r.url)} → ${r.status}`);
    assert.deepEqual(paths, [
      '/v1.0.0/payout/country/MEX/cheapest?amount=200&include_payer_logos=false → 200',
      `/v1.0.0/payout/user/${userToken}/history?number_of_records=10&page=1&show_all_clients=false → 200`,
    ]);
  });

  test('Idempotency-Key (the SDK parameter): a retried initiate returns the same payout', async () => {
    const sdk = newSdk('idempotency');
    const { userToken } = await userWithWallet(sdk);
    const key = randomUUID();
    const body = btcPayout(15);
    const first = await sdk.PayoutService.initiatePayout(userToken, body, undefined, key);
    const from = trace.length;
    const second = await sdk.PayoutService.initiatePayout(userToken, body, undefined, key);
    assert.deepEqual(second, first);
    const [req] = trace.slice(from);
    assert.equal(req.requestHeaders['idempotency-key'], key);
    assert.equal(req.responseHeaders['idempotent-replayed'], 'true');
    const list = await sdk.PayoutService.getUserPayoutsByToken(userToken);
    assert.equal(list.length, 1, 'one payout, not two');
  });

  test('auto_commit (1.0.0): a same-currency payout is committed at once and answers PayoutTxnCommitResp', async () => {
    const sdk = newSdk('auto-commit');
    const { userToken } = await userWithWallet(sdk);
    const balances = await sdk.AccountService.getAccountBalance();
    const btc = balances.find((b) => b.currency_code === 'BTC');
    assert.ok(btc, show(balances));
    const r = await sdk.PayoutService.initiatePayout(userToken, {
      client_transfer_id: 'auto-1',
      source_currency_code: 'BTC',
      destination_currency_code: 'BTC',
      source_token: btc.token,
      destination_token: BTC_DESTINATION,
      source_amount: 0.001,
      auto_commit: true,
    });
    checkShape(r, SHAPES.PayoutTxnCommitResp, 'initiatePayout(auto_commit)');
    assert.equal(r.status, 'success');
    assert.equal((await sdk.PayoutService.getPayoutStatus(userToken, r.payout_token)).status, 'COMPLETED');
    const after = (await sdk.AccountService.getAccountBalance()).find((b) => b.token === btc.token);
    assert.equal(dec.str(after.balance), dec.sub(btc.balance, dec.add('0.001', '0.00002')));
  });
});
