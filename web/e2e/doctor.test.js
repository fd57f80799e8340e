// The doctor's screens in a real browser against a real API: Dr House sets his working
// hours and time off, reads his agenda by day and by week while a booking arrives live,
// writes, edits and signs a consultation with prescriptions and adds an addendum (which
// Alice, in her own browser context, reads without any edit control), and records how
// two visits that have started went (completed, no-show).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { ROOT, eventually } from "./harness.js";
import { checkScreen } from "./screens.js";
import { BrowserStack } from "./stack.js";

const LIVE_REASON = "Sore throat since Monday (doctor e2e)";
const STARTED = ["Dizzy spells (started visit, e2e)", "Annual check (started visit, e2e)"];
const TIMEOUT = 30_000;

let stack;
let doctor; // Dr House's page
let patient; // Alice's page
let started; // ids of the two visits that have started, by reason
let startedDay; // their UTC day
let startedDaysAgo; // 0, or 1 when run just after midnight (UTC): they started yesterday
let booked; // the appointment Alice books while Dr House watches

before(async () => {
  stack = await BrowserStack.start("doctor");
  const database = path.join(stack.dataDir, "healthcare.sqlite3");
  ({ ids: started, day: startedDay } = await insertStartedVisits(database));
  startedDaysAgo = Math.round((Date.parse(utcDate(0)) - Date.parse(startedDay)) / 86_400_000);
});

after(async () => {
  await stack?.close();
});

/**
 * The API books only future slots, and the demo's past visit is completed already: so two
 * visits of Alice with Dr House that started 60 and 30 minutes ago go straight into the
 * test's own database, through the project's models. Both on one UTC day: just after
 * midnight, at 23:00 and 23:30 the day before. Returns their ids by reason, and that day.
 */
async function insertStartedVisits(file) {
  const script = `
import asyncio, json, sys
from datetime import timedelta
from tortoise import Tortoise
from healthcare import models
from healthcare.config import tortoise_config
from healthcare.security.auth import utcnow

async def main():
    await Tortoise.init(config=tortoise_config(sys.argv[1]))
    house = await models.User.get(email="dr.house@demo.clinic")
    alice = await models.User.get(email="alice@demo.clinic")
    now = utcnow().replace(second=0, microsecond=0)
    if (now - timedelta(minutes=60)).date() != now.date():
        now = now.replace(hour=0, minute=0)
    ids = {}
    for minutes, reason in ((60, sys.argv[2]), (30, sys.argv[3])):
        starts_at = now - timedelta(minutes=minutes)
        visit = await models.Appointment.create(
            patient=alice, doctor=house, starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=25), reason=reason,
        )
        await models.AppointmentChange.create(
            appointment=visit, actor=alice, kind=models.AppointmentChangeKind.BOOKED,
            from_status=None, to_status=models.AppointmentStatus.SCHEDULED,
        )
        ids[reason] = str(visit.id)
    await Tortoise.close_connections()
    print(json.dumps({"ids": ids, "day": starts_at.date().isoformat()}))

asyncio.run(main())
`;
  const python = path.join(ROOT, ".venv", "bin", "python");
  const { stdout } = await promisify(execFile)(python, ["-c", script, `sqlite://${file}`, ...STARTED], {
    cwd: ROOT,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1));
}

/** A GraphQL request to the API as `token`'s user. */
const graphql = (token, query, variables = {}) => stack.graphql(query, variables, token);
const tokenOf = (email) => stack.tokenOf(email);

async function signedInPage(email) {
  // UTC in the browser; Dr House's schedule moves to Europe/Paris, so both clocks show.
  const page = await stack.signedInPage(email, { viewport: { width: 1280, height: 860 }, timezoneId: "UTC" });
  page.context().setDefaultTimeout(TIMEOUT);
  await page.locator(".live.on").waitFor(); // the WebSocket is up
  return page;
}

