// The patient's screens in a real browser against a real API: a new patient signs up and
// verifies her address from the emailed link, fills in her profile (picture, phone, bio),
// finds a doctor by specialty and books from his week calendar (a slot another patient
// takes meanwhile is refused and leaves the calendar), opens, moves and cancels the
// appointment, and sees in "Record access" that the doctor read it. Every screen is held
// to checkScreen (axe-core, no sideways scroll at 1280 and 360 px).
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { after, before, test } from "node:test";
import { PASSWORD, eventually } from "./harness.js";
import { linksIn, nextEmail } from "./outbox.js";
import { checkScreen } from "./screens.js";
import { BrowserStack } from "./stack.js";

const NEW_PATIENT = { first: "Nora", last: "Newcomer", email: "nora.newcomer@example.com", password: "nora-password-1357" };
const REASON = "Recurring dizziness when standing up (e2e)";
// Not the API's zone nor Dr House's (Europe/London): each time must be stated in both.
const PATIENT_ZONE = "America/Los_Angeles";
let stack;
let patient; // Nora's page, signed in from the second test on
let appointmentId;

before(async () => {
  stack = await BrowserStack.start("patient");
});

after(async () => {
  await stack?.close();
});

const newPage = (who, options) => stack.newPage(who, options);
const signIn = async (page, email, password = PASSWORD) => {
  await stack.submitSignIn(page, email, password);
  await page.getByRole("button", { name: "Sign out" }).waitFor();
};
const graphql = (query, variables, token) => stack.graphql(query, variables, token);
const tokenOf = (email) => stack.tokenOf(email);
// Wraps test bodies when the file loads, before the stack exists: looked up when they run.
const screenshotsOnFailure = (body) => () => stack.screenshotsOnFailure(body)();

/** A small solid-colour PNG (RGB), made here: signature, IHDR, IDAT, IEND. */
function png(width, height, [r, g, b]) {
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => [r, g, b]).flat())]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, truecolour, no interlace
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", pixels),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The profile picture's <img> has loaded from the API's /media/. */
async function pictureShown(page) {
  const img = page.locator(".person img.avatar");
  await img.waitFor();
  assert.match(await img.getAttribute("src"), /\/media\/[^/]+\.png$/);
  await eventually(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), "the picture to load");
}

test(
  "signed out: sign in, sign up and forgot password are centred cards; a new patient signs up and verifies her address",
  { timeout: 150_000 },
  screenshotsOnFailure(async () => {
    const page = await newPage("signed out");
    await page.goto(stack.app.url);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await checkScreen(page, "patient-sign-in");

    await page.getByRole("link", { name: "Forgot password?" }).click();
    await page.getByRole("heading", { name: "Forgot password?" }).waitFor();
    await checkScreen(page, "patient-forgot-password");
    await page.getByRole("link", { name: "Back to sign in" }).click();

    // when she creates an account
    await page.getByRole("link", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Create account" }).waitFor();
    await checkScreen(page, "patient-sign-up");
    const asked = Date.now();
    await page.getByLabel("First name").fill(NEW_PATIENT.first);
    await page.getByLabel("Last name").fill(NEW_PATIENT.last);
    await page.getByLabel("Email").fill(NEW_PATIENT.email);
    await page.getByLabel(/^Password/).fill(NEW_PATIENT.password);
    await page.getByLabel("Repeat password").fill(NEW_PATIENT.password);
    await page.getByRole("button", { name: "Create account" }).click();
    // then she is told to check her email, and the link arrives
    await page.getByRole("heading", { name: "Check your email" }).waitFor();
    const email = await nextEmail(
      stack.dataDir,
      (e) => e.mtimeMs >= asked - 1000 && e.headers.to?.includes(NEW_PATIENT.email) && /verify-email\//.test(e.text),
      "the verification email",
    );
    const link = linksIn(email)
      .map((l) => l.replace(/[.,;)]+$/, ""))
      .find((l) => new URL(l).hash.startsWith("#/verify-email/"));
    assert.ok(link, email.text);

    // when she opens it, her address is verified
    await page.goto(`${stack.app.url}/${new URL(link).hash}`);
    await page.getByText(`Your email address ${NEW_PATIENT.email} is verified`).waitFor();
    await page.getByRole("link", { name: "Sign in" }).click();
    await page.context().close();
  }),
);

