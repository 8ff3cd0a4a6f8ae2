"use strict";
// masspay-sandbox for Node: find this platform's binary, or start a sandbox for a test suite.
//
//   const { start } = require("masspay-sandbox");
//   const sb = await start({ seed: 42, scenarios: ["slow"] });
//   // point your MassPay client at `${sb.url}/v1.0.0` (or /v0.1.4)
//   await sb.stop();

const { spawn } = require("node:child_process");
const path = require("node:path");

/** Whether this Linux runs on musl (Alpine): Node reports no glibc version there. */
function isMusl() {
  if (process.platform !== "linux") return false;
  try {
    return !process.report.getReport().header.glibcVersionRuntime;
  } catch {
    return false;
  }
}

/** The platform package holding this machine's binary (biome/esbuild layout). */
function platformPackage() {
  return `masspay-sandbox-${process.platform}-${process.arch}${isMusl() ? "-musl" : ""}`;
}

/** The path of this platform's masspay-sandbox binary (MASSPAY_SANDBOX_BINARY overrides it). */
function binaryPath() {
  if (process.env.MASSPAY_SANDBOX_BINARY) return process.env.MASSPAY_SANDBOX_BINARY;
  const pkg = platformPackage();
  const exe = process.platform === "win32" ? "masspay-sandbox.exe" : "masspay-sandbox";
  // The Linux binaries are static: either libc's package serves (npm installs the one whose
  // `libc` field matches, but a lockfile made elsewhere may hold the other).
  const base = `masspay-sandbox-${process.platform}-${process.arch}`;
  for (const candidate of [pkg, base, `${base}-musl`]) {
    try {
      return require.resolve(`${candidate}/bin/${exe}`);
    } catch {
      // try the next
    }
  }
  throw new Error(
    `masspay-sandbox: no binary for ${process.platform}-${process.arch}: the optional dependency ` +
      `"${pkg}" is not installed (was it skipped by --no-optional or --omit=optional?). ` +
      `Reinstall with optional dependencies, or set MASSPAY_SANDBOX_BINARY to a masspay-sandbox binary.`
  );
}

/** Flags for the options of start(). */
function flags(o) {
  const a = ["--port", String(o.port ?? 0)];
  if (o.host) a.push("--host", o.host);
  for (const s of o.scenarios ?? []) a.push("--scenario", s);
  for (const k of o.apiKeys ?? []) a.push("--api-key", k);
  for (const u of o.webhookUrls ?? []) a.push("--webhook-url", u);
  if (o.seed !== undefined) a.push("--seed", String(o.seed));
  if (o.startTime) a.push("--start-time", o.startTime instanceof Date ? o.startTime.toISOString() : o.startTime);
  if (o.scenariosDir) a.push("--scenarios", path.resolve(o.scenariosDir));
  if (o.fixturesDir) a.push("--fixtures", path.resolve(o.fixturesDir));
  if (o.webhookSecret) a.push("--webhook-secret", o.webhookSecret);
  return a.concat(o.args ?? []);
}

const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * Starts a sandbox on a free port (unless `port` is given) and resolves once it listens.
 * @param {import("./index").StartOptions} [options]
 * @returns {Promise<import("./index").Sandbox>}
 */
function start(options = {}) {
  const bin = options.binary ?? binaryPath();
  // The sandbox's own env twins would override the options: start from a clean slate.
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("MASSPAY_SANDBOX_") && k !== "MASSPAY_SANDBOX_LOG") delete env[k];
  Object.assign(env, options.env ?? {});
  const child = spawn(bin, flags(options), { env, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => {
    running.delete(child);
    resolve({ code, signal });
  }));
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`masspay-sandbox did not start within ${options.timeoutMs ?? 10000} ms: ${stderr}`));
    }, options.timeoutMs ?? 10000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`masspay-sandbox exited (${signal ?? code}) before listening: ${stderr.trim()}`));
    });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout.removeAllListeners("data");
      child.stdout.resume();
      const url = m[1].replace("://0.0.0.0:", "://127.0.0.1:");
      resolve({
        url,
        port: Number(new URL(url).port),
        process: child,
        stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          return exited.then(() => undefined);
        },
      });
    });
  });
}

module.exports = { start, binaryPath, platformPackage };