function shot(page, name) {
  return stack.shot(page, name);
}

// Wraps test bodies when the file loads, before the stack exists: looked up when they run.
function screenshotsOnFailure(name, body) {
  return () => stack.screenshotsOnFailure(body)();
}

/** The "From" or "To" input of the time-off form (its label also holds its error). */
function timeOffInput(page, label) {
  return page.locator(".add-time-off label").filter({ hasText: new RegExp(`^${label}`) }).locator("input");
}

/** A RegExp that finds `text` as it is (brackets included). */
function literally(text) {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
}

/**
 * Move the agenda to the day the started visits are on: today, or (just after midnight)
 * yesterday, which is last week's Sunday on a Monday.
 */
async function showStartedDay(page, view) {
  const header = page.locator(".page-header");
  await header.getByRole("button", { name: "Today" }).click();
  if (startedDaysAgo === 0) return;
  if (view === "day") await header.getByRole("button", { name: "Previous day" }).click();
  else if (new Date().getUTCDay() === 1) await header.getByRole("button", { name: "Previous week" }).click();
}

/** YYYY-MM-DD, `days` from today (UTC, the browsers' zone). */
function utcDate(days = 0) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

test(
  "the doctor sets his working hours, and adds and removes time off",
  { timeout: 180_000 },
  screenshotsOnFailure("schedule", async () => {
    doctor = await signedInPage("dr.house@demo.clinic");
    await doctor.getByRole("heading", { name: "Agenda" }).waitFor();

    // given his schedule from the demo data: weekdays 09:00-12:00 and 13:00-17:00, London
    await doctor.getByRole("link", { name: "Schedule", exact: true }).click();
    await doctor.getByRole("heading", { name: "Schedule", level: 1 }).waitFor();
    const monday = doctor.getByRole("group", { name: "Monday" });
    await monday.getByLabel("Start").first().waitFor();
    assert.equal(await monday.getByLabel("Start").count(), 2);
    assert.equal(await monday.getByLabel("End").nth(1).inputValue(), "17:00");
    assert.equal(await doctor.getByLabel("Time zone").inputValue(), "Europe/London");
    assert.equal(await doctor.getByRole("group", { name: "Saturday" }).getByText("Not working").count(), 1);
    await doctor.getByText("No time off planned.").waitFor();
    await checkScreen(doctor, "doctor-schedule");

    // when he adds Saturday hours that end before they start, and saves
    const saturday = doctor.getByRole("group", { name: "Saturday" });
    await doctor.getByRole("button", { name: "Add hours on Saturday" }).click();
    await saturday.getByLabel("Start").fill("12:00");
    await saturday.getByLabel("End").fill("10:00");
    await doctor.getByLabel("Time zone").selectOption("Europe/Paris");
    await doctor.getByRole("button", { name: "Save working hours" }).click();

    // then the error is under that row's end (the API names it hours[10].end), not saved
    await saturday.getByRole("alert").filter({ hasText: "The end must come after the start." }).waitFor();
    assert.equal(await monday.getByRole("alert").count(), 0);

    // when he corrects it and saves again, then it is saved, time zone included
    await saturday.getByLabel("End").fill("14:00");
    await doctor.getByRole("button", { name: "Save working hours" }).click();
    await doctor.getByRole("status").filter({ hasText: "Working hours saved." }).waitFor();
    const houseToken = await tokenOf("dr.house@demo.clinic");
    const houseId = (await graphql(houseToken, "{ me { id } }")).me.id;
    const { doctorSchedule } = await graphql(
      houseToken,
      "query($id: ID!) { doctorSchedule(doctorId: $id) { timeZone hours { weekday start end } } }",
      { id: houseId },
    );
    assert.equal(doctorSchedule.timeZone, "Europe/Paris");
    assert.deepEqual(
      doctorSchedule.hours.filter((h) => h.weekday === 5),
      [{ weekday: 5, start: "12:00", end: "14:00" }],
    );
    assert.equal(doctorSchedule.hours.length, 11);

    // when he adds time off that ends before it starts, then the error is under "To"
    const from = `${utcDate(60)}T09:00`;
    await timeOffInput(doctor, "From").fill(from);
    await timeOffInput(doctor, "To").fill(`${utcDate(59)}T09:00`);
    await doctor.getByLabel("Reason (optional)").fill("Conference in Lyon (e2e)");
    await doctor.getByRole("button", { name: "Add time off" }).click();
    await doctor
      .locator("label", { hasText: "To" })
      .getByRole("alert")
      .filter({ hasText: "The end must come after the start." })
      .waitFor();

    // when he corrects it, then it is listed, in his time and in his schedule's
    await timeOffInput(doctor, "To").fill(`${utcDate(62)}T18:00`);
    await doctor.getByRole("button", { name: "Add time off" }).click();
    const timeOff = doctor.getByRole("list", { name: "Time off" });
    await timeOff.getByText("Conference in Lyon (e2e)").waitFor();
    assert.match(await timeOff.textContent(), /Europe\/Paris/);
    assert.equal((await graphql(houseToken, "{ timeOff { reason } }")).timeOff.length, 1);
    await checkScreen(doctor, "doctor-schedule-filled");

    // when he removes it (confirming), then it is gone, here and in the API
    await timeOff.getByRole("button", { name: "Remove" }).click();
    await timeOff.getByText("Patients can book these times again.").waitFor();
    await timeOff.getByRole("button", { name: "Yes, remove" }).click();
    await doctor.getByText("No time off planned.").waitFor();
    assert.deepEqual((await graphql(houseToken, "{ timeOff { id } }")).timeOff, []);
  }),
);

