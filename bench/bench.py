#!/usr/bin/env python3
"""The measurements of bench/run.sh (SPEC §8): sandbox vs. the bare axum baseline, back to back.

Standard library only. run.sh builds the binaries and installs wrk, then runs this file. Every
knob is an environment variable (see bench/README.md): ROUNDS, DURATION, STARTS, CONNECTIONS,
THREADS, PAYOUTS, QUICK, STRICT, RESULTS_DIR, SANDBOX_BIN, BASELINE_BIN.
"""

import datetime
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, "work")
LUA = os.path.join(BENCH, "lua")

KEY = "bench"
AUTH = {"Authorization": "Bearer " + KEY}
USD_WALLET = "clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574"
BTC_DEST = "dst_d2138fd0-00be-45a8-985f-4f5bde500962"
BTC_ATTR = {
    "values": [
        {
            "token": "attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c",
            "value": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        }
    ]
}
SETUP_USER = {
    "internal_user_id": "bench-setup",
    "country": "USA",
    "first_name": "Bench",
    "last_name": "Setup",
    "email": "bench-setup@example.com",
}


def env_int(name, default):
    v = os.environ.get(name, "").strip()
    return int(v) if v else default


QUICK = os.environ.get("QUICK", "") not in ("", "0")
STRICT = os.environ.get("STRICT", "") not in ("", "0")
ROUNDS = env_int("ROUNDS", 1 if QUICK else 3)
DURATION = env_int("DURATION", 2 if QUICK else 10)
STARTS = env_int("STARTS", 10)  # per round and per server
CONNECTIONS = env_int("CONNECTIONS", 32)
THREADS = env_int("THREADS", 2)
PAYOUTS = env_int("PAYOUTS", 10_000 if QUICK else 1_000_000)
WARMUP = env_int("WARMUP", 1)
QUIET_WAIT = env_int("QUIET_WAIT", 0 if QUICK else 180)  # s the whole run may wait for quiet
QUIET_PCT = env_int("QUIET_PCT", 10)  # "quiet": others use < this % of one CPU over 1 s
SANDBOX_BIN = os.environ.get("SANDBOX_BIN", os.path.join(REPO, "target/release/masspay-sandbox"))
BASELINE_BIN = os.environ.get(
    "BASELINE_BIN", os.path.join(BENCH, "target/release/masspay-baseline")
)
RESULTS_DIR = os.environ.get(
    "RESULTS_DIR", WORK if QUICK else os.path.join(BENCH, "results")
)

SERVERS = {"baseline": BASELINE_BIN, "sandbox": SANDBOX_BIN}


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----- noise: CPU taken by other processes ------------------------------------------------------


class CpuMeter:
    """CPU time that processes outside this bench used while measuring, as % of one CPU.

    A background thread reads /proc every 0.5 s and keeps, for every process that is not this
    script or one of its descendants (wrk, the servers), the CPU (utime + stime) it used since the
    meter started (in full for a process that appeared since). Processes that live less than a
    sampling interval are missed, so it errs low. Reaped-children times are deliberately not used:
    they count a child again in every ancestor that reaps it (bash reaping cargo, init reaping
    bash). Whole-machine /proc/stat minus our own times is no good either: loopback softirq work
    lands in one or the other depending on the kernel's accounting. Above a few % means someone
    else shared the CPUs with the bench."""

    INTERVAL = 0.5

    def __init__(self):
        import threading

        self.tick = os.sysconf("SC_CLK_TCK")
        self.t0 = time.monotonic()
        self.first = {}  # pid -> (name, CPU ticks when first seen; 0 for processes born since)
        self.last = {}  # pid -> CPU ticks when last seen
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.sample(initial=True)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.wait(self.INTERVAL):
            self.sample()

    def sample(self, initial=False):
        procs = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            name = text[text.find("(") + 1:text.rfind(")")]
            fields = text.rsplit(")", 1)[1].split()
            procs[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]), name)
        ours = {os.getpid()}
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _, _) in procs.items():
                if ppid in ours and pid not in ours:
                    ours.add(pid)
                    grew = True
        with self.lock:
            for pid, (_, t, name) in procs.items():
                if pid in ours:
                    continue
                if pid not in self.first:
                    self.first[pid] = (name, t if initial else 0)
                self.last[pid] = t

    def others(self):
        """(% of one CPU, 'name %, …' of the biggest consumers) since the meter started."""
        self.sample()
        wall = max(time.monotonic() - self.t0, 1e-9)
        by_name = {}
        with self.lock:
            for pid, (name, t0) in self.first.items():
                d = self.last.get(pid, t0) - t0
                if d > 0:
                    by_name[name] = by_name.get(name, 0) + d
        pct = {n: d / self.tick / wall * 100 for n, d in by_name.items()}
        top = sorted(pct.items(), key=lambda kv: -kv[1])[:3]
        return sum(pct.values()), ", ".join(f"{n} {p:.0f} %" for n, p in top if p >= 1)

    def close(self):
        self.stopped.set()
        self.thread.join()


