// Strawberry's GraphiQL page loads React and GraphiQL from https://unpkg.com, which this
// machine (and CI) cannot reach. unpkg serves files straight out of npm packages, so the
// test fetches the same package versions with `npm pack` and answers the page's unpkg
// requests from them. The page's `integrity` attributes prove the bytes are identical.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { WEB } from "./harness.js";

const run = promisify(execFile);
const CACHE = path.join(WEB, "node_modules", ".cache", "unpkg");
const UNPKG = /https:\/\/unpkg\.com\/((?:@[^/@"]+\/)?[^/@"]+)@([^/"]+)\/([^"]+)/g;
const TYPES = { ".js": "application/javascript", ".css": "text/css", ".map": "application/json" };

/** The folder holding package `name` at `version`, fetched from the npm registry once. */
async function unpacked(name, version) {
  const folder = path.join(CACHE, `${name.replace("/", "__")}@${version}`);
  if (!existsSync(path.join(folder, "package"))) {
    await mkdir(folder, { recursive: true });
    await run("npm", ["pack", `${name}@${version}`, "--silent", "--pack-destination", folder], {
      cwd: folder,
    });
    const tarball = (await readdir(folder)).find((file) => file.endsWith(".tgz"));
    await run("tar", ["-xzf", tarball], { cwd: folder });
  }
  return path.join(folder, "package");
}

/** Serve the page's unpkg files from npm packages; refuse every other outside request. */
export async function routeUnpkgToNpm(context, apiUrl) {
  const html = await fetch(`${apiUrl}/graphql`, { headers: { accept: "text/html" } }).then((r) => r.text());
  const files = new Map();
  for (const [url, name, version, file] of html.matchAll(UNPKG)) {
    files.set(url, path.join(await unpacked(name, version), file));
  }
  if (files.size === 0) throw new Error("The GraphiQL page loads nothing from unpkg: has it changed?");

  await context.route(
    (url) => !["127.0.0.1", "localhost"].includes(url.hostname),
    async (route) => {
      const file = files.get(route.request().url());
      if (!file) return route.abort("blockedbyclient");
      return route.fulfill({
        path: file,
        contentType: TYPES[path.extname(file)] ?? "application/octet-stream",
        headers: { "access-control-allow-origin": "*" },
      });
    },
  );
}
