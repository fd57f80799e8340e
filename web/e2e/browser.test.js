// The app in a real browser against a real API: a patient and a doctor, each in their own
// browser context (separate storage, separate sockets), see each other's actions live.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { routeUnpkgToNpm } from "./graphiql-assets.js";
import {
  ApiServer,
  PASSWORD,
  SCREENSHOTS,
  eventually,
  freePort,
  launchChromium,
  removeDir,
  startApp,
  tempDir,
} from "./harness.js";

const REASON = "Knee pain after running (e2e)";
let api;
let app;
let browser;
let dataDir;
const pageErrors = [];

before(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  dataDir = await tempDir("healthcare-e2e-");
  api = new ApiServer({ port: await freePort(), dataDir });
  await api.start();
  app = await startApp(api.url);
  browser = await launchChromium();
});

after(async () => {
  // Leave the app's pages first: unloading closes their WebSockets cleanly (1001), where
  // killing the browser would reset them under the proxy.
  for (const context of browser?.contexts() ?? []) {
    for (const page of context.pages()) await page.goto("about:blank").catch(() => {});
  }
  await browser?.close();
  await app?.close();
  await api?.stop();
  await removeDir(dataDir);
});

async function signedInPage(email) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(`${email}: ${error.message}`));
  await page.goto(app.url);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await page.locator(".live.on").waitFor(); // the WebSocket is up
  return page;
}

async function bellCount(page) {
  const text = await page.getByTestId("bell-count").textContent();
  return /^\d+$/.test(text) ? Number(text) : null;
}

async function bellShows(page, expected, who) {
  await eventually(async () => (await bellCount(page)) === expected, `${who}'s bell to show ${expected}`);
}

