// What a browser test file stands on: its own API (fresh SQLite, demo data), the built app
// in front of it, and Chromium; pages in their own contexts, signed in as someone; the API
// called directly, as another client would. Uncaught errors in any page fail the file.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import {
  ApiServer,
  PASSWORD,
  SCREENSHOTS,
  freePort,
  launchChromium,
  removeDir,
  startApp,
  tempDir,
} from "./harness.js";

export const TIMEOUT = 20_000;

export class BrowserStack {
  /** Start everything for the test file `name` (used in folder and screenshot names). */
  static async start(name, { env = {} } = {}) {
    const stack = new BrowserStack(name);
    await mkdir(SCREENSHOTS, { recursive: true });
    stack.dataDir = await tempDir(`healthcare-e2e-${name}-`);
    stack.api = new ApiServer({ port: await freePort(), dataDir: stack.dataDir, env });
    await stack.api.start();
    stack.app = await startApp(stack.api.url);
    stack.browser = await launchChromium();
    return stack;
  }

  constructor(name) {
    this.name = name;
    this.pageErrors = [];
  }

  /** A page in a new browser context (its own storage and sockets) on nothing yet. */
  async newPage(who, options = {}) {
    const context = await this.browser.newContext({ viewport: { width: 1200, height: 860 }, ...options });
    context.setDefaultTimeout(TIMEOUT);
    const page = await context.newPage();
    page.on("pageerror", (error) => this.pageErrors.push(`${who}: ${error.message}`));
    return page;
  }

  /** Fill in and submit the sign-in form on `page` (already showing it). */
  async submitSignIn(page, email, password = PASSWORD) {
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
  }

  /** A new context on the app, signed in as `email`; `options`: the context's (timezoneId, ...). */
  async signedInPage(email, options = {}) {
    const page = await this.newPage(email, options);
    await page.goto(this.app.url);
    await this.submitSignIn(page, email);
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    return page;
  }

  /** The API itself, over HTTP: its data, or a failed assertion naming its errors. */
  async graphql(query, variables = {}, token = null) {
    const response = await fetch(`${this.api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  }

  /** An access token for `email` (the demo password unless told). */
  async tokenOf(email, password = PASSWORD) {
    const data = await this.graphql(
      `mutation($email: String!, $password: String!) {
        login(email: $email, password: $password) { ... on AuthPayload { accessToken } }
      }`,
      { email, password },
    );
    return data.login.accessToken;
  }

  shot(page, name) {
    return page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
  }

  /** A test body that, when it fails, first saves a screenshot of every open page. */
  screenshotsOnFailure(body) {
    return async () => {
      try {
        await body();
      } catch (error) {
        let n = 0;
        for (const context of this.browser.contexts()) {
          for (const page of context.pages()) await this.shot(page, `failed-${this.name}-${++n}`).catch(() => {});
        }
        throw error;
      }
    };
  }

  /** Leave the app first (its socket closes cleanly), then close the context. */
  async closePage(page) {
    await page.goto("about:blank").catch(() => {});
    await page.context().close();
  }

  /** Stop everything; then fail if any page threw an uncaught error. */
  async close() {
    for (const context of this.browser?.contexts() ?? []) {
      for (const page of context.pages()) await page.goto("about:blank").catch(() => {});
    }
    await this.browser?.close();
    await this.app?.close();
    await this.api?.stop();
    await removeDir(this.dataDir);
    assert.deepEqual(this.pageErrors, [], "no uncaught errors in the pages");
  }
}
