#!/usr/bin/env python3
"""The growth run (issue 16): POST /user p99 while one tenant's store grows from 0 to ~10^6
users, and the commit flow's p99 while its payouts grow the same way, each on a fresh process,
the sandbox beside the baseline. A latency cliff (a lock held across a whole-table rehash) shows
here as a p99 far above the baseline's.

    bench/run.sh builds the binaries; then: python3 bench/growth.py   (GROWTH_SECONDS=30)

A tenant holds at most 2,000,000 users (README, "Limits"): where POST /user runs faster than
~66 k/s, shorten GROWTH_SECONDS (18 s at ~95 k/s), or the cap's 422s fail the run.

Uses bench.py's servers, wrk driver and Lua scripts; prints a markdown table.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402

SECONDS = int(os.environ.get("GROWTH_SECONDS", "30"))


def grow(name, binary, kind):
    s = B.Server(name, binary, f"growth-{kind}")
    try:
        if kind == "users":
            r = B.wrk(s, "/v0.1.4/user", SECONDS, "post_user.lua", ["g"], label="growth users")
            return r["requests"], r["p99"]
        user = s.setup_payouts()
        r = B.wrk(s, f"/v0.1.4/payout/{user}", SECONDS, "commit_flow.lua", [user, "g"],
                  label="growth payouts")
        if r["bench"].get("failures"):
            raise B.BenchError(f"{name}: {r['bench']['failures']} unexpected answers")
        return r["bench"]["initiates"], r["p99"]
    finally:
        s.close()


def main():
    rows = []
    for kind, what in (("users", "POST /user"), ("payouts", "initiate + commit")):
        b_n, b_p99 = grow("baseline", B.BASELINE_BIN, kind)
        s_n, s_p99 = grow("sandbox", B.SANDBOX_BIN, kind)
        rows.append(f"| {what} p99 while 0 → {s_n:,} {kind} are stored | {b_p99:.2f} ms | "
                    f"{s_p99:.2f} ms | {s_p99 / b_p99:.2f} × |")
    print(f"Growth run: one fresh process per row and server, wrk -t{B.THREADS} "
          f"-c{B.CONNECTIONS} -d{SECONDS}s, one tenant.\n")
    print("| measure | baseline | sandbox | sandbox/baseline |\n|---|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
