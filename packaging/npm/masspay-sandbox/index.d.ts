import type { ChildProcess } from "node:child_process";

export interface StartOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Scenarios active for every request (e.g. ["insufficient_funds"]). */
  scenarios?: string[];
  /** Seed for deterministic tokens. */
  seed?: number;
  /** Accept only these API keys (default: any non-empty key). */
  apiKeys?: string[];
  /** Initial test-clock time. */
  startTime?: string | Date;
  /** A directory of your own scenario files (NAME.json). */
  scenariosDir?: string;
  /** A directory of fixture files replacing the embedded ones. */
  fixturesDir?: string;
  /** Send every tenant's webhooks here. */
  webhookUrls?: string[];
  webhookSecret?: string;
  /** More command-line flags. */
  args?: string[];
  /** Extra environment for the sandbox process. */
  env?: Record<string, string>;
  /** A masspay-sandbox binary to run instead of the installed platform package's. */
  binary?: string;
  /** How long to wait for the `listening on` line (default 10000). */
  timeoutMs?: number;
}

export interface Sandbox {
  /** `http://127.0.0.1:PORT`: add `/v1.0.0` or `/v0.1.4` for the MassPay API. */
  url: string;
  port: number;
  process: ChildProcess;
  /** SIGTERM, then resolves once the process has exited. */
  stop(): Promise<void>;
}

export function start(options?: StartOptions): Promise<Sandbox>;
/** The path of this platform's binary. */
export function binaryPath(): string;
/** The name of this platform's binary package. */
export function platformPackage(): string;
