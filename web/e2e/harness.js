// What the end-to-end tests run against: the real API (`healthcare serve`) on a free port
// with its own SQLite file in a temporary folder, the built app behind `vite preview`
// (which proxies /graphql, WebSocket included, to the API), and Debian's Chromium.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT = path.resolve(WEB, "..");
export const SCREENSHOTS = path.join(WEB, "e2e", "screenshots");
export const PASSWORD = "demo-password-1"; // the demo accounts' (healthcare/demo.py)
const HEALTHCARE = process.env.HEALTHCARE_BIN ?? path.join(ROOT, ".venv", "bin", "healthcare");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

const children = new Set();
// If the test process ends early (an error, a timeout, Ctrl-C), take the servers with it.
process.on("exit", () => children.forEach((child) => child.kill("SIGKILL")));
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => process.exit(1));
}

export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function tempDir(prefix) {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function removeDir(dir) {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Poll `check` until it returns a value (not null, undefined or false: 0 counts); fail
 * with `what` after `timeout` ms. */
export async function eventually(check, what, timeout = 15_000, interval = 100) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/**
 * `healthcare serve` in development mode (it seeds the demo data into an empty database)
 * on 127.0.0.1:`port`, with everything under `dataDir`, and `env`'s settings on top
 * (TURN_URLS, VIDEO_CALL_OPENS_MINUTES_BEFORE, ...). start() and stop() may be called
 * again: same port, same data, as a restarted deployment would be.
 */
export class ApiServer {
  constructor({ port, dataDir, env = {} }) {
    this.port = port;
    this.dataDir = dataDir;
    this.extraEnv = env;
    this.url = `http://127.0.0.1:${port}`;
    this.output = "";
    this.process = null;
  }

  async start() {
    if (!existsSync(HEALTHCARE)) {
      throw new Error(`${HEALTHCARE} is missing: run \`make e2e\` (it installs the API first).`);
    }
    await mkdir(this.dataDir, { recursive: true });
    const env = {
      ...process.env,
      HEALTHCARE_ENV: "development",
      HOST: "127.0.0.1",
      PORT: String(this.port),
      DATA_DIR: this.dataDir,
      DATABASE_URL: `sqlite://${path.join(this.dataDir, "healthcare.sqlite3")}`,
      BROADCAST_URL: "memory://",
      RATE_LIMIT_URL: "memory://",
      LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? "WARNING",
      ...this.extraEnv,
    };
    const child = spawn(HEALTHCARE, ["serve"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    this.process = child;
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    child.exited = exited;
    const keep = (chunk) => {
      this.output = (this.output + chunk).slice(-20_000);
      if (process.env.E2E_VERBOSE) process.stderr.write(chunk);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    exited.then(() => children.delete(child));

    // Ready once /readyz answers 200 (database and pub/sub reachable), not merely listening;
    // a server that exits first fails at once.
    const gone = () => child.exitCode !== null || child.signalCode !== null; // stop polling
    const ready = eventually(
      async () => gone() || (await fetch(`${this.url}/readyz`).catch(() => null))?.status === 200,
      `${this.url}/readyz`,
      READY_TIMEOUT_MS,
      200,
    );
    const died = exited.then((status) => {
      throw new Error(`the API exited before it was ready (${JSON.stringify(status)})`);
    });
    try {
      await Promise.race([ready, died]);
    } catch (error) {
      child.kill("SIGKILL");
      throw new Error(`${error.message}\n--- API output ---\n${this.output}`);
    } finally {
      died.catch(() => {}); // it rejects later, when the server stops: that is expected
    }
  }

  /** SIGTERM (uvicorn closes sockets with 1012 and exits); SIGKILL if it lingers. */
  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await child.exited;
    clearTimeout(timer);
    this.process = null;
  }
}

/** The built app (vite build), served by `vite preview` with its proxy to `apiUrl`.
 * Each build goes to its own folder, so test runs side by side do not overwrite each
 * other's; `outDir` serves the build an earlier startApp made (one per test file is enough). */
export async function startApp(apiUrl, { outDir = null } = {}) {
  const port = await freePort();
  process.env.API_URL = apiUrl; // read by vite.config.js
  const { build, createLogger, preview } = await import("vite");
  const folder = outDir ?? (await tempDir("healthcare-web-build-"));
  if (!outDir) await build({ root: WEB, logLevel: "warn", build: { outDir: folder, emptyOutDir: true } });
  // A browser closing mid-connection resets its proxied WebSocket, and while a test has
  // stopped the API on purpose its requests are refused: expected, not news.
  const logger = createLogger("warn");
  const logError = logger.error.bind(logger);
  const expected = (message) =>
    (message.includes("ws proxy") && message.includes("ECONNRESET")) ||
    (message.includes("proxy error") && message.includes("ECONNREFUSED"));
  logger.error = (message, options) => {
    if (!expected(message)) logError(message, options);
  };
  const server = await preview({
    root: WEB,
    customLogger: logger,
    build: { outDir: folder },
    preview: { host: "127.0.0.1", port },
  });
  return {
    url: `http://127.0.0.1:${port}`,
    outDir: folder,
    close: async () => {
      await server.close();
      if (!outDir) await removeDir(folder);
    },
  };
}

/** Debian's Chromium driven by playwright-core: no browser download. `args`: more flags. */
export async function launchChromium(args = []) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: \`make e2e\` installs it (apt-get install chromium).`);
  }
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...args,
    ],
  });
}