test(
  "the agenda shows a day and a week, and a booking arrives in it live",
  { timeout: 180_000 },
  screenshotsOnFailure("agenda", async () => {
    // given the agenda's week: the two visits that started today are placed in it
    await doctor.getByRole("link", { name: "Agenda", exact: true }).click();
    await doctor.getByRole("heading", { name: "Agenda", level: 1 }).waitFor();
    await doctor.getByRole("button", { name: "Week", exact: true, pressed: true }).waitFor();
    await showStartedDay(doctor, "week");
    const grid = doctor.locator(".agenda-grid");
    for (const reason of STARTED) await grid.getByText(reason).waitFor();
    assert.equal(await grid.locator(".agenda-day").count(), 7);
    // his schedule's time zone differs from the browser's: both are said
    await doctor.locator(".zone-note", { hasText: "Europe/Paris" }).waitFor();
    assert.match(await grid.getByRole("link", { name: literally(STARTED[0]) }).textContent(), /Europe\/Paris/);
    await checkScreen(doctor, "doctor-agenda-week");

    // when he switches to the day view: today, with the same two visits, in time order
    await doctor.getByRole("button", { name: "Day", exact: true }).click();
    await doctor.getByRole("button", { name: "Day", exact: true, pressed: true }).waitFor();
    await showStartedDay(doctor, "day");
    await doctor.locator(".agenda-range", { hasText: String(new Date(startedDay).getUTCDate()) }).waitFor();
    await eventually(async () => (await grid.locator(".agenda-day").count()) === 1, "one day in the grid");
    const links = grid.getByRole("link");
    await links.first().waitFor();
    assert.match(await links.nth(0).textContent(), /Dizzy spells/);
    assert.match(await links.nth(1).textContent(), /Annual check/);
    await checkScreen(doctor, "doctor-agenda-day");

    // a day with nothing booked says so
    await doctor.locator(".page-header").getByRole("button", { name: "Previous day" }).click();
    await doctor.getByText("Nothing booked on this day.").waitFor();
    await checkScreen(doctor, "doctor-agenda-empty");

    // given Alice's own browser, and the first free slot with Dr House
    patient = await signedInPage("alice@demo.clinic");
    const aliceToken = await tokenOf("alice@demo.clinic");
    const houseId = (await graphql(await tokenOf("dr.house@demo.clinic"), "{ me { id } }")).me.id;
    const { availableSlots } = await graphql(
      aliceToken,
      "query($d: ID!, $f: Date!, $t: Date!) { availableSlots(doctorId: $d, fromDate: $f, toDate: $t) { startsAt } }",
      { d: houseId, f: utcDate(1), t: utcDate(20) },
    );
    const slot = availableSlots[0].startsAt;
    // and the doctor watching that slot's day
    await doctor.locator(".page-header").getByRole("button", { name: "Today" }).click();
    const days = Math.round((Date.parse(slot.slice(0, 10)) - Date.parse(utcDate(0))) / 86_400_000);
    for (let i = 0; i < days; i++) await doctor.locator(".page-header").getByRole("button", { name: "Next day" }).click();
    await doctor.locator(".agenda-range", { hasText: new Date(slot).getUTCDate().toString() }).waitFor();
    await doctor.locator(".agenda-grid, .state").first().waitFor();

    // when Alice books it
    const { bookAppointment } = await graphql(
      aliceToken,
      `mutation($input: BookAppointmentInput!) { bookAppointment(input: $input) {
        __typename ... on AppointmentPayload { appointment { id } } ... on Error { message } } }`,
      { input: { doctorId: houseId, startsAt: slot, reason: LIVE_REASON } },
    );
    assert.equal(bookAppointment.__typename, "AppointmentPayload", JSON.stringify(bookAppointment));
    booked = bookAppointment.appointment.id;

    // then it appears in his day without a reload, with her name, and in "Coming up"
    const entry = grid.getByRole("link", { name: literally(LIVE_REASON) });
    await entry.waitFor({ timeout: 20_000 });
    assert.match(await entry.textContent(), /Alice Patient/);
    assert.match(await entry.textContent(), /scheduled/);
    await doctor.getByRole("list", { name: "Coming up" }).getByText(LIVE_REASON).waitFor();
    await shot(doctor, "doctor-agenda-live");

    // and the week view (Monday first) holds it too
    await doctor.getByRole("button", { name: "Week", exact: true }).click();
    await grid.getByRole("link", { name: literally(LIVE_REASON) }).waitFor();
  }),
);

