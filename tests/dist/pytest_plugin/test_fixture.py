"""The wheel's pytest plugin, as a user's test suite uses it (run by tests/dist/wheel.sh)."""

import json
import urllib.request


def test_the_fixture_yields_a_running_sandbox(masspay_sandbox):
    assert masspay_sandbox.startswith("http://127.0.0.1:")
    req = urllib.request.Request(
        masspay_sandbox + "/v1.0.0/payout/account/balance",
        headers={"Authorization": "Bearer pytest-plugin"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        balances = json.loads(r.read())
    usd = next(b for b in balances if b["currency_code"] == "USD")
    assert str(usd["balance"]) == "250000"


def test_the_session_shares_one_sandbox(masspay_sandbox):
    with urllib.request.urlopen(masspay_sandbox + "/health", timeout=10) as r:
        assert r.status == 200
