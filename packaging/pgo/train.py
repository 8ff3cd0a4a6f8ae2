#!/usr/bin/env python3
"""The training run of a profile-guided build (packaging/pgo/profile.sh): starts an instrumented
server binary on a free loopback port, sends it the requests integrations send most, stops it
with SIGTERM (so it exits normally and writes its profile), and fails if the workload did not run.

    python3 packaging/pgo/train.py BINARY [--seconds 8] [--threads 4]

The mix, per thread on its own keep-alive connection: the payout flow (initiate + commit) most,
then GET /account/balance, POST /user and a payout's status; a few requests the sandbox refuses
(malformed JSON, an unknown route, a missing key) so error paths are known to be rare rather than
unknown. Both API versions. Works against the bench's bare server too (its answers are fixed; the
sandbox's admin route it lacks is answered 404, which is fine here).

Standard library only, like tests/dist/seed_flow.py.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

SOURCE = "clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574"
DESTINATION = "dst_d2138fd0-00be-45a8-985f-4f5bde500962"
WALLET_ATTR = "attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c"
ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive connection with one API key."""

    def __init__(self, port, key):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(self, method, path, body=None, raw=None):
        """(status, parsed JSON or None); (0, None) if the request could not be sent twice. A
        server may close a connection after refusing a request (the bare server does, on a
        route it lacks): the request is then sent again on a new one."""
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                res = self.conn.getresponse()
                text = res.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                if attempt == 2:
                    return 0, None
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return res.status, parsed


def user_body(tag, n):
    return {
        "internal_user_id": f"pgo-{tag}-{n}",
        "address1": "2000 main st",
        "city": "Santa Monica",
        "state_province": "CA",
        "postal_code": "90405",
        "country": "USA",
        "first_name": "John",
        "last_name": "Doe",
        "email": f"pgo-{tag}-{n}@example.com",
        "mobile_number": "16502000226",
        "date_of_birth": "1975-03-24",
        "metadata": {"group_id": 541},
    }


def initiate_body(ctid):
    return {
        "client_transfer_id": ctid,
        "source_currency_code": "USD",
        "destination_currency_code": "BTC",
        "source_token": SOURCE,
        "destination_token": DESTINATION,
        "source_amount": 10,
        "metadata": {"group_id": 541},
    }


def work(port, tag, deadline, counts, lock):
    c = Client(port, f"pgo_{tag}")
    ok = {"pairs": 0, "balance": 0, "users": 0}
    _, user = c.call("POST", "/v0.1.4/user", user_body(tag, 0))
    token = (user or {}).get("user_token", "usr_unknown")
    c.call("PUT", "/_sandbox/balance", {"currency_code": "USD", "balance": "100000000000"})
    c.call("POST", f"/v0.1.4/attribute/{token}/{DESTINATION}/BTC",
           {"values": [{"token": WALLET_ATTR, "value": ADDRESS}]})
    n = 0
    while time.monotonic() < deadline:
        n += 1
        version = "v1.0.0" if n % 8 == 0 else "v0.1.4"
        status, payout = c.call("POST", f"/{version}/payout/{token}", initiate_body(f"pgo-{tag}-{n}"))
        payout_token = (payout or {}).get("payout_token", "")
        if status == 200 and payout_token:
            status, _ = c.call("PUT", f"/{version}/payout/{token}/{payout_token}")
            if status == 200:
                ok["pairs"] += 1
        # API 1.0.0 puts the account and user operations under /payout.
        under = "/v1.0.0/payout" if version == "v1.0.0" else "/v0.1.4"
        if n % 2 == 0 and c.call("GET", f"{under}/account/balance")[0] == 200:
            ok["balance"] += 1
        if n % 3 == 0 and c.call("POST", f"{under}/user", user_body(tag, n))[0] == 200:
            ok["users"] += 1
        if n % 5 == 0 and payout_token:
            c.call("GET", f"/{version}/payout/{token}/{payout_token}")
        if n % 50 == 0:
            c.call("POST", f"/v0.1.4/payout/{token}", raw='{"source_amount": ')
            c.call("GET", "/v0.1.4/no/such/route")
    with lock:
        for k, v in ok.items():
            counts[k] = counts.get(k, 0) + v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()

    port = free_port()
    server = subprocess.Popen([args.binary, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/health")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit(f"train: {args.binary} did not answer /health on port {port}")
        counts, lock = {}, threading.Lock()
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=work, args=(port, f"t{i}", deadline, counts, lock))
                   for i in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        # SIGTERM: the server stops gracefully and its instrumentation writes the profile at exit.
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            sys.exit("train: the server did not stop within 60 s of SIGTERM (no profile written)")
    print(f"train: {os.path.basename(args.binary)}: {counts}", file=sys.stderr)
    if code != 0:
        sys.exit(f"train: the server exited with {code}")
    if not all(counts.get(k) for k in ("pairs", "balance", "users")):
        sys.exit(f"train: part of the workload never succeeded: {counts}")


if __name__ == "__main__":
    main()