test(
  "the doctor writes, edits and signs a consultation with prescriptions; the patient reads it",
  { timeout: 240_000 },
  screenshotsOnFailure("consultation", async () => {
    // given the booked visit, opened from the agenda: it has not started, so no outcome yet
    await doctor.locator(".agenda-grid").getByRole("link", { name: literally(LIVE_REASON) }).click();
    await doctor.getByRole("heading", { name: "Appointment" }).waitFor();
    await doctor.getByText("Once the visit has started").waitFor();
    assert.equal(await doctor.getByRole("button", { name: "Mark completed" }).count(), 0);

    // when he writes the notes and two prescriptions, the second without a dose
    const section = doctor.locator(".consultation-section");
    await section.getByLabel("History").fill("Sore throat for four days, no fever.");
    await section.getByLabel("Examination").fill("Red pharynx, swollen tonsils with exudate.");
    await section.getByLabel("Investigations").fill("Rapid strep test: positive.");
    await section.getByLabel("Plan").fill("Antibiotics for ten days; rest.");
    await section.getByLabel("Review date (optional)").fill(utcDate(30));
    await section.getByRole("button", { name: "Add prescription" }).click();
    await section.getByRole("button", { name: "Add prescription" }).click();
    const first = section.getByRole("group", { name: "Prescription 1" });
    await first.getByLabel("Medication").fill("Amoxicillin");
    await first.getByLabel("Dose").fill("500 mg");
    await first.getByLabel("Route").fill("oral");
    await first.getByLabel("Frequency").fill("three times a day");
    await first.getByLabel("Duration").fill("10 days");
    await first.getByLabel("Instructions (optional)").fill("Finish the course.");
    const second = section.getByRole("group", { name: "Prescription 2" });
    await second.getByLabel("Medication").fill("Paracetamol");
    await second.getByLabel("Route").fill("oral");
    await second.getByLabel("Frequency").fill("every six hours if needed");
    await second.getByLabel("Duration").fill("5 days");
    await section.getByRole("button", { name: "Save draft" }).click();

    // then the API's error is shown under that row's dose, and nothing is saved
    await second.getByRole("alert").filter({ hasText: "This field is required." }).waitFor();
    assert.equal(await first.getByRole("alert").count(), 0);
    await checkScreen(doctor, "doctor-consultation-editor");

    // when he gives the dose, then the draft is saved and shown
    await second.getByLabel("Dose").fill("1 g");
    await section.getByRole("button", { name: "Save draft" }).click();
    await section.getByText("Draft", { exact: true }).waitFor();
    const prescriptions = section.getByRole("list", { name: "Prescriptions" });
    await prescriptions.getByText("Amoxicillin").waitFor();
    assert.match(await prescriptions.textContent(), /Paracetamol 1 g, oral, every six hours if needed, for 5 days\./);
    await section.getByText("revision 1").waitFor();

    // when he edits the draft while it is changed elsewhere (his other device), then he is
    // told instead of overwriting it, and may save his version over it
    await section.getByRole("button", { name: "Edit draft" }).click();
    await section.getByLabel("Plan").fill("Antibiotics for ten days; rest; fluids.");
    const houseToken = await tokenOf("dr.house@demo.clinic");
    const { appointment } = await graphql(houseToken, "query($id: ID!) { appointment(id: $id) { consultation { id } } }", {
      id: booked,
    });
    const elsewhere = await graphql(
      houseToken,
      `mutation($id: ID!) { updateConsultation(id: $id, input: { privateNotes: "From my phone" }) { __typename } }`,
      { id: appointment.consultation.id },
    );
    assert.equal(elsewhere.updateConsultation.__typename, "ConsultationPayload");
    await section.getByRole("button", { name: "Save draft" }).click();
    const conflict = section.getByRole("alert").filter({ hasText: "This draft was saved elsewhere after you opened it" });
    await conflict.waitFor();
    assert.match(await conflict.textContent(), /revision 2 now, you started from revision 1/);
    const kept = await graphql(houseToken, "query($id: ID!) { consultation(id: $id) { treatmentPlan privateNotes } }", {
      id: appointment.consultation.id,
    });
    assert.deepEqual(kept.consultation, { treatmentPlan: "Antibiotics for ten days; rest.", privateNotes: "From my phone" });
    await section.getByRole("button", { name: "Save mine over theirs" }).click();
    await section.getByText("Antibiotics for ten days; rest; fluids.").waitFor();
    await section.getByText("revision 3").waitFor();

    // when he signs it (a confirm step: it is final), then it is signed and read-only
    await section.getByRole("button", { name: "Sign", exact: true }).click();
    await section.getByText("Signing is final").waitFor();
    await section.getByRole("button", { name: "Sign consultation" }).click();
    await section.getByText("Signed", { exact: true }).waitFor();
    assert.equal(await section.getByRole("button", { name: "Edit draft" }).count(), 0);

    // when he adds an addendum, then it is listed with its time
    await section.getByLabel("Addendum").fill("Allergy to penicillin ruled out by phone.");
    await section.getByRole("button", { name: "Add addendum" }).click();
    const addenda = section.getByRole("list", { name: "Addenda" });
    await addenda.getByText("Allergy to penicillin ruled out by phone.").waitFor();
    assert.ok(await addenda.locator("time").count(), "the addendum's time");
    await checkScreen(doctor, "doctor-consultation-signed");

    // then Alice sees the notes, both prescriptions and the addendum, and no edit control
    await patient.goto(`${stack.app.url}/#/appointments/${booked}`);
    const hers = patient.locator(".consultation-section");
    await hers.getByText("Antibiotics for ten days; rest; fluids.").waitFor();
    await hers.getByText("Red pharynx, swollen tonsils with exudate.").waitFor();
    const list = hers.getByRole("list", { name: "Prescriptions" });
    await list.getByText("Amoxicillin").waitFor();
    assert.match(await list.textContent(), /Amoxicillin 500 mg, oral, three times a day, for 10 days\. Finish the course\./);
    assert.match(await list.textContent(), /Paracetamol 1 g/);
    await hers.getByRole("list", { name: "Addenda" }).getByText("Allergy to penicillin ruled out by phone.").waitFor();
    await hers.getByText("Signed", { exact: true }).waitFor();
    assert.equal(await hers.getByRole("button").count(), 0, "no button in the patient's consultation");
    assert.equal(await hers.getByRole("textbox").count(), 0, "no text box in the patient's consultation");
    assert.equal(await hers.getByText("From my phone").count(), 0, "private notes stay private");
    assert.equal(await patient.getByRole("button", { name: /Mark/ }).count(), 0);
    await checkScreen(patient, "doctor-consultation-patient");
  }),
);