function shot(page, name) {
  return page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/** On failure, a screenshot of every open page (failed-*.png) before the error. */
function screenshotsOnFailure(body) {
  return async () => {
    try {
      await body();
    } catch (error) {
      let n = 0;
      for (const context of browser.contexts()) {
        for (const page of context.pages()) await shot(page, `failed-${++n}`).catch(() => {});
      }
      throw error;
    }
  };
}

test(
  "a patient books, the doctor sees it live, they chat, and the bells count up and down",
  { timeout: 120_000 },
  screenshotsOnFailure(async () => {
    // given a doctor watching their agenda, and a patient
    const doctor = await signedInPage("dr.house@demo.clinic");
    await doctor.getByRole("heading", { name: "Agenda" }).waitFor();
    const doctorUnread = await eventually(() => bellCount(doctor), "the doctor's bell");
    const patient = await signedInPage("alice@demo.clinic");
    const patientUnread = await eventually(() => bellCount(patient), "the patient's bell");

    // when the patient picks Dr House and his first free slot, and books
    await patient.getByRole("link", { name: "Book" }).click();
    await patient.getByLabel("Doctor").selectOption({ label: "Gregory House — Diagnostics" });
    await patient.locator(".slots .day button").first().click();
    await patient.getByLabel("Reason").fill(REASON);
    await shot(patient, "01-patient-books");
    await patient.getByRole("button", { name: /^Book / }).click();
    await patient.getByRole("heading", { name: "Appointment" }).waitFor();
    await patient.getByText(REASON).waitFor();

    // then the booking appears in the doctor's agenda without a reload, and his bell rings
    await doctor.getByRole("table", { name: "Agenda" }).getByText(REASON).waitFor();
    await bellShows(doctor, doctorUnread + 1, "the doctor");
    await shot(doctor, "02-doctor-agenda-live");

    // when the patient writes to the doctor from the appointment
    await patient.getByRole("button", { name: "Message Gregory House" }).click();
    await patient.getByRole("heading", { name: "Chat with Gregory House" }).waitFor();
    await patient.getByLabel("Message", { exact: true }).fill("Hello doctor, my knee hurts.");
    await patient.getByRole("button", { name: "Send" }).click();
    await patient.getByRole("list", { name: "Messages" }).getByText("Hello doctor, my knee hurts.").waitFor();
    await patient.locator(".receipt", { hasText: "Sent" }).waitFor();

    // then the doctor's bell rings again, and the conversation shows the message
    await bellShows(doctor, doctorUnread + 2, "the doctor");
    await doctor.getByRole("link", { name: "Chat" }).click();
    await doctor
      .getByRole("navigation", { name: "Conversations" })
      .getByRole("link", { name: /Alice Patient/ })
      .click();
    await doctor.getByRole("list", { name: "Messages" }).getByText("Hello doctor, my knee hurts.").waitFor();

    // and reading it counts his bell down (reading a chat to the end marks its message
    // notifications read), and the patient sees the read receipt, pushed live
    await bellShows(doctor, doctorUnread + 1, "the doctor");
    await patient.locator(".receipt", { hasText: "Read" }).waitFor();

    // when the doctor types, the patient sees it; when he sends, the message arrives
    await doctor
      .getByLabel("Message", { exact: true })
      .pressSequentially("Rest it for a week", { delay: 20 });
    await patient.getByText("Gregory House is typing…").waitFor();
    await shot(patient, "03-patient-sees-typing");
    await doctor.getByRole("button", { name: "Send" }).click();
    await patient.getByRole("list", { name: "Messages" }).getByText("Rest it for a week").waitFor();
    await eventually(
      async () => !(await patient.getByText("is typing…").isVisible()),
      "the typing indicator to go",
    );
    // and the patient, reading the chat as it arrives, sends the doctor a read receipt
    await doctor.locator(".receipt", { hasText: "Read" }).waitFor();
    await shot(patient, "04-patient-chat");
    await shot(doctor, "05-doctor-chat");

    // when the patient is elsewhere and the doctor writes again, her bell counts it and
    // his message stays unread
    await patient.getByRole("link", { name: "Appointments" }).click();
    await patient.getByRole("heading", { name: "My appointments" }).waitFor();
    await doctor.getByLabel("Message", { exact: true }).fill("Any swelling?");
    await doctor.getByRole("button", { name: "Send" }).click();
    await doctor.locator(".receipt", { hasText: "Sent" }).waitFor();
    await bellShows(patient, patientUnread + 1, "the patient");

    // then opening the chat counts her bell down, and the doctor sees it read, live
    await patient.getByRole("link", { name: "Chat" }).click();
    await patient
      .getByRole("navigation", { name: "Conversations" })
      .getByRole("link", { name: /Gregory House/ })
      .click();
    await patient.getByRole("list", { name: "Messages" }).getByText("Any swelling?").waitFor();
    await bellShows(patient, patientUnread, "the patient");
    await doctor.locator(".receipt", { hasText: "Read" }).waitFor();

    // when the doctor writes up the new appointment, the patient's bell counts that too
    await doctor.getByRole("link", { name: "Agenda" }).click();
    await doctor
      .getByRole("row", { name: /Knee pain after running/ })
      .getByRole("link")
      .click();
    await doctor.getByLabel("Plan").fill("Ice and rest; come back if it swells.");
    await doctor.getByRole("button", { name: "Save draft" }).click();
    await doctor.getByText("Draft", { exact: true }).waitFor();
    await bellShows(patient, patientUnread + 1, "the patient");

    // when the doctor marks all read, his bell goes to zero
    await doctor.getByRole("button", { name: /^Notifications:/ }).click();
    await doctor.getByRole("dialog", { name: "Notifications" }).waitFor();
    await shot(doctor, "06-doctor-notifications");
    await doctor.getByRole("button", { name: "Mark all read" }).click();
    await bellShows(doctor, 0, "the doctor");

    // when the patient opens the visit-notes notification, hers counts down by one, and
    // it leads to the consultation
    await patient.getByRole("button", { name: /^Notifications:/ }).click();
    await shot(patient, "07-patient-notifications");
    await patient
      .getByRole("dialog", { name: "Notifications" })
      .getByRole("button", { name: /Visit notes ready/ })
      .last() // oldest first: the demo visit's notes, then today's
      .click();
    await bellShows(patient, patientUnread, "the patient");
    await patient.getByText("Ice and rest; come back if it swells.").waitFor();

    // and she can read the consultation of her past visit, prescriptions included
    await patient.getByRole("link", { name: "Appointments" }).click();
    await patient
      .getByRole("row", { name: /Headaches in the morning/ })
      .getByRole("link")
      .click();
    await patient.getByRole("table", { name: "Prescriptions" }).getByText("Amlodipine").waitFor();
    await shot(patient, "08-patient-consultation");

    assert.deepEqual(pageErrors, []);
  }),
);

test(
  "GraphiQL at /graphql runs a query and shows the result",
  { timeout: 60_000 },
  screenshotsOnFailure(async () => {
    // given a signed-in user's token, as a developer would paste it into the Headers pane
    const login = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: `mutation { login(email: "alice@demo.clinic", password: "${PASSWORD}") {
        ... on AuthPayload { accessToken } } }`,
      }),
    }).then((response) => response.json());
    const token = login.data.login.accessToken;
    assert.ok(token);

    // when GraphiQL opens with a query and that header, and its Run button is pressed
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    context.setDefaultTimeout(20_000);
    // The page loads GraphiQL from unpkg.com; this machine has no Internet, so the same
    // files (checked by the page's integrity hashes) come from the npm registry instead.
    await routeUnpkgToNpm(context, api.url);
    const page = await context.newPage();
    page.on("pageerror", (error) => pageErrors.push(`graphiql: ${error.message}`));
    const query = "query Me {\n  me {\n    fullName\n    role\n  }\n}";
    const headers = JSON.stringify({ Authorization: `Bearer ${token}` });
    // The page reads `q` and `headers` from the URL (with decodeURIComponent: no `+`).
    await page.goto(
      `${api.url}/graphql?q=${encodeURIComponent(query)}&headers=${encodeURIComponent(headers)}`,
    );
    await page.getByRole("button", { name: /Execute query/ }).click();

    // then the result pane shows the signed-in user
    const result = page.locator(".graphiql-response");
    await eventually(async () => (await result.textContent()).includes("Alice Patient"), "the result");
    assert.match(await result.textContent(), /"role": "PATIENT"/);
    await page.screenshot({ path: path.join(SCREENSHOTS, "09-graphiql.png") });
    assert.deepEqual(pageErrors, []);
  }),
);