def wait_quiet_sample():
    m = CpuMeter()
    time.sleep(1.0)
    r = m.others()
    m.close()
    return r


QUIET_LEFT = [float(QUIET_WAIT)]


def wait_quiet(what):
    """Waits until other processes use < QUIET_PCT % of a CPU over 1 s, out of a budget of
    QUIET_WAIT s for the whole run. Returns the seconds waited, or None when it gave up."""
    if QUIET_WAIT <= 0:
        return 0.0
    t0 = time.monotonic()
    while True:
        pct, who = wait_quiet_sample()
        waited = time.monotonic() - t0
        if pct < QUIET_PCT:
            QUIET_LEFT[0] = max(0.0, QUIET_LEFT[0] - waited)
            if waited > 1.5:
                log(f"{what}: machine quiet after {waited:.0f} s")
            return waited
        if waited >= QUIET_LEFT[0]:
            QUIET_LEFT[0] = 0.0
            log(f"{what}: busy ({pct:.0f} % of a CPU: {who}); wait budget used up, going on")
            return None
        if int(waited) % 10 == 0:
            log(f"{what}: waiting for a quiet machine ({pct:.0f} % of a CPU: {who})")


# ----- processes --------------------------------------------------------------------------------


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, name, strict=True):
    """SIGTERM, then check for a graceful exit (code 0) within 10 s. Returns the exit code; with
    strict, anything but 0 is an error."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BenchError(f"{name} did not stop within 10 s of SIGTERM")
    if code != 0 and strict:
        raise BenchError(f"{name} exited with code {code} on SIGTERM")
    return code


def start_to_ready(name, binary):
    """Spawn → first 200 on /health, in ms, VmRSS (kB) right then, and the exit code of the
    SIGTERM sent right after (0 = graceful; a server that installs its signal handlers only after
    it starts answering can die of that SIGTERM instead: counted and reported, not fatal).

    The port is picked beforehand so the probe can poll from the moment of the spawn: a tight
    loop of connect() (refused until the server binds), then one GET /health on the connection
    that succeeded. perf_counter_ns around the whole thing, Popen included."""
    port = free_port()
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                s.connect(("127.0.0.1", port))
            except (ConnectionRefusedError, ConnectionResetError):
                s.close()
                if proc.poll() is not None:
                    raise BenchError(f"{name} exited with {proc.returncode} before it was ready")
                if time.perf_counter_ns() - t0 > 10e9:
                    raise BenchError(f"{name} not ready after 10 s")
                continue
            try:
                s.sendall(request)
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (ConnectionResetError, BrokenPipeError):
                continue
            finally:
                s.close()
            if data.startswith(b"HTTP/1.1 200"):
                break
            if time.perf_counter_ns() - t0 > 10e9:
                raise BenchError(f"{name} /health answered {data[:40]!r}")
        ms = (time.perf_counter_ns() - t0) / 1e6
        rss = rss_kb(proc.pid)
    finally:
        code = stop(proc, name, strict=False)
    if code not in (0, -signal.SIGTERM):
        raise BenchError(f"{name} exited with code {code} on SIGTERM")
    return ms, rss, code


class Server:
    """A server on a free port (--port 0), its address read from the `listening on` line."""

    def __init__(self, name, binary, tag):
        self.name = name
        os.makedirs(WORK, exist_ok=True)
        self.stderr = open(os.path.join(WORK, f"{name}-{tag}.stderr"), "wb")
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        line = self.proc.stdout.readline().decode().strip()
        m = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        if not m:
            self.proc.kill()
            raise BenchError(f"{name}: unexpected first line {line!r}")
        self.url = m.group(1)
        self.port = int(m.group(2))

    def cpu_s(self):
        """utime + stime of the server process (all threads), in seconds."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self):
        self.check_alive()
        return rss_kb(self.proc.pid)

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} died (exit {self.proc.returncode}); see {self.stderr.name}")

    def call(self, method, path, body=None, expect=200):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = dict(AUTH)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        if r.status != expect:
            raise BenchError(f"{self.name}: {method} {path} → {r.status} {text[:300]}")
        return json.loads(text) if text else None

    def setup_payouts(self):
        """A user with the BTC wallet attribute stored, and USD funded for any load."""
        user = self.call("POST", "/v0.1.4/user", SETUP_USER)["user_token"]
        if self.name == "sandbox":
            self.call(
                "PUT", "/_sandbox/balance", {"currency_code": "USD", "balance": "100000000000"}
            )
            self.call("POST", f"/v0.1.4/attribute/{user}/{BTC_DEST}/BTC", BTC_ATTR)
        return user

    def close(self):
        try:
            stop(self.proc, self.name)
        finally:
            self.stderr.close()


