#!/usr/bin/env python3
"""Memory per fresh tenant (SPEC §8): RSS growth of a release binary over N first requests
(GET /account/balance) with distinct API keys.

    python3 bench/tenant_memory.py target/release/masspay-sandbox [N=5000]
"""
import subprocess, sys, time, http.client, re
binary = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv)>2 else 5000
p = subprocess.Popen([binary, "--port", "0", "--max-tenants", "100000"], stdout=subprocess.PIPE, text=True)
line = p.stdout.readline(); port = int(line.strip().rsplit(":",1)[1])
def rss(): return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{p.pid}/status").read()).group(1))
c = http.client.HTTPConnection("127.0.0.1", port)
def get(key, path="/v0.1.4/account/balance"):
    c.request("GET", path, headers={"Authorization": f"Bearer {key}"}); r = c.getresponse(); r.read(); return r.status
for i in range(200): get(f"warm-{i}")
time.sleep(0.3); before = rss()
for i in range(n): assert get(f"tenant-{i}") == 200
time.sleep(0.3); after = rss()
print(f"RSS {before} kB -> {after} kB over {n} fresh tenants: {(after-before)*1024/n:.0f} B per tenant")
p.terminate(); p.wait()