test(
  "profile: upload a picture, set phone and bio (a bad number is refused under its field), see them after a reload, replace and remove the picture",
  { timeout: 150_000 },
  screenshotsOnFailure(async () => {
    patient = await newPage("Nora", { timezoneId: PATIENT_ZONE });
    await patient.goto(stack.app.url);
    await signIn(patient, NEW_PATIENT.email, NEW_PATIENT.password);

    // she lands on her appointments, empty at first
    await patient.getByRole("heading", { name: "My appointments" }).waitFor();
    await patient.getByText("Nothing booked yet.").waitFor();
    await checkScreen(patient, "patient-appointments-empty");

    await patient.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Profile" }).click();
    await patient.getByRole("heading", { name: "Profile", exact: true }).waitFor();
    const about = patient.locator(".card", { has: patient.getByRole("heading", { name: "About you" }) });
    await about.getByText(`${NEW_PATIENT.first} ${NEW_PATIENT.last}`).waitFor();
    await about.getByText(NEW_PATIENT.email).waitFor();
    await about.getByText("patient", { exact: true }).waitFor();
    assert.equal(await patient.locator(".person img.avatar").count(), 0, "no picture yet: initials");
    await checkScreen(patient, "patient-profile");

    // a file that is not a picture is refused, under the field
    const pictureInput = patient.getByLabel(/^Picture/);
    await pictureInput.setInputFiles({ name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not a picture") });
    await patient.getByRole("button", { name: "Upload picture" }).click();
    await eventually(async () => (await pictureInput.getAttribute("aria-invalid")) === "true", "the picture error");
    const pictureError = await pictureInput.getAttribute("aria-describedby");
    assert.ok((await patient.locator(`[id="${pictureError}"]`).textContent()).trim().length > 0);

    // when she uploads a picture
    await patient.getByLabel(/^Picture/).setInputFiles({ name: "me.png", mimeType: "image/png", buffer: png(48, 48, [30, 120, 200]) });
    await patient.getByRole("button", { name: "Upload picture" }).click();
    await patient.getByRole("status").filter({ hasText: "Picture uploaded." }).waitFor();
    await pictureShown(patient);
    const first = await patient.locator(".person img.avatar").getAttribute("src");

    // a number that is not one is refused, under its field
    const phone = patient.getByLabel(/^Phone number/);
    await phone.fill("12");
    await patient.getByRole("button", { name: "Save" }).click();
    await eventually(async () => (await phone.getAttribute("aria-invalid")) === "true", "the phone error");
    const phoneError = await phone.getAttribute("aria-describedby");
    assert.ok((await patient.locator(`[id="${phoneError}"]`).textContent()).trim().length > 0);

    // a good one and a bio are saved
    await phone.fill("+14155550123");
    await patient.getByLabel("Bio").fill("Runner; allergic to penicillin.");
    await patient.getByRole("button", { name: "Save" }).click();
    await patient.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    assert.equal(await phone.getAttribute("aria-invalid"), null);

    // and are there after a reload, with the picture
    await patient.reload();
    await patient.getByRole("heading", { name: "Profile", exact: true }).waitFor();
    assert.equal(await patient.getByLabel(/^Phone number/).inputValue(), "+14155550123");
    assert.equal(await patient.getByLabel("Bio").inputValue(), "Runner; allergic to penicillin.");
    await pictureShown(patient);
    await checkScreen(patient, "patient-profile-filled");

    // when she replaces it, another picture shows
    await patient.getByLabel(/^New picture/).setInputFiles({ name: "me2.png", mimeType: "image/png", buffer: png(40, 40, [200, 60, 30]) });
    await patient.getByRole("button", { name: "Replace picture" }).click();
    await patient.getByRole("status").filter({ hasText: "Picture replaced." }).waitFor();
    await eventually(
      async () => (await patient.locator(".person img.avatar").getAttribute("src")) !== first,
      "the new picture",
    );
    await pictureShown(patient);

    // when she removes it, her initials come back
    await patient.getByRole("button", { name: "Remove picture" }).click();
    await patient.getByRole("status").filter({ hasText: "Picture removed." }).waitFor();
    await patient.locator(".person span.avatar", { hasText: "NN" }).waitFor();
    assert.equal(await patient.locator(".person img.avatar").count(), 0);
  }),
);

test(
  "booking: filter by specialty, a doctor's card, his week calendar in both time zones; a slot taken meanwhile is refused and disappears; then she books another",
  { timeout: 180_000 },
  screenshotsOnFailure(async () => {
    await patient.getByRole("link", { name: "Book", exact: true }).click();
    await patient.getByRole("heading", { name: "Book an appointment" }).waitFor();
    const doctors = patient.getByRole("list", { name: "Doctors" });
    await doctors.getByRole("heading", { name: "Meredith Grey" }).waitFor();
    await checkScreen(patient, "patient-find-doctor");

    // when she picks a specialty, only its doctors stay
    await patient.getByLabel("Specialty").selectOption("Diagnostics");
    await eventually(async () => (await doctors.getByRole("heading", { name: "Meredith Grey" }).count()) === 0, "Dr Grey to go");
    await doctors.getByRole("heading", { name: "Gregory House" }).waitFor();
    await doctors.getByText("Diagnostics").waitFor();

    // when she chooses Dr House, his week of free times shows, in her zone and his
    await patient.getByRole("button", { name: "Choose Gregory House" }).click();
    await patient.getByRole("heading", { name: "Free times with Gregory House" }).waitFor();
    await patient.getByText(`Times are in your time zone (${PATIENT_ZONE}). Gregory House works in Europe/London`).waitFor();
    const slots = patient.locator(".week-slots .slot");
    await slots.first().waitFor();
    const range = patient.locator(".week-range");
    const thisWeek = await range.textContent();
    await checkScreen(patient, "patient-week-calendar");

    // next week and back
    await patient.getByRole("button", { name: /Next week/ }).click();
    await eventually(async () => (await range.textContent()) !== thisWeek, "the next week");
    await slots.first().waitFor();
    assert.ok(await patient.getByRole("button", { name: /Previous week/ }).isEnabled());
    await patient.getByRole("button", { name: /Previous week/ }).click();
    await eventually(async () => (await range.textContent()) === thisWeek, "this week again");
    assert.ok(await patient.getByRole("button", { name: /Previous week/ }).isDisabled());

    // when she picks the first free time (named like "Tue 8 Dec 01:30")...
    const wanted = slots.first();
    await wanted.waitFor();
    const wantedName = await wanted.getAttribute("aria-label");
    const wantedStartsAt = await wanted.getAttribute("value");
    assert.match(wantedName, /^\S+ \d{1,2} \S+ \d{1,2}:\d{2}( [AP]M)?$/);
    await wanted.click();
    assert.equal(await wanted.getAttribute("aria-pressed"), "true");
    await patient.getByText(/^Chosen: .* your time \(.* in Europe\/London\)$/).waitFor();
    await patient.getByLabel("Reason").fill(REASON);

    // ...and Bob books that very time first
    const bob = await tokenOf("bob@demo.clinic");
    const { doctors: found } = await graphql(`{ doctors(specialty: "Diagnostics") { nodes { id } } }`, {}, bob);
    const booked = await graphql(
      `mutation($input: BookAppointmentInput!) { bookAppointment(input: $input) { __typename } }`,
      { input: { doctorId: found.nodes[0].id, startsAt: wantedStartsAt, reason: "Bob was quicker" } },
      bob,
    );
    assert.equal(booked.bookAppointment.__typename, "AppointmentPayload");

    // then her booking is refused, the page says why, and that time leaves the calendar
    await patient.getByRole("button", { name: /^Book / }).click();
    await patient.locator(".booking [role=alert]").waitFor();
    assert.ok((await patient.locator(".booking [role=alert]").textContent()).trim().length > 0);
    await eventually(
      async () => (await patient.getByRole("button", { name: wantedName, exact: true }).count()) === 0,
      "the taken slot to disappear",
    );
    assert.ok(await patient.getByRole("button", { name: "Book", exact: true }).isDisabled(), "no slot chosen now");
    await checkScreen(patient, "patient-slot-taken");

    // when she picks another time and books, the appointment opens
    const other = slots.first();
    const otherName = await other.getAttribute("aria-label");
    await other.click();
    await patient.getByRole("button", { name: /^Book / }).click();
    await patient.getByRole("heading", { name: "Appointment", exact: true }).waitFor();
    appointmentId = new URL(patient.url()).hash.split("/")[2];
    assert.ok(appointmentId);
    const details = patient.getByRole("region", { name: "Details" });
    await details.getByText(REASON).waitFor();
    await details.getByText(`${otherName} your time`).waitFor();
    await details.getByText(/in Europe\/London\)/).waitFor();
    await details.getByText("Gregory House").first().waitFor();
    await details.locator(".status", { hasText: "scheduled" }).waitFor();
    await checkScreen(patient, "patient-appointment");
  }),
);

test(
  "appointments: upcoming and past with status badges; the doctor opens the appointment, and the patient's record access shows it",
  { timeout: 150_000 },
  screenshotsOnFailure(async () => {
    await patient.getByRole("link", { name: "Appointments", exact: true }).click();
    await patient.getByRole("heading", { name: "My appointments" }).waitFor();
    const upcoming = patient.getByRole("list", { name: "Upcoming appointments" });
    const row = upcoming.getByRole("listitem").filter({ hasText: REASON });
    await row.waitFor();
    await row.getByText("Gregory House").waitFor();
    await row.locator(".status", { hasText: "scheduled" }).waitFor();
    await checkScreen(patient, "patient-appointments");

    // nobody else has opened her records yet
    await patient.getByRole("link", { name: "Record access" }).click();
    await patient.getByRole("heading", { name: "Record access" }).waitFor();
    const accessList = patient.getByRole("list", { name: "Record access" });
    await patient.getByText("Nobody else has opened your records yet.").or(accessList).waitFor();
    const before = await accessList.getByText("Gregory House").count();
    if (before === 0 && (await accessList.count()) === 0) await checkScreen(patient, "patient-record-access-empty");

    // when Dr House opens the appointment
    const doctor = await newPage("Dr House");
    await doctor.goto(`${stack.app.url}/#/appointments/${appointmentId}`);
    await signIn(doctor, "dr.house@demo.clinic");
    await doctor.getByText(REASON).waitFor();
    await doctor.getByText("Nora Newcomer").first().waitFor();
    await doctor.goto("about:blank");
    await doctor.context().close();

    // then her record access says so, newest first
    await eventually(
      async () => {
        await patient.reload();
        await patient.getByRole("heading", { name: "Record access" }).waitFor();
        return (await accessList.getByText("Gregory House").count()) > before;
      },
      "Dr House's read in the record access",
      30_000,
      1000,
    );
    const read = accessList.getByRole("listitem").filter({ hasText: "Gregory House" }).first();
    await read.getByText(/ read /).waitFor();
    await checkScreen(patient, "patient-record-access");

    // when he reads it 25 more times (through the API), the list pages: 20, then "Load more"
    const house = await tokenOf("dr.house@demo.clinic");
    for (let i = 0; i < 25; i++) {
      await graphql(`query($id: ID!) { appointment(id: $id) { id reason } }`, { id: appointmentId }, house);
    }
    await patient.reload();
    await patient.getByRole("heading", { name: "Record access" }).waitFor();
    const items = accessList.getByRole("listitem");
    await eventually(async () => (await items.count()) === 20, "a first page of 20");
    await patient.getByRole("button", { name: "Load more" }).click();
    await eventually(async () => (await items.count()) > 20, "the next page after the first");
    // (about 30 in all: the second page is the last)
    await eventually(async () => (await patient.getByRole("button", { name: "Load more" }).count()) === 0, "no third page");
  }),
);

test(
  "appointment: reschedule to another slot in the week calendar, then cancel with a reason",
  { timeout: 150_000 },
  screenshotsOnFailure(async () => {
    await patient.goto(`${stack.app.url}/#/appointments/${appointmentId}`);
    await patient.getByRole("heading", { name: "Appointment", exact: true }).waitFor();
    const details = patient.getByRole("region", { name: "Details" });
    await details.getByText(REASON).waitFor();
    const was = await details.locator("time").textContent();

    // when she moves it to another free time
    await patient.getByRole("button", { name: "Reschedule" }).click();
    await patient.getByRole("heading", { name: "Move to another time with Gregory House" }).waitFor();
    const slot = patient.locator(".week-slots .slot").nth(1);
    await slot.waitFor();
    const slotName = await slot.getAttribute("aria-label");
    await slot.click();
    await checkScreen(patient, "patient-reschedule");
    await patient.getByRole("button", { name: /^Move to / }).click();
    // then it says so and shows the new time
    await patient.getByRole("status").filter({ hasText: "Moved to" }).waitFor();
    await details.getByText(`${slotName} your time`).waitFor();
    assert.notEqual(await details.locator("time").textContent(), was);

    // when she cancels: a reason is required, then it is cancelled
    await patient.getByRole("button", { name: "Cancel appointment" }).click();
    const confirm = patient.getByRole("button", { name: "Confirm cancellation" });
    assert.ok(await confirm.isDisabled(), "no reason, no cancelling");
    await patient.getByLabel("Reason for cancelling").fill("Feeling better, thank you.");
    await checkScreen(patient, "patient-cancel");
    await confirm.click();
    await patient.getByRole("status").filter({ hasText: "The appointment is cancelled." }).waitFor();
    await details.locator(".status", { hasText: "cancelled" }).waitFor();
    await details.getByText("Feeling better, thank you.").waitFor();
    // and it can no longer be moved or cancelled
    assert.equal(await patient.getByRole("button", { name: "Reschedule" }).count(), 0);
    assert.equal(await patient.getByRole("button", { name: "Cancel appointment" }).count(), 0);

    // and her list shows it under Past, cancelled
    await patient.getByRole("link", { name: "Appointments", exact: true }).click();
    const past = patient.getByRole("list", { name: "Past appointments" });
    await past.getByRole("listitem").filter({ hasText: REASON }).locator(".status", { hasText: "cancelled" }).waitFor();
  }),
);
