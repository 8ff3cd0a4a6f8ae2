// The npm channel as a Jest/Vitest user meets it: `start()` from the installed masspay-sandbox
// package (its platform binary from the optional dependency), MassPay's official SDK
// (masspay-js-sdk 2.0.0) through the seed guide's flow, then `stop()`. Run by tests/dist/npm.sh
// inside a project that installed the packages from their tarballs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sandbox from 'masspay-sandbox';
import sdkPackage from 'masspay-js-sdk';

const { MasspayJsSdk } = sdkPackage;
const USD_FUNDING = 'clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574';
const BTC_DESTINATION = 'dst_d2138fd0-00be-45a8-985f-4f5bde500962';
const BTC_WALLET_ATTR = 'attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c';

test('start() → the seed flow through masspay-js-sdk 2.0.0 → stop()', async () => {
  const sb = await sandbox.start({ seed: 42 });
  try {
    assert.match(sb.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(sb.port > 0);
    const sdk = new MasspayJsSdk({ BASE: `${sb.url}/v1.0.0`, AUTHORIZER_NAME_API_KEY: 'npm-channel' });
    const usd = async () =>
      String((await sdk.AccountService.getAccountBalance()).find((b) => b.currency_code === 'USD').balance);
    assert.equal(await usd(), '250000');
    const user = await sdk.UserService.createUser({
      internal_user_id: '4324-rOzk', address1: '2000 main st', city: 'Santa Monica',
      state_province: 'CA', postal_code: '90405', country: 'USA', first_name: 'John',
      last_name: 'Doe', email: 'jdoe@gmail.com', mobile_number: '16502000226',
      date_of_birth: '1975-03-24',
    });
    const catalog = await sdk.CatalogService.getCheapestCountryServices('MEX');
    assert.ok(JSON.stringify(catalog).includes(BTC_DESTINATION));
    await sdk.AttributeService.storeAttrs(user.user_token, BTC_DESTINATION, 'BTC', {
      values: [{ token: BTC_WALLET_ATTR, value: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' }],
    });
    const payout = await sdk.PayoutService.initiatePayout(user.user_token, {
      client_transfer_id: 'aEjn345', source_currency_code: 'USD', destination_currency_code: 'BTC',
      source_token: USD_FUNDING, destination_token: BTC_DESTINATION, source_amount: 100.5,
    });
    assert.equal(payout.status, 'PENDING');
    const commit = await sdk.PayoutService.commitPayoutTxn(user.user_token, payout.payout_token);
    assert.equal(commit.status, 'success');
    const status = await sdk.PayoutService.getPayoutStatus(user.user_token, payout.payout_token);
    assert.equal(status.status, 'COMPLETED');
    assert.equal(await usd(), '249896.51');
  } finally {
    await sb.stop();
  }
  assert.notEqual(sb.process.exitCode ?? sb.process.signalCode, null, 'the process is gone');
  assert.equal(sb.process.exitCode, 0, 'a graceful stop exits 0');
});

test('start() rejects, with the reason, when the sandbox cannot start', async () => {
  await assert.rejects(sandbox.start({ scenarios: ['no_such_scenario'] }), /no_such_scenario/);
});
