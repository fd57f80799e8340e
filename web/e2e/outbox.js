// The API's development outbox: with no SMTP_URL it writes each email as an .eml file
// under <DATA_DIR>/outbox/. Enough MIME to read them: headers, multipart, the text/plain
// part, quoted-printable and base64.
import { readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { eventually } from "./harness.js";

/** Every email in the outbox, oldest first: { file, headers (lower-case names), text }. */
export async function readOutbox(dataDir) {
  const dir = path.join(dataDir, "outbox");
  const names = (await readdir(dir, { recursive: true }).catch(() => [])).filter((n) => n.endsWith(".eml"));
  const emails = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const { mtimeMs } = await stat(file);
    emails.push({ file, mtimeMs, ...parseEmail(await readFile(file, "latin1")) });
  }
  return emails.sort((a, b) => a.mtimeMs - b.mtimeMs || a.file.localeCompare(b.file));
}

/** The newest email that `matches`, once it arrives (the API sends from a worker). */
export function nextEmail(dataDir, matches, what, timeout = 20_000) {
  return eventually(async () => (await readOutbox(dataDir)).filter(matches).at(-1), what, timeout, 250);
}

/** The links of an email's text. */
export function linksIn(email) {
  return email.text.match(/https?:\/\/[^\s<>"]+/g) ?? [];
}

/** The raw message (read as latin1: one char a byte) -> { headers, text }. */
export function parseEmail(raw) {
  const { headers, body } = splitEntity(raw);
  return { headers, text: textOf(headers, body) };
}

function splitEntity(raw) {
  const match = /\r?\n\r?\n/.exec(raw);
  const head = match ? raw.slice(0, match.index) : raw;
  const body = match ? raw.slice(match.index + match[0].length) : "";
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function textOf(headers, body) {
  const type = (headers["content-type"] ?? "text/plain").toLowerCase();
  if (type.startsWith("multipart/")) {
    const boundary = /boundary="?([^";]+)"?/i.exec(headers["content-type"])?.[1];
    const parts = body.split(`--${boundary}`).slice(1, -1); // before the first and after the last: none
    for (const part of parts) {
      const entity = splitEntity(part.replace(/^\r?\n/, ""));
      const text = textOf(entity.headers, entity.body);
      if (text !== null) return text;
    }
    return null;
  }
  if (!type.startsWith("text/plain")) return null;
  const charset = /charset="?([^";]+)"?/i.exec(type)?.[1] ?? "utf-8";
  return decode(body, headers["content-transfer-encoding"]).toString(
    charset === "us-ascii" ? "latin1" : "utf8",
  );
}

function decode(body, encoding = "7bit") {
  switch (encoding.toLowerCase()) {
    case "quoted-printable":
      return Buffer.from(
        body
          .replace(/=\r?\n/g, "") // soft line breaks
          .replace(/=([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16))),
        "latin1",
      );
    case "base64":
      return Buffer.from(body.replace(/\s+/g, ""), "base64");
    default:
      return Buffer.from(body, "latin1");
  }
}
