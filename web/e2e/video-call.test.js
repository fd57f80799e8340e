// Video visits in a real browser: a patient and a doctor, each in their own browser
// context with Chromium's fake camera and microphone, call each other through the app.
// Media must actually flow both ways (frames decoded, from RTCPeerConnection.getStats()),
// first directly, then forced through a real TURN server (coturn) with the credentials
// the API hands out, and not at all when the API's TURN secret is not coturn's.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
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
import { TurnServer } from "./turnserver.js";

const VISIT = "Follow-up on blood pressure"; // the demo data's visit of Alice with Dr House
// The demo visit is the doctor's next free slot (up to two weeks ahead): open its call
// window from now on.
const WINDOW_OPEN = { VIDEO_CALL_OPENS_MINUTES_BEFORE: String(15 * 24 * 60) };
const MEDIA_TIMEOUT_MS = 30_000;
const FAILURE_DEADLINE_MS = 20_000;

let browser;
let built = null; // the first stack's build folder: the others serve it too (closed first)
const stacks = [];
const pageErrors = [];

before(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  browser = await launchChromium([
    "--use-fake-device-for-media-stream", // a test pattern and a beep instead of devices
    "--use-fake-ui-for-media-stream", // allow camera and microphone without asking
    "--autoplay-policy=no-user-gesture-required",
  ]);
});

after(async () => {
  for (const context of browser?.contexts() ?? []) {
    for (const page of context.pages()) await page.goto("about:blank").catch(() => {});
  }
  await browser?.close();
  for (const { app, api, turn, dataDir } of stacks.reverse()) {
    await app?.close();
    await api?.stop();
    await turn?.stop();
    await removeDir(turn?.dataDir);
    await removeDir(dataDir);
  }
});

/** An API (with `env`) and the app in front of it. */
async function startStack(env = {}) {
  const dataDir = await tempDir("healthcare-e2e-calls-");
  const stack = { dataDir };
  stacks.push(stack);
  stack.api = new ApiServer({ port: await freePort(), dataDir, env: { ...WINDOW_OPEN, ...env } });
  await stack.api.start();
  stack.app = await startApp(stack.api.url, { outDir: built });
  built ??= stack.app.outDir;
  return stack;
}

/** coturn with a random static-auth-secret (`turn.secret`), stopped after the tests. */
async function startTurn() {
  const turn = new TurnServer({ dataDir: await tempDir("healthcare-e2e-turn-") });
  stacks.push({ turn });
  await turn.start();
  return turn;
}

async function signedInPage(stack, email, { relay = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await context.grantPermissions(["camera", "microphone"], { origin: stack.app.url });
  context.setDefaultTimeout(15_000);
  await context.addInitScript((relayOnly) => {
    // The developer setting that sends all media through TURN (src/webrtc.js).
    if (relayOnly) localStorage.setItem("healthcare.iceTransportPolicy", "relay");
    // When each button was clicked, by its text, in the page's clock: what the time to
    // the first remote frame is measured from.
    window.__clickedAt = {};
    document.addEventListener(
      "click",
      (event) => {
        const button = event.target.closest?.("button");
        if (button) window.__clickedAt[button.textContent.trim()] = performance.now();
      },
      { capture: true },
    );
  }, relay);
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(`${email}: ${error.message}`));
  if (process.env.E2E_VERBOSE) page.on("console", (m) => console.error(`[${email} ${m.type()}] ${m.text()}`));
  await page.goto(stack.app.url);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await page.locator(".live.on").waitFor(); // the WebSocket is up (videoCallChanged with it)
  return page;
}

/** Open the demo visit from the patient's appointments or the doctor's agenda. */
async function openVisit(page) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: /^(Appointments|Agenda)$/ }).click();
  await page.locator("li", { hasText: VISIT }).getByRole("link").first().click();
  await page.getByRole("heading", { name: "Video visit" }).waitFor();
}

/**
 * In the page: poll getStats() until the remote video has a decoded frame; resolves to
 * the milliseconds since `button` was clicked (null if none within the timeout). Started
 * right after the click, so it measures join -> first remote frame with 10 ms resolution.
 */
