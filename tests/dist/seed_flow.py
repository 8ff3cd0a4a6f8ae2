#!/usr/bin/env python3
"""MassPay's six-step crypto payout (the seed guide) against a running sandbox, with Python's
standard library only — what a user of any distribution channel runs first.

    python3 tests/dist/seed_flow.py http://127.0.0.1:8080 [--webhook-port 9000]

With --webhook-port it also listens there for the sandbox's webhooks (start the sandbox with
--webhook-url pointing at this port, by any host name that resolves to this machine) and checks
that the payout's notifications arrive signed. Exits non-zero, saying what failed, otherwise.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

SOURCE = "clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574"
DESTINATION = "dst_d2138fd0-00be-45a8-985f-4f5bde500962"
WALLET_ATTR = "attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c"
SECRET = b"sandbox_webhook_secret"


def call(base, method, path, key, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def check(cond, what):
    if not cond:
        print("seed flow FAILED:", what, file=sys.stderr)
        sys.exit(1)


def balance(base, key, currency):
    status, body = call(base, "GET", "/v0.1.4/account/balance", key)
    check(status == 200, f"balance answered {status} {body}")
    return next(str(a["balance"]) for a in body if a["currency_code"] == currency)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("--webhook-port", type=int)
    args = p.parse_args()
    base = args.base.rstrip("/")
    key = "seed-flow-" + uuid.uuid4().hex

    received = []
    if args.webhook_port:
        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sig = self.headers.get("X-MassPay-Signature", "")
                parts = dict(x.split("=", 1) for x in sig.split(",") if "=" in x)
                want = hmac.new(SECRET, f"{parts.get('t')}|".encode() + raw, hashlib.sha512).hexdigest()
                received.append((json.loads(raw), parts.get("s") == want))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        server = http.server.ThreadingHTTPServer(("0.0.0.0", args.webhook_port), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    with urllib.request.urlopen(base + "/health", timeout=10) as r:
        check(r.status == 200, "/health")
    check(balance(base, key, "USD") == "250000", "the starting USD balance is 250000")
    status, user = call(base, "POST", "/v0.1.4/user", key, {
        "internal_user_id": "4324-rOzk", "address1": "2000 main st", "address2": "apt D",
        "city": "Santa Monica", "state_province": "CA", "postal_code": "90405", "country": "USA",
        "first_name": "John", "middle_name": "", "last_name": "Doe", "email": "jdoe@gmail.com",
        "language": "en", "mobile_number": "16502000226", "business_name": "ABC Company",
        "date_of_birth": "1975-03-24", "metadata": {"group_id": 541}})
    check(status == 200, f"create user: {status} {user}")
    u = user["user_token"]
    status, best = call(base, "GET", "/v0.1.4/country/MEX/best", key)
    check(status == 200 and DESTINATION in json.dumps(best), f"best services: {status}")
    status, _ = call(base, "POST", f"/v0.1.4/attribute/{u}/{DESTINATION}/BTC", key, {
        "values": [{"token": WALLET_ATTR, "value": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}]})
    check(status == 200, f"store attributes: {status}")
    status, payout = call(base, "POST", f"/v0.1.4/payout/{u}", key, {
        "client_transfer_id": "aEjn345", "source_currency_code": "USD",
        "destination_currency_code": "BTC", "source_token": SOURCE,
        "destination_token": DESTINATION, "source_amount": 100.5, "metadata": {"group_id": 541}})
    check(status == 200 and payout.get("status") == "PENDING", f"initiate: {status} {payout}")
    t = payout["payout_token"]
    status, commit = call(base, "PUT", f"/v0.1.4/payout/{u}/{t}", key)
    check(status == 200 and commit.get("status") == "success", f"commit: {status} {commit}")
    status, got = call(base, "GET", f"/v0.1.4/payout/{u}/{t}", key)
    check(status == 200 and got.get("status") == "COMPLETED", f"status: {status} {got}")
    check(balance(base, key, "USD") == "249896.51", "USD balance after 100.5 + 2.99 fee")

    if args.webhook_port:
        deadline = time.time() + 15
        while time.time() < deadline and not any(
            b.get("payout_token") == t and b.get("status") == "COMPLETED" for b, _ in received
        ):
            time.sleep(0.1)
        mine = [(b, ok) for b, ok in received if b.get("payout_token") == t]
        check(any(b.get("status") == "COMPLETED" for b, _ in mine),
              f"a COMPLETED webhook for {t} arrived (got {len(received)} webhooks)")
        check(all(ok for _, ok in mine), "every webhook is signed with the sandbox's secret")
    print(f"seed flow ok: payout {t} COMPLETED, USD 249896.51"
          + (f", {len(received)} signed webhooks" if args.webhook_port else ""))


if __name__ == "__main__":
    main()
