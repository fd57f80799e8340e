// A real TURN server for the video call tests: Debian's coturn (`turnserver`, package
// coturn; `make e2e` installs it) on 127.0.0.1 and a free port, checking credentials the
// way a production coturn with `use-auth-secret` does: the password of `expiry:userId` is
// base64(HMAC-SHA1(static-auth-secret, username)), which the API hands out (iceServers).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { existsSync } from "node:fs";
import path from "node:path";
import { eventually, freePort } from "./harness.js";

const TURNSERVER = process.env.TURNSERVER ?? "/usr/bin/turnserver";
const STOP_TIMEOUT_MS = 5_000;

export class TurnServer {
  /** @param {{dataDir: string, secret?: string}} options  its pid file and user db go in dataDir */
  constructor({ dataDir, secret = randomBytes(24).toString("hex") }) {
    this.dataDir = dataDir;
    this.secret = secret;
    this.realm = "healthcare.test";
    this.output = ""; // its log (the last 200 KB)
    this.process = null;
  }

  /** Whether coturn allocated a relay for `userId` (username `expiry:userId`), or refused
   * its credentials (401 after the challenge, which carries no username). */
  allocated(userId) {
    return new RegExp(`user <\\d+:${userId}>: incoming packet ALLOCATE processed, success`).test(this.output);
  }

  refused(userId) {
    return new RegExp(`user <\\d+:${userId}>: incoming packet message processed, error 401`).test(
      this.output,
    );
  }

  get url() {
    return `turn:127.0.0.1:${this.port}?transport=udp`;
  }

  async start() {
    if (!existsSync(TURNSERVER)) {
      throw new Error(`${TURNSERVER} is missing: \`make e2e\` installs it (apt-get install coturn).`);
    }
    this.port ??= await freePort(); // started again: the same port, as a restarted server
    // Relay ports: a random block of 200 in 40000-59999, so that two runs rarely meet.
    const minPort = 40_000 + 200 * Math.floor(Math.random() * 100);
    const args = [
      "-n", // no configuration file: only what is below
      "--verbose", // a line for each allocation, and for each refusal (check_stun_auth)
      `--listening-ip=127.0.0.1`,
      `--listening-port=${this.port}`,
      `--relay-ip=127.0.0.1`,
      `--min-port=${minPort}`,
      `--max-port=${minPort + 199}`,
      "--use-auth-secret",
      `--static-auth-secret=${this.secret}`,
      `--realm=${this.realm}`,
      "--no-tls",
      "--no-dtls",
      "--no-tcp-relay",
      "--allow-loopback-peers", // both browsers' relays are on 127.0.0.1
      "--no-cli",
      "--no-software-attribute",
      "--log-file=stdout",
      "--simple-log",
      `--pidfile=${path.join(this.dataDir, "turnserver.pid")}`,
      `--userdb=${path.join(this.dataDir, "turndb")}`,
    ];
    // Line-buffered: its stdout is a pipe, where C's stdio would hold the log back.
    const child = spawn("stdbuf", ["-oL", "-eL", TURNSERVER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    this.process = child;
    child.exited = new Promise((resolve) => child.once("exit", resolve));
    const keep = (chunk) => {
      this.output = (this.output + chunk).slice(-200_000);
      if (process.env.E2E_VERBOSE) process.stderr.write(`[turnserver] ${chunk}`);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    process.on("exit", () => child.kill("SIGKILL"));
    try {
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`turnserver exited (${child.exitCode})`);
          return stunBinding(this.port);
        },
        `turnserver on 127.0.0.1:${this.port} to answer a STUN binding request`,
        15_000,
        200,
      );
    } catch (error) {
      child.kill("SIGKILL");
      throw new Error(`${error.message}\n--- turnserver output ---\n${this.output}`);
    }
  }

  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await child.exited;
    clearTimeout(timer);
  }
}

/** Whether a STUN server answers a Binding request (RFC 5389) on 127.0.0.1:port within
 * half a second. */
function stunBinding(port) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    const transaction = randomBytes(12);
    const request = Buffer.concat([
      Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]),
      transaction,
    ]);
    const done = (answered) => {
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), 500);
    socket.on("message", (message) =>
      done(message.readUInt16BE(0) === 0x0101 && message.subarray(8, 20).equals(transaction)),
    );
    socket.on("error", () => done(false));
    socket.send(request, port, "127.0.0.1");
  });
}