function firstRemoteFrame(page, button) {
  return page.evaluate(
    async ({ button, timeout }) => {
      const deadline = performance.now() + timeout;
      while (performance.now() < deadline) {
        const session = window.__videoCall; // a new call's, once it has started
        if (session?.pc && !session.closed) {
          for (const report of (await session.pc.getStats()).values()) {
            if (report.type === "inbound-rtp" && report.kind === "video" && report.framesDecoded > 0) {
              return Math.round(performance.now() - window.__clickedAt[button]);
            }
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return null;
    },
    { button, timeout: MEDIA_TIMEOUT_MS },
  );
}

/** What getStats() says of the connection: frames decoded, and the selected pair's ends. */
function mediaStats(page) {
  return page.evaluate(async () => {
    const session = window.__videoCall;
    const pc = session?.pc;
    if (!pc) return null;
    const reports = [...(await pc.getStats()).values()];
    const byId = new Map(reports.map((r) => [r.id, r]));
    const inbound = reports.find((r) => r.type === "inbound-rtp" && r.kind === "video");
    const transport = reports.find((r) => r.type === "transport" && r.selectedCandidatePairId);
    const pair = transport && byId.get(transport.selectedCandidatePairId);
    return {
      callId: session.callId,
      connectionState: pc.connectionState,
      iceGatheringState: pc.iceGatheringState,
      framesDecoded: inbound?.framesDecoded ?? 0,
      local: pair && byId.get(pair.localCandidateId)?.candidateType,
      remote: pair && byId.get(pair.remoteCandidateId)?.candidateType,
      localCandidates: reports.filter((r) => r.type === "local-candidate").map((r) => r.candidateType),
    };
  });
}

/** The call as the API has it, asked with the page's own access token. */
async function callInApi(stack, page, callId) {
  const token = await page.evaluate(
    () => JSON.parse(sessionStorage.getItem("healthcare.session")).accessToken,
  );
  const response = await fetch(`${stack.api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: "query Call($id: ID!) { videoCall(id: $id) { state answeredAt endedBy { fullName } } }",
      variables: { id: callId },
    }),
  }).then((r) => r.json());
  return response.data.videoCall;
}

/** The other side's ICE username fragment (new after an ICE restart), the last signal
 * seq seen, and frames decoded so far. */
async function iceState(page) {
  const { framesDecoded } = await mediaStats(page);
  return page.evaluate(
    (frames) => ({
      remoteUfrag: window.__videoCall.pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1],
      lastSeq: window.__videoCall.lastSeq,
      framesDecoded: frames,
    }),
    framesDecoded,
  );
}

async function userId(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem("healthcare.session")).user.id);
}

function shot(page, name) {
  return page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

function screenshotsOnFailure(body) {
  return async () => {
    try {
      await body();
    } catch (error) {
      let n = 0;
      for (const context of browser.contexts()) {
        for (const page of context.pages()) await shot(page, `failed-call-${++n}`).catch(() => {});
      }
      throw error;
    }
  };
}

async function status(page, text, timeout = MEDIA_TIMEOUT_MS) {
  await page.getByTestId("call-status").getByText(text).waitFor({ timeout });
}

/** The patient rings from the visit; the doctor answers with `answerWith` ("Join video
 * visit" on the same visit, or "Answer" on the ring). Resolves when both decode the
 * other's video, to each side's time from their click to the first remote frame. */
async function connect(patient, doctor, answerWith) {
  await patient.getByRole("button", { name: "Join video visit" }).click();
  const patientFrame = firstRemoteFrame(patient, "Join video visit");
  await status(patient, "Ringing Gregory House…");
  const ring = doctor.getByRole("alertdialog", { name: "Incoming video call" });
  await ring.getByText("Alice Patient is calling you").waitFor();
  await shot(doctor, "call-01-doctor-rung");
  const button =
    answerWith === "Answer"
      ? ring.getByRole("button", { name: "Answer" })
      : doctor.getByRole("button", { name: answerWith });
  await button.click();
  const doctorFrame = firstRemoteFrame(doctor, answerWith);
  await ring.waitFor({ state: "detached" });
  const [patientMs, doctorMs] = await Promise.all([patientFrame, doctorFrame]);
  assert.ok(patientMs !== null, "the patient decodes the doctor's video");
  assert.ok(doctorMs !== null, "the doctor decodes the patient's video");
  await status(patient, "Connected");
  await status(doctor, "Connected");
  return { patientMs, doctorMs };
}

/** The doctor hangs up: the call ends on both sides, in the UI and in the API. */
async function hangUp(stack, patient, doctor, callId) {
  await doctor.getByRole("button", { name: "Hang up" }).click();
  await status(doctor, "The call has ended.");
  await status(patient, "The call has ended.");
  const call = await callInApi(stack, patient, callId);
  assert.equal(call.state, "ENDED");
  assert.equal(call.endedBy.fullName, "Gregory House");
  for (const page of [patient, doctor]) {
    assert.equal(await page.getByTestId("connection-state").textContent(), "closed");
    await page.getByRole("button", { name: "Close" }).click();
    await page.getByRole("button", { name: "Join video visit" }).waitFor(); // may call again
  }
}

test(
  "a patient and a doctor join the video visit, see each other, and hang up",
  { timeout: 180_000 },
  screenshotsOnFailure(async () => {
    // given the patient and the doctor on their visit, its call window open
    const stack = await startStack();
    const doctor = await signedInPage(stack, "dr.house@demo.clinic");
    const patient = await signedInPage(stack, "alice@demo.clinic");
    await openVisit(doctor);
    await openVisit(patient);

    // when the patient rings and the doctor declines, she is told
    await patient.getByRole("button", { name: "Join video visit" }).click();
    const ring = doctor.getByRole("alertdialog", { name: "Incoming video call" });
    await ring.getByRole("button", { name: "Decline" }).click();
    await ring.waitFor({ state: "detached" });
    await status(patient, "The call was declined.");
    const declined = await patient.evaluate(() => window.__videoCall.callId);
    assert.equal((await callInApi(stack, patient, declined)).state, "DECLINED");
    await patient.getByRole("button", { name: "Close" }).click();
    await doctor.getByRole("list", { name: "Earlier calls" }).getByText("declined").waitFor();

    // when the patient joins again (the doctor's side rings) and the doctor joins the visit
    const times = await connect(patient, doctor, "Join video visit");

    // then each decodes the other's video, over a direct (host) connection
    const [p, d] = [await mediaStats(patient), await mediaStats(doctor)];
    console.log(
      `video call, direct: join -> first remote frame: patient (caller) ${times.patientMs} ms, ` +
        `doctor (answering) ${times.doctorMs} ms; pair ${p.local}/${p.remote}`,
    );
    assert.equal(p.callId, d.callId);
    assert.ok(p.framesDecoded > 0 && d.framesDecoded > 0);
    assert.equal(p.connectionState, "connected");
    assert.equal((await callInApi(stack, patient, p.callId)).state, "ACTIVE");
    // the remote video is playing, at the fake camera's size
    await eventually(
      () => patient.locator("video.remote").evaluate((v) => v.videoWidth > 0 && !v.paused),
      "the patient's remote video to play",
    );
    await shot(patient, "call-02-patient-in-call");
    await shot(doctor, "call-03-doctor-in-call");

    // when the patient mutes and turns her camera off, her tracks stop sending
    await patient.getByRole("button", { name: "Mute microphone" }).click();
    await patient.getByRole("button", { name: "Turn camera off" }).click();
    assert.equal(
      await patient.getByRole("button", { name: "Unmute microphone" }).getAttribute("aria-pressed"),
      "true",
    );
    assert.deepEqual(
      await patient.evaluate(() =>
        window.__videoCall.localStream.getTracks().map((t) => `${t.kind}:${t.enabled}`),
      ),
      ["audio:false", "video:false"],
    );
    await patient.getByRole("button", { name: "Turn camera on" }).click();

    // when the doctor hangs up, it ends for both
    await hangUp(stack, patient, doctor, p.callId);
    assert.deepEqual(pageErrors, []);
  }),
);

test(
  "through a TURN server (coturn, relay only) with the API's credentials, media flows, and comes back after the network drops",
  { timeout: 180_000 },
  screenshotsOnFailure(async () => {
    // given coturn with a shared secret, and an API that hands out credentials from it
    const turn = await startTurn();
    const stack = await startStack({ TURN_URLS: turn.url, TURN_SECRET: turn.secret });
    const doctor = await signedInPage(stack, "dr.house@demo.clinic", { relay: true });
    const patient = await signedInPage(stack, "alice@demo.clinic", { relay: true });
    await openVisit(doctor);
    await openVisit(patient);

    // when the patient joins and the doctor answers the ring
    const times = await connect(patient, doctor, "Answer");

    // then each decodes the other's video, and both ends of the selected pair are relays
    const [p, d] = [await mediaStats(patient), await mediaStats(doctor)];
    console.log(
      `video call, TURN relay: join -> first remote frame: patient (caller) ${times.patientMs} ms, ` +
        `doctor (answering) ${times.doctorMs} ms; pair ${p.local}/${p.remote}`,
    );
    for (const stats of [p, d]) {
      assert.ok(stats.framesDecoded > 0);
      assert.equal(stats.local, "relay");
      assert.equal(stats.remote, "relay");
      assert.ok(stats.localCandidates.every((type) => type === "relay"));
    }
    // and coturn allocated relays for each of them, under the usernames the API made
    for (const page of [patient, doctor]) {
      const id = await userId(page);
      assert.ok(turn.allocated(id), `coturn allocated a relay for ${id}`);
      assert.ok(!turn.refused(id));
    }
    await shot(patient, "call-04-patient-via-turn");

    // when the API restarts (both WebSockets drop and reconnect), and then the network
    // path drops too: coturn stops, and comes back on the same port
    const before = { patient: await iceState(patient), doctor: await iceState(doctor) };
    await stack.api.stop();
    await stack.api.start();
    await Promise.all([patient.locator(".live.on").waitFor(), doctor.locator(".live.on").waitFor()]);
    await turn.stop();
    await Promise.all([status(patient, "Reconnecting…"), status(doctor, "Reconnecting…")]);
    await turn.start();
    const restarted = Date.now();

    // then the call restarts ICE, its signals going through the resumed callSignals
    // subscriptions (after the last seq each side saw), and media flows again via relays
    await Promise.all([status(patient, "Connected", 60_000), status(doctor, "Connected", 60_000)]);
    for (const [name, page] of Object.entries({ patient, doctor })) {
      await eventually(
        async () => (await mediaStats(page)).framesDecoded > before[name].framesDecoded + 10,
        `${name}'s video to flow again`,
        MEDIA_TIMEOUT_MS,
      );
      const after = await iceState(page);
      assert.notEqual(after.remoteUfrag, before[name].remoteUfrag, `${name}: an ICE restart`);
      assert.ok(after.lastSeq > before[name].lastSeq, `${name}: signals after the restart`);
      const stats = await mediaStats(page);
      assert.deepEqual([stats.local, stats.remote], ["relay", "relay"]);
    }
    console.log(
      `video call, TURN relay: media flowing again ${Date.now() - restarted} ms after coturn came back`,
    );
    await hangUp(stack, patient, doctor, p.callId);
    assert.deepEqual(pageErrors, []);
  }),
);