test(
  "on visits that have started, the doctor marks one completed and one a no-show",
  { timeout: 180_000 },
  screenshotsOnFailure("outcome", async () => {
    const houseToken = await tokenOf("dr.house@demo.clinic");
    const statusOf = async (id) =>
      (await graphql(houseToken, "query($id: ID!) { appointment(id: $id) { status } }", { id })).appointment.status;

    // given a visit that started an hour ago
    await doctor.goto(`${stack.app.url}/#/appointments/${started[STARTED[0]]}`);
    const outcome = doctor.getByRole("region", { name: "Visit outcome" });
    await outcome.getByRole("button", { name: "Mark completed" }).waitFor();
    await checkScreen(doctor, "doctor-visit-outcome");

    // when he marks it completed, cancelling the first time, then confirming
    await outcome.getByRole("button", { name: "Mark completed" }).click();
    await outcome.getByRole("button", { name: "Cancel" }).click();
    assert.equal(await statusOf(started[STARTED[0]]), "SCHEDULED");
    await outcome.getByRole("button", { name: "Mark completed" }).click();
    await outcome.getByRole("button", { name: "Yes, mark completed" }).click();

    // then the page shows it completed, and so does the API
    await doctor.getByText("Marked completed.").waitFor();
    await doctor.locator(".appointment-summary .status", { hasText: "completed" }).waitFor();
    assert.equal(await statusOf(started[STARTED[0]]), "COMPLETED");

    // when he marks the other one a no-show, then it is one
    await doctor.goto(`${stack.app.url}/#/appointments/${started[STARTED[1]]}`);
    await outcome.getByRole("button", { name: "Mark no-show" }).click();
    await outcome.getByRole("button", { name: "Yes, mark no-show" }).click();
    await doctor.getByText("Marked as a no-show.").waitFor();
    await doctor.locator(".appointment-summary .status", { hasText: "no show" }).waitFor();
    assert.equal(await statusOf(started[STARTED[1]]), "NO_SHOW");

    // and the agenda shows both outcomes
    await doctor.getByRole("link", { name: "Agenda", exact: true }).click();
    await doctor.getByRole("button", { name: "Day", exact: true }).click();
    await showStartedDay(doctor, "day");
    const grid = doctor.locator(".agenda-grid");
    await grid.locator(".agenda-item.completed", { hasText: STARTED[0] }).waitFor();
    await grid.locator(".agenda-item.no-show", { hasText: STARTED[1] }).waitFor();

    assert.deepEqual(stack.pageErrors, []);
  }),
);
