"""masspay-sandbox for Python: start the bundled binary for a test session.

    from masspay_sandbox import start
    with start(seed=42) as base_url:      # http://127.0.0.1:PORT
        ...                               # point your MassPay client at base_url + "/v1.0.0"
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading

__all__ = ["binary_path", "start"]


def binary_path():
    """The masspay-sandbox executable this package installed (MASSPAY_SANDBOX_BINARY overrides)."""
    if os.environ.get("MASSPAY_SANDBOX_BINARY"):
        return os.environ["MASSPAY_SANDBOX_BINARY"]
    exe = "masspay-sandbox" + (".exe" if sys.platform == "win32" else "")
    candidate = os.path.join(sysconfig.get_path("scripts"), exe)
    if os.path.exists(candidate):
        return candidate
    found = shutil.which(exe)
    if not found:
        raise FileNotFoundError(f"{exe} is not installed next to this package or on PATH")
    return found


@contextlib.contextmanager
def start(*args, seed=None, scenarios=(), timeout=10.0, env=None):
    """Starts a sandbox on a free port; yields its base URL; stops it (SIGTERM) on exit."""
    cmd = [binary_path(), "--port", "0", *args]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    for s in scenarios:
        cmd += ["--scenario", s]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("MASSPAY_SANDBOX_")}
    child_env.update(env or {})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env)
    line = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not line or not line[0].startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"masspay-sandbox did not start: {proc.stderr.read() if proc.poll() is not None else 'timeout'}")
    try:
        yield line[0][len("listening on "):].strip()
    finally:
        if proc.poll() is None:
            if sys.platform == "win32":
                proc.terminate()
            else:
                proc.send_signal(signal.SIGTERM)  # a graceful stop: in-flight requests finish
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
