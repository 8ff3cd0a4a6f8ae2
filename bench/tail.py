#!/usr/bin/env python3
"""The commit flow's latency distribution, the sandbox beside the baseline (issue 16's tail).

bench/run.sh reports one number for the commit flow's tail, the p99, and on this 2-CPU machine
that number moves by 2x between runs. This prints the whole distribution (p50 … p99.9) of each
server in fresh processes, alternating, with the server's and wrk's CPU per pair, so a difference
can be placed: a slower server moves every percentile, the way four busy threads share two CPUs
moves only the upper ones.

    bench/run.sh builds the binaries; then: python3 bench/tail.py
    TAIL_SECONDS=8 TAIL_REPS=3; PIN=1 runs wrk on CPU 0 and the server on CPU 1 (not SPEC §8's rig:
    it shows what is left of the tail when client and server do not take turns on the same CPUs).

Uses bench.py's servers and commit_flow.lua.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402

SECONDS = int(os.environ.get("TAIL_SECONDS", "8"))
REPS = int(os.environ.get("TAIL_REPS", "3"))
PIN = os.environ.get("PIN") == "1"
PERCENTILES = (50, 80, 90, 95, 97, 98, 99, 99.5, 99.9)

# commit_flow.lua, with a done() that also prints the percentiles (wrk's latency in µs).
SCRIPT = """dofile(%r)
local counts = done
function done(summary, latency, requests)
   counts(summary, latency, requests)
   local t = {}
   for _, p in ipairs({%s}) do t[#t + 1] = string.format("%%.3f", latency:percentile(p) / 1000) end
   io.write("TAIL " .. table.concat(t, " ") .. "\\n")
end
""" % (os.path.join(B.LUA, "commit_flow.lua"), ", ".join(str(p) for p in PERCENTILES))


def one(name, binary, rnd, script):
    s = B.Server(name, binary, f"tail{rnd}")
    try:
        time.sleep(0.2)
        user = s.setup_payouts()
        if PIN:
            subprocess.run(["taskset", "-a", "-p", "-c", "1", str(s.proc.pid)], check=True,
                           capture_output=True)
        r = B.wrk(s, f"/v0.1.4/payout/{user}", SECONDS, script, [user, f"t{rnd}"],
                  label="tail", prefix=["taskset", "-c", "0"] if PIN else [])
    finally:
        s.close()
    commits, failures = r["bench"].get("commits", 0), r["bench"].get("failures", 0)
    if failures or not commits:
        raise B.BenchError(f"{name}: {failures} unexpected answers, {commits} commits")
    tail = [float(x) for x in r["stdout"].split("TAIL ", 1)[1].split()]
    return (commits / SECONDS, r["cpu_s"] * 1e6 / commits,
            r["wrk_cpu_us"] * r["requests"] / commits, tail)


def main():
    script = os.path.join(B.WORK, "tail.lua")
    os.makedirs(B.WORK, exist_ok=True)
    with open(script, "w") as f:
        f.write(SCRIPT)
    head = " | ".join(f"p{p}" for p in PERCENTILES)
    print(f"commit flow, {SECONDS} s, -t{B.THREADS} -c{B.CONNECTIONS}"
          f"{', wrk on CPU 0 and the server on CPU 1' if PIN else ''} (latencies in ms)\n")
    print(f"| round | server | pairs/s | server µs/pair | wrk µs/pair | {head} |")
    print("|---|---|---:|---:|---:|" + "---:|" * len(PERCENTILES))
    for rnd in range(1, REPS + 1):
        order = list(B.SERVERS.items())
        if rnd % 2 == 0:
            order.reverse()
        for name, binary in order:
            rate, srv, wrk_cpu, tail = one(name, binary, rnd, script)
            cells = " | ".join(f"{t:.2f}" for t in tail)
            print(f"| {rnd} | {name} | {rate:,.0f} | {srv:.1f} | {wrk_cpu:.1f} | {cells} |",
                  flush=True)


if __name__ == "__main__":
    try:
        main()
    except B.BenchError as e:
        print(f"tail: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