# ----- wrk ---------------------------------------------------------------------------------------

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * UNIT[m.group(2)]


def parse_wrk(out):
    r = {"non2xx": 0, "socket_errors": 0, "bench": {}}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise BenchError("wrk printed no Requests/sec:\n" + out)
    r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        r[f"p{pct}"] = to_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["socket_errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"^BENCH (.*)$", out, re.M)
    if m:
        r["bench"] = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    return r


_CHILD_CPU = [0.0]


def proc_cpu_of_last_child():
    """CPU seconds of the children reaped since the last call (here: the wrk just waited for)."""
    t = os.times()
    total = t.children_user + t.children_system
    d = total - _CHILD_CPU[0]
    _CHILD_CPU[0] = total
    return d


def wrk(server, path, seconds, script=None, args=(), label="", allow_non2xx=False, prefix=()):
    """wrk against `server` (after `prefix`, e.g. a taskset), parsed; "stdout" is its output."""
    cmd = [
        *prefix,
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {KEY}",
    ]
    if script:
        cmd += ["-s", os.path.join(LUA, script)]
    cmd.append(server.url + path)
    if args:
        cmd += ["--", *args]
    cpu0 = server.cpu_s()
    proc_cpu_of_last_child()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise BenchError(f"wrk did not finish: {' '.join(cmd)}")
    # communicate() reaped wrk; its CPU is in this process's children times.
    wrk_cpu = proc_cpu_of_last_child()
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {stderr}\n{stdout}")
    server.check_alive()
    r = parse_wrk(stdout)
    r["stdout"] = stdout
    r["cpu_s"] = server.cpu_s() - cpu0
    r["cpu_us"] = r["cpu_s"] * 1e6 / r["requests"] if r["requests"] else None
    r["wrk_cpu_us"] = wrk_cpu * 1e6 / r["requests"] if r["requests"] else None
    if (r["non2xx"] or r["socket_errors"]) and not allow_non2xx:
        raise BenchError(
            f"{server.name} {label}: {r['non2xx']} non-2xx answers, {r['socket_errors']} socket "
            f"errors under load (SPEC §8: no errors under load)\n{stdout}"
        )
    return r


# ----- the phases --------------------------------------------------------------------------------


def load_round(name, rnd):
    """One server: idle RSS, GET balance, POST user, RSS after load, commit flow."""
    s = Server(name, SERVERS[name], f"r{rnd}")
    try:
        time.sleep(0.2)
        res = {"idle_rss": s.rss()}
        wrk(s, "/v0.1.4/account/balance", WARMUP, label="warm-up")
        g = wrk(s, "/v0.1.4/account/balance", DURATION, label="GET balance")
        res.update(get_rps=g["rps"], get_p50=g["p50"], get_p99=g["p99"], get_cpu=g["cpu_us"],
                   get_wrk=g["wrk_cpu_us"])
        before_post = s.rss()
        p = wrk(s, "/v0.1.4/user", DURATION, "post_user.lua", [f"r{rnd}"], label="POST user")
        time.sleep(0.2)
        res["user_mem"] = (s.rss() - before_post) * 1024 / p["requests"] if p["requests"] else 0
        res.update(post_rps=p["rps"], post_p50=p["p50"], post_p99=p["p99"], users=p["requests"],
                   post_cpu=p["cpu_us"], post_wrk=p["wrk_cpu_us"])
        user = s.setup_payouts()
        c = wrk(s, f"/v0.1.4/payout/{user}", DURATION, "commit_flow.lua", [user, f"r{rnd}"],
                label="commit flow")
        b = c["bench"]
        if b.get("failures"):
            raise BenchError(f"{name} commit flow: {b['failures']} unexpected answers")
        res["pairs"] = b["commits"] / (b["duration_us"] / 1e6)
        res["pair_cpu"] = c["cpu_s"] * 1e6 / b["commits"] if b["commits"] else None
        res.update(flow_p50=c["p50"], flow_p99=c["p99"])
        res["load_rss"] = s.rss()
        log(
            f"round {rnd} {name}: GET {g['rps']:.0f}/s p99 {g['p99']:.2f} ms, "
            f"POST {p['rps']:.0f}/s, pairs {res['pairs']:.0f}/s, "
            f"RSS {res['idle_rss']} → {res['load_rss']} kB"
        )
    finally:
        s.close()
    return res


def memory_per_payout(n):
    """Sandbox only: RSS growth for n stored PENDING payouts (initiates, one user)."""
    s = Server("sandbox", SANDBOX_BIN, "fill")
    try:
        user = s.setup_payouts()
        # One initiate first so lazily built things (the tenant's maps, the deadline set) exist.
        s.call("POST", f"/v0.1.4/payout/{user}", {
            "client_transfer_id": "fill-first", "source_currency_code": "USD",
            "destination_currency_code": "BTC", "source_token": USD_WALLET,
            "destination_token": BTC_DEST, "source_amount": 10, "metadata": {"group_id": 541},
        })
        time.sleep(0.2)
        before = s.rss()
        per_thread = n // THREADS
        n = per_thread * THREADS
        marker = os.path.join(WORK, "fill-done-")
        for t in range(1, THREADS + 1):
            if os.path.exists(marker + str(t)):
                os.remove(marker + str(t))
        cap = max(60, n // 2000)  # seconds; wrk is stopped as soon as every thread is done
        cmd = [
            "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{cap}s", "-H",
            f"Authorization: Bearer {KEY}", "-s", os.path.join(LUA, "fill.lua"),
            f"{s.url}/v0.1.4/payout/{user}", "--", user, str(per_thread), marker, "fill",
        ]
        t0, cpu0 = time.monotonic(), s.cpu_s()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while proc.poll() is None:
            if all(os.path.exists(marker + str(t)) for t in range(1, THREADS + 1)):
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
        secs, cpu = time.monotonic() - t0, s.cpu_s() - cpu0
        if proc.returncode != 0:
            raise BenchError(f"wrk (fill) failed: {err}\n{out}")
        r = parse_wrk(out)
        b = r["bench"]
        if b.get("stored") != n or b.get("failures"):
            raise BenchError(f"fill: stored {b.get('stored')} of {n}, {b.get('failures')} failures\n{out}")
        time.sleep(0.5)
        after = s.rss()
        # The quotes expire 120 s after creation; the sweep then rewrites every payout
        # (CANCELLED + a status_reason). Move the tenant clock past that and measure again.
        s.call("POST", "/_sandbox/clock/advance", {"seconds": 121})
        time.sleep(2.5)
        expired = s.rss()
        log(f"fill: {n} payouts in {secs:.1f} s ({n / secs:.0f}/s); RSS {before} → {after} → {expired} kB")
        return {
            "n": n, "before": before, "after": after, "expired": expired, "secs": secs, "cpu_us": cpu * 1e6 / n,
            "per": (after - before) * 1024 / n, "per_expired": (expired - before) * 1024 / n,
        }
    finally:
        s.close()


# ----- report ------------------------------------------------------------------------------------


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO).stdout.strip()
    except OSError:
        return ""


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mb(kb):
    return f"{kb * 1024 / 1e6:.1f} MB"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def main():
    for name, path in SERVERS.items():
        if not os.access(path, os.X_OK):
            raise BenchError(f"{name} binary missing: {path} (run bench/run.sh)")
    os.makedirs(WORK, exist_ok=True)
    t_start = time.monotonic()
    whole = CpuMeter()
    log(f"rounds={ROUNDS} duration={DURATION}s starts={STARTS}/round connections={CONNECTIONS} "
        f"threads={THREADS} payouts={PAYOUTS} quick={QUICK}")

    starts = {"baseline": [], "sandbox": []}
    rounds = []
    for rnd in range(1, ROUNDS + 1):
        order = ["baseline", "sandbox"] if rnd % 2 else ["sandbox", "baseline"]
        wait_quiet(f"round {rnd} starts")
        for _ in range(STARTS):
            for name in order:
                starts[name].append(start_to_ready(name, SERVERS[name]))
        log(f"round {rnd} starts: baseline {med([m for m, _, _ in starts['baseline']]):.2f} ms, "
            f"sandbox {med([m for m, _, _ in starts['sandbox']]):.2f} ms (medians so far)")
        meter = CpuMeter()
        results = {}
        for name in order:
            wait_quiet(f"round {rnd} {name}")
            results[name] = load_round(name, rnd)
        rounds.append(results)
        rounds[-1]["others"], who = meter.others()
        meter.close()
        log(f"round {rnd}: other processes used {rounds[-1]['others']:.0f} % of a CPU ({who or '-'})")

    wait_quiet("fill")
    fill = memory_per_payout(PAYOUTS)
    elapsed = time.monotonic() - t_start
    others, others_who = whole.others()
    whole.close()

    # Medians of each measure; ratios are medians of the per-round (back-to-back) ratios.
    def m(name, key):
        return med([r[name][key] for r in rounds])

    def ratio(key):
        return med([r["sandbox"][key] / r["baseline"][key] for r in rounds if r["baseline"][key]])

    def cpu_estimate(kind):
        """Throughput ratio if the 2 CPUs were the bench's alone: load generator + server CPU per
        request, baseline over sandbox, per round, median."""
        est = []
        for r in rounds:
            b, s_ = r["baseline"], r["sandbox"]
            if None in (b[f"{kind}_cpu"], b[f"{kind}_wrk"], s_[f"{kind}_cpu"], s_[f"{kind}_wrk"]):
                continue
            est.append((b[f"{kind}_cpu"] + b[f"{kind}_wrk"]) / (s_[f"{kind}_cpu"] + s_[f"{kind}_wrk"]))
        return med(est)

    st = {n: med([ms for ms, _, _ in starts[n]]) for n in starts}
    st_rss = {n: med([kb for _, kb, _ in starts[n]]) for n in starts}
    killed = {n: sum(1 for _, _, code in starts[n] if code != 0) for n in starts}

    bars = [
        ("GET balance req/s ≥ 85 % of baseline", ratio("get_rps") >= 0.85,
         f"{ratio('get_rps') * 100:.1f} % (CPU-based estimate: {cpu_estimate('get') * 100:.0f} %)"),
        ("POST user req/s ≥ 80 % of baseline", ratio("post_rps") >= 0.80,
         f"{ratio('post_rps') * 100:.1f} % (CPU-based estimate: {cpu_estimate('post') * 100:.0f} %)"),
        ("initiate + commit pairs/s ≥ 75 % of baseline", ratio("pairs") >= 0.75,
         f"{ratio('pairs') * 100:.1f} %"),
        ("GET p99 ≤ 1.5 × baseline p99", ratio("get_p99") <= 1.5, f"{ratio('get_p99'):.2f} ×"),
        ("POST p99 ≤ 3 × baseline p99 (this run; bench/growth.py for 10^6 users)",
         ratio("post_p99") <= 3.0, f"{ratio('post_p99'):.2f} ×"),
        ("commit-flow p99 ≤ 2 × baseline p99", ratio("flow_p99") <= 2.0,
         f"{ratio('flow_p99'):.2f} ×"),
        ("start-to-ready ≤ 10 ms (median)", st["sandbox"] <= 10.0, f"{st['sandbox']:.2f} ms"),
        ("idle RSS ≤ 12 MB (12,000,000 B)", st_rss["sandbox"] * 1024 <= 12e6,
         f"{st_rss['sandbox'] * 1024 / 1e6:.1f} MB"),
        (f"≤ 2 KB (2,000 B) per stored payout at {fill['n']:,}", fill["per"] <= 2000,
         f"{fill['per']:.0f} B (after expiry: {fill['per_expired']:.0f} B)"),
        ("no errors under load", True, "0 non-2xx, 0 socket errors, 0 bad answers"),
    ]
    # Not a §8 bar, but README's promise: SIGTERM stops it gracefully, exit code 0.
    graceful = (
        f"| graceful stop on a SIGTERM sent right after the first 200 (README: exit code 0) | "
        f"{len(starts['baseline']) - killed['baseline']}/{len(starts['baseline'])} | "
        f"{len(starts['sandbox']) - killed['sandbox']}/{len(starts['sandbox'])}"
        + (" — **the others died of the signal (handlers not installed yet)**" if killed["sandbox"] else "")
        + " | — |"
    )

    commit = os.environ.get("BENCH_COMMIT", "")
    dirty = ""
    if not commit:
        commit = sh(["git", "--no-optional-locks", "rev-parse", "HEAD"]) or "unknown"
        dirty = sh(["git", "--no-optional-locks", "status", "--porcelain", "--", "src",
                    "Cargo.toml", "Cargo.lock", "fixtures", "scenarios", "build.rs"])
    now = datetime.datetime.now()
    kernel = platform.release()
    wrk_v = sh(["wrk", "-v"]).splitlines()
    wrk_v = wrk_v[0] if wrk_v else "wrk"

    def row(label, key, fmt, better, unit=""):
        b, s = m("baseline", key), m("sandbox", key)
        rr = ratio(key)
        return f"| {label} | {fmt.format(b)}{unit} | {fmt.format(s)}{unit} | {rr:.2f} ({better}) |"

    lines = [
        f"# masspay-sandbox benchmark — {now:%Y-%m-%d %H:%M}" + (" (QUICK smoke: timings not meaningful)" if QUICK else ""),
        "",
        f"- commit: `{commit}`" + (" (+ uncommitted changes in src/ or manifests)" if dirty else ""),
        f"- sandbox binary: `{os.path.relpath(SANDBOX_BIN, REPO)}`, baseline binary: "
        f"`{os.path.relpath(BASELINE_BIN, REPO)}`"
        + (f" (cargo profile `{os.environ['BENCH_PROFILE']}`" if os.environ.get("BENCH_PROFILE") else "")
        + ({("1", "1"): ", both profile-guided (packaging/pgo)",
            ("1", "0"): ", the sandbox profile-guided (packaging/pgo), the baseline not"}
           .get((os.environ.get("BENCH_PGO"), os.environ.get("BENCH_PGO_BASELINE")), ""))
        + (")" if os.environ.get("BENCH_PROFILE") else ""),
        f"- machine: {os.cpu_count()} CPUs (nproc {sh(['nproc'])}), {cpu_model()}, Linux {kernel}",
        f"- load: {wrk_v.split(' [')[0]}, -t{THREADS} -c{CONNECTIONS} -d{DURATION}s, loopback, "
        f"client and server on the same {os.cpu_count()} CPUs",
        f"- {ROUNDS} round(s), baseline and sandbox back to back (order alternating); "
        f"{STARTS * ROUNDS} starts each; values are medians, ratios are medians of the per-round "
        f"sandbox/baseline ratios; whole run {elapsed:.0f} s",
        f"- noise: other processes used {others:.0f} % of one CPU during the run"
        + (f" (mostly {others_who})" if others_who else "")
        + (" — **the machine was shared; treat the numbers as rough**" if others > 10 else ""),
        "",
        "| measure | baseline | sandbox | sandbox/baseline |",
        "|---|---:|---:|---:|",
        f"| start-to-ready (spawn → first 200 on /health), median of {len(starts['sandbox'])} | "
        f"{st['baseline']:.2f} ms | {st['sandbox']:.2f} ms | {st['sandbox'] / st['baseline']:.2f} |",
        f"| idle RSS (at ready) | {mb(st_rss['baseline'])} | {mb(st_rss['sandbox'])} | "
        f"{st_rss['sandbox'] / st_rss['baseline']:.2f} |",
        graceful,
        row("GET /account/balance req/s", "get_rps", "{:,.0f}", "higher is better"),
        row("GET p50", "get_p50", "{:.3f}", "lower is better", " ms"),
        row("GET p99", "get_p99", "{:.3f}", "lower is better", " ms"),
        row("POST /user req/s", "post_rps", "{:,.0f}", "higher is better"),
        row("POST p50", "post_p50", "{:.3f}", "lower is better", " ms"),
        row("POST p99", "post_p99", "{:.3f}", "lower is better", " ms"),
        f"| RSS after load (GET + POST ≈ {m('sandbox', 'users'):,.0f} users + commit flow) | "
        f"{mb(m('baseline', 'load_rss'))} | {mb(m('sandbox', 'load_rss'))} | "
        f"{ratio('load_rss'):.2f} |",
        row("commit flow: initiate+commit pairs/s", "pairs", "{:,.0f}", "higher is better"),
        row("server CPU per GET", "get_cpu", "{:.1f}", "lower is better", " µs"),
        row("wrk CPU per GET", "get_wrk", "{:.1f}", "lower is better", " µs"),
        row("server CPU per POST /user", "post_cpu", "{:.1f}", "lower is better", " µs"),
        row("wrk CPU per POST /user", "post_wrk", "{:.1f}", "lower is better", " µs"),
        row("server CPU per initiate+commit pair", "pair_cpu", "{:.1f}", "lower is better", " µs"),
        row("commit flow p99 (both requests)", "flow_p99", "{:.3f}", "lower is better", " ms"),
        f"| memory per stored user (RSS growth over the POST run ÷ users) | {m('baseline', 'user_mem'):.0f} B "
        f"| {m('sandbox', 'user_mem'):,.0f} B | — |",
        f"| memory per stored payout at {fill['n']:,} (PENDING) | — | {fill['per']:.0f} B | — |",
        f"| … the same payouts after their quotes expired (CANCELLED) | — | {fill['per_expired']:.0f} B | — |",
        "",
        f"Fill: {fill['n']:,} initiates in {fill['secs']:.1f} s ({fill['n'] / fill['secs']:,.0f}/s, "
        f"{fill['cpu_us']:.1f} µs server CPU each); "
        f"RSS {mb(fill['before'])} → {mb(fill['after'])}, {mb(fill['expired'])} after expiry "
        f"(MB = 10^6 bytes; VmRSS of /proc/PID/status).",
        "",
        "## SPEC §8 bars",
        "",
        "| bar | value | met? |",
        "|---|---:|:---:|",
    ]
    for label, ok, value in bars:
        lines.append(f"| {label} | {value} | {'met' if ok else '**not met**'} |")
    lines.append("")
    lines.append("Per round (baseline / sandbox):")
    lines.append("")
    lines.append("| round | GET req/s | GET p99 ms | POST req/s | pairs/s | other processes |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for i, r in enumerate(rounds, 1):
        b, s = r["baseline"], r["sandbox"]
        lines.append(
            f"| {i} | {b['get_rps']:,.0f} / {s['get_rps']:,.0f} | {b['get_p99']:.2f} / {s['get_p99']:.2f} "
            f"| {b['post_rps']:,.0f} / {s['post_rps']:,.0f} | {b['pairs']:,.0f} / {s['pairs']:,.0f} "
            f"| {r['others']:.0f} % of a CPU |"
        )
    lines.append("")
    report = "\n".join(lines)

    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = now.strftime("%Y-%m-%d-%H%M")
    name = f"{stamp}-quick.md" if QUICK else f"{stamp}.md"
    for fname in (name, "latest-quick.md" if QUICK else "latest.md"):
        with open(os.path.join(RESULTS_DIR, fname), "w") as f:
            f.write(report)
    print(report)
    log(f"written to {os.path.join(RESULTS_DIR, name)}")
    unmet = [label for label, ok, _ in bars if not ok]
    if STRICT and not QUICK and unmet:
        log("STRICT: bars not met: " + "; ".join(unmet))
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