test(
  "with a TURN secret coturn does not know, no relay is allocated and no media flows",
  { timeout: 180_000 },
  screenshotsOnFailure(async () => {
    // given coturn, and an API whose TURN_SECRET is not coturn's
    const turn = await startTurn();
    const wrong = randomBytes(24).toString("hex");
    const stack = await startStack({ TURN_URLS: turn.url, TURN_SECRET: wrong });
    const doctor = await signedInPage(stack, "dr.house@demo.clinic", { relay: true });
    const patient = await signedInPage(stack, "alice@demo.clinic", { relay: true });
    await openVisit(doctor);
    await openVisit(patient);

    // when the patient joins and the doctor answers
    await patient.getByRole("button", { name: "Join video visit" }).click();
    const ring = doctor.getByRole("alertdialog", { name: "Incoming video call" });
    await ring.getByRole("button", { name: "Answer" }).click();
    const started = Date.now();

    // then coturn refuses both users' credentials, neither side gets a candidate (relay
    // only, and no relay), no frame is decoded, and both say so, within the deadline
    await Promise.all([
      status(patient, "Could not connect.", FAILURE_DEADLINE_MS),
      status(doctor, "Could not connect.", FAILURE_DEADLINE_MS),
    ]);
    const elapsed = Date.now() - started;
    for (const page of [patient, doctor]) {
      const id = await userId(page);
      assert.ok(turn.refused(id), `coturn refused ${id}'s credentials`);
      assert.ok(!turn.allocated(id));
      const stats = await mediaStats(page);
      assert.equal(stats.framesDecoded, 0);
      assert.notEqual(stats.connectionState, "connected");
      assert.equal(stats.iceGatheringState, "complete");
      assert.deepEqual(stats.localCandidates, []);
    }
    console.log(
      `video call, wrong TURN secret: both sides report "Could not connect." ${elapsed} ms after ` +
        `answering; connection states ${(await mediaStats(patient)).connectionState}/` +
        `${(await mediaStats(doctor)).connectionState}, no frame decoded`,
    );
    await shot(patient, "call-05-patient-turn-refused");
    await hangUp(stack, patient, doctor, (await mediaStats(patient)).callId);
    assert.deepEqual(pageErrors, []);
  }),
);
