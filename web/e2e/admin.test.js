// The admin screens in a real browser against a real API: the administrator finds
// accounts, creates a doctor and an administrator, changes a patient's role and back,
// deactivates a patient (who then cannot sign in, in another browser context) and
// reactivates them, is refused deactivating themself, and reads the audit trail, filtered.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { eventually } from "./harness.js";
import { checkScreen } from "./screens.js";
import { BrowserStack, TIMEOUT } from "./stack.js";

const NOBODYS_APPOINTMENT = "00000000-0000-4000-8000-000000000000";
let stack;
let admin; // the administrator's page, kept across the tests (they run in order)

before(async () => {
  stack = await BrowserStack.start("admin");
});

after(async () => {
  await stack?.close();
});

/** A new browser context on the sign-in page, filled in and submitted. */
async function signInAttempt(email) {
  const page = await stack.newPage(email);
  await page.goto(stack.app.url);
  await stack.submitSignIn(page, email);
  return page;
}

const signedInPage = (email) => stack.signedInPage(email);
const closePage = (page) => stack.closePage(page);
// Wraps test bodies when the file loads, before the stack exists: looked up when they run.
const screenshotsOnFailure = (body) => () => stack.screenshotsOnFailure(body)();

function accountRows(page) {
  return page.getByRole("list", { name: "Accounts" }).getByRole("listitem");
}

/** The names in the accounts list once it shows exactly `expected` (any order). */
async function listShows(page, expected, what) {
  await eventually(async () => {
    if (await page.locator(".rows.refreshing").count()) return false;
    const names = (await accountRows(page).locator(".user-name").allTextContents()).sort();
    return JSON.stringify(names) === JSON.stringify([...expected].sort());
  }, what, TIMEOUT);
}

async function openAccount(page, search, name) {
  await page.getByRole("link", { name: "Users", exact: true }).click();
  await page.getByRole("heading", { name: "Users" }).waitFor();
  await page.getByLabel("Search").fill(search);
  await listShows(page, [name], `the list to show only ${name}`);
  await accountRows(page).getByRole("link", { name }).click();
  await page.getByRole("heading", { name, level: 1 }).waitFor();
}

/** The audit rows' texts once no new query is in flight. */
async function auditRows(page) {
  await page.getByRole("list", { name: "Audit events" }).waitFor();
  await eventually(async () => (await page.locator(".rows.refreshing").count()) === 0, "the trail to load");
  return page.getByRole("list", { name: "Audit events" }).getByRole("listitem").allTextContents();
}

test(
  "the administrator lands on Users, with no clinical screens, and finds accounts",
  { timeout: 120_000 },
  screenshotsOnFailure(async () => {
    admin = await signedInPage("admin@demo.clinic");
    await admin.getByRole("heading", { name: "Users", level: 1 }).waitFor();
    assert.match(admin.url(), /#\/users$|\/$|#$/);

    // the menu: Users first, the audit trail, settings; nothing clinical
    const menu = (await admin.getByRole("navigation", { name: "Main" }).getByRole("link").allTextContents()).map((t) =>
      t.trim(),
    );
    assert.equal(menu[0], "Users");
    assert.ok(menu.includes("Audit trail"), `the menu: ${menu}`);
    for (const clinical of ["Appointments", "Agenda", "Chat", "Book"]) {
      assert.ok(!menu.includes(clinical), `the admin's menu has no ${clinical}: ${menu}`);
    }

    // every demo account, each with its role and active status
    await listShows(
      admin,
      ["Ada Admin", "Gregory House", "Meredith Grey", "Alice Patient", "Bob Patient"],
      "the five demo accounts",
    );
    const house = accountRows(admin).filter({ hasText: "Gregory House" });
    await house.getByText("dr.house@demo.clinic").waitFor();
    await house.getByText("Doctor · Diagnostics").waitFor();
    await house.getByText("Active", { exact: true }).waitFor();
    await checkScreen(admin, "admin-users");

    // search: a name, in any case; then role and status filters
    await admin.getByLabel("Search").fill("GREY");
    await listShows(admin, ["Meredith Grey"], "the search for grey");
    await admin.getByLabel("Search").fill("demo.clinic");
    await admin.getByLabel("Role").selectOption({ label: "Patients" });
    await listShows(admin, ["Alice Patient", "Bob Patient"], "patients only");
    await admin.getByLabel("Status").selectOption({ label: "Inactive" });
    await admin.getByText("No account matches these filters.").waitFor();
    await checkScreen(admin, "admin-users-empty");
    await admin.getByRole("button", { name: "Clear filters" }).click();
    await listShows(
      admin,
      ["Ada Admin", "Gregory House", "Meredith Grey", "Alice Patient", "Bob Patient"],
      "every account again",
    );
  }),
);

test(
  "the administrator creates a doctor (with a specialty) and an administrator",
  { timeout: 120_000 },
  screenshotsOnFailure(async () => {
    await admin.getByRole("link", { name: "New account" }).click();
    await admin.getByRole("heading", { name: "New account" }).waitFor();
    await checkScreen(admin, "admin-create-user");

    // a doctor without a specialty: the API's message under the Specialty field
    await admin.getByLabel("Doctor").check();
    await admin.getByLabel("First name").fill("Nina");
    await admin.getByLabel("Last name").fill("Okafor");
    await admin.getByLabel("Email").fill("nina.okafor@demo.clinic");
    await admin.getByLabel(/Initial password/).fill("a-good-password-9");
    await admin.getByRole("button", { name: "Create doctor account" }).click();
    const specialty = admin.getByRole("textbox", { name: "Specialty" });
    await eventually(async () => (await specialty.getAttribute("aria-invalid")) === "true", "Specialty marked invalid");
    await admin.getByText("A doctor needs a specialty.").waitFor();
    await checkScreen(admin, "admin-create-user-errors");

    // a password too short: under the password field
    await specialty.fill("Dermatology");
    await admin.getByLabel(/Initial password/).fill("short");
    await admin.getByRole("button", { name: "Create doctor account" }).click();
    await admin.getByText("Use at least 10 characters.").waitFor();
    assert.equal(await admin.getByText("A doctor needs a specialty.").count(), 0, "the old error is gone");

    // then it is created, and its owner is sent a link to confirm the address
    await admin.getByLabel(/Initial password/).fill("a-good-password-9");
    await admin.getByRole("button", { name: "Create doctor account" }).click();
    const created = admin.getByRole("status").filter({ hasText: "Created" });
    await created
      .getByText(/Created Nina Okafor \(doctor\)\. We sent nina\.okafor@demo\.clinic a link to confirm the address\./)
      .waitFor();
    assert.equal(await admin.getByLabel("First name").inputValue(), "", "the form is blank again");

    // the same address again: refused under Email
    await admin.getByLabel("First name").fill("Nina");
    await admin.getByLabel("Last name").fill("Again");
    await admin.getByLabel("Email").fill("nina.okafor@demo.clinic");
    await admin.getByLabel(/Initial password/).fill("a-good-password-9");
    await admin.getByLabel("Specialty").fill("Dermatology");
    await admin.getByRole("button", { name: "Create doctor account" }).click();
    await admin.getByText("An account with this email already exists.").waitFor();

    // an administrator: no specialty asked
    await admin.getByLabel("Administrator").check();
    assert.equal(await admin.getByLabel("Specialty").count(), 0, "no specialty for administrators");
    await admin.getByLabel("First name").fill("Omar");
    await admin.getByLabel("Last name").fill("Staff");
    await admin.getByLabel("Email").fill("omar.staff@demo.clinic");
    await admin.getByRole("button", { name: "Create administrator account" }).click();
    await admin.getByText(/Created Omar Staff \(administrator\)/).waitFor();

    // both are in the list, with their roles
    await admin.getByRole("link", { name: "Back to users" }).click();
    await admin.getByLabel("Search").fill("okafor");
    await listShows(admin, ["Nina Okafor"], "the new doctor");
    await accountRows(admin).getByText("Doctor · Dermatology").waitFor();
    await accountRows(admin).getByText("nina.okafor@demo.clinic · not confirmed yet").waitFor();
    await admin.getByLabel("Search").fill("omar");
    await listShows(admin, ["Omar Staff"], "the new administrator");
    await accountRows(admin).getByText("Administrator").waitFor();
  }),
);

test(
  "the administrator changes a patient's role to doctor and back",
  { timeout: 120_000 },
  screenshotsOnFailure(async () => {
    await openAccount(admin, "bob", "Bob Patient");
    await checkScreen(admin, "admin-user-account");
    const role = admin.getByRole("combobox", { name: "Role" });

    await role.selectOption({ label: "Doctor" });
    await admin.getByRole("button", { name: "Change role" }).click();
    await admin.getByText("A doctor needs a specialty.").waitFor();

    await admin.getByRole("textbox", { name: "Specialty" }).fill("Cardiology");
    await admin.getByRole("button", { name: "Change role" }).click();
    await admin.getByRole("status").getByText("Bob Patient is now a doctor.", { exact: false }).waitFor();
    await admin.locator(".account-summary").getByText("Doctor · Cardiology").waitFor();

    await role.selectOption({ label: "Patient" });
    await admin.getByRole("button", { name: "Change role" }).click();
    await admin.getByRole("status").getByText("Bob Patient is now a patient.", { exact: false }).waitFor();
    await admin.locator(".account-summary").getByText("Patient", { exact: true }).waitFor();
    assert.equal(await admin.getByRole("textbox", { name: "Specialty" }).count(), 0);
  }),
);

test(
  "a deactivated patient cannot sign in until reactivated; nobody deactivates themself",
  { timeout: 180_000 },
  screenshotsOnFailure(async () => {
    // Bob, signed in, looks for an appointment that is not his: a refused attempt
    const bob = await signedInPage("bob@demo.clinic");
    await bob.goto(`${stack.app.url}/#/appointments/${NOBODYS_APPOINTMENT}`);
    await bob.getByText("No such appointment.").waitFor();
    await closePage(bob);

    // the administrator deactivates him, after a confirm step
    await openAccount(admin, "bob", "Bob Patient");
    await admin.getByRole("button", { name: "Deactivate account" }).click();
    await admin.getByText(/Deactivate Bob Patient\? They are signed out at once/).waitFor();
    assert.equal(await admin.evaluate(() => document.activeElement?.textContent), "Cancel", "focus on the safe choice");
    await checkScreen(admin, "admin-user-confirm");
    await admin.getByRole("button", { name: "Yes, deactivate" }).click();
    await admin.getByRole("status").getByText(/deactivated: they were signed out/).waitFor();
    await admin.locator(".account-summary").getByText("Inactive", { exact: true }).waitFor();

    // Bob cannot sign in
    const refused = await signInAttempt("bob@demo.clinic");
    await refused.getByRole("alert").getByText("This account is deactivated. Contact the clinic.").waitFor();
    assert.equal(await refused.getByRole("button", { name: "Sign out" }).count(), 0);
    await closePage(refused);

    // the list says so, and filters by it
    await admin.getByRole("link", { name: "Back to users" }).click();
    await admin.getByLabel("Status").selectOption({ label: "Inactive" });
    await listShows(admin, ["Bob Patient"], "Bob as the one inactive account");

    // reactivated, he can
    await openAccount(admin, "bob", "Bob Patient");
    await admin.getByRole("button", { name: "Reactivate account" }).click();
    await admin.getByRole("button", { name: "Yes, reactivate" }).click();
    await admin.getByRole("status").getByText(/active again/).waitFor();
    await admin.locator(".account-summary").getByText("Active", { exact: true }).waitFor();
    const back = await signedInPage("bob@demo.clinic");
    await closePage(back);

    // the administrator's own account: the API refuses, and the screen says why
    await openAccount(admin, "admin@demo", "Ada Admin");
    await admin.getByRole("button", { name: "Deactivate account" }).click();
    await admin.getByRole("button", { name: "Yes, deactivate" }).click();
    await admin.getByRole("alert").getByText("You cannot deactivate your own account.").waitFor();
    await admin.locator(".account-summary").getByText("Active", { exact: true }).waitFor();
  }),
);

test(
  "the audit trail shows who touched what, newest first, and its filters narrow it",
  { timeout: 180_000 },
  screenshotsOnFailure(async () => {
    await admin.getByRole("link", { name: "Audit trail", exact: true }).click();
    await admin.getByRole("heading", { name: "Audit trail", level: 1 }).waitFor();
    const all = await auditRows(admin);
    assert.ok(all.length > 3, `some events: ${all.length}`);
    // the administrator read the patients' profiles (the users list, Bob's account)
    assert.ok(
      all.some((row) => row.includes("Read · Patient profile") && row.includes("Ada Admin (administrator)")),
      `an administrator's read of a patient profile: ${all.slice(0, 5).join(" | ")}`,
    );
    // newest first
    const times = await admin
      .getByRole("list", { name: "Audit events" })
      .locator("time")
      .evaluateAll((nodes) => nodes.map((node) => Date.parse(node.getAttribute("datetime"))));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");
    await checkScreen(admin, "admin-audit-trail");

    // denied only: Bob's look at an appointment that is not his
    await admin.getByLabel("Outcome").selectOption({ label: "Denied" });
    await eventually(async () => {
      const rows = await auditRows(admin);
      const bobsLook = (row) => row.includes("Denied · Appointment") && row.includes("by Bob Patient (patient)");
      return rows.length > 0 && rows.every((row) => row.includes("Denied")) && rows.some(bobsLook);
    }, "only denied events, Bob's among them", TIMEOUT);

    // Bob as the actor, picked by name: only his events
    await admin.getByLabel("Outcome").selectOption({ label: "Allowed and denied" });
    await admin.getByRole("searchbox", { name: "Actor" }).fill("bob");
    await admin
      .getByRole("list", { name: "Matching accounts for Actor" })
      .getByRole("button", { name: /Bob Patient/ })
      .click();
    await admin.getByRole("button", { name: "Clear actor: Bob Patient" }).waitFor();
    await eventually(async () => {
      const rows = await auditRows(admin);
      return rows.length > 0 && rows.every((row) => row.includes("by Bob Patient"));
    }, "only Bob's events", TIMEOUT);

    // and the READ action of the administrator: none of Bob's
    await admin.getByRole("button", { name: "Clear actor: Bob Patient" }).click();
    await admin.getByLabel("Action").selectOption({ label: "Read" });
    await admin.getByLabel("Entity").selectOption({ label: "Patient profile" });
    await eventually(async () => {
      const rows = await auditRows(admin);
      return rows.length > 0 && rows.every((row) => row.includes("Read · Patient profile"));
    }, "only reads of patient profiles", TIMEOUT);

    // a time range in the future: nothing, and the empty state says so
    await admin.getByLabel("From").fill("2099-01-01T00:00");
    await admin.getByText("No event matches these filters.").waitFor();
    await checkScreen(admin, "admin-audit-empty");
    await admin.getByRole("button", { name: "Clear filters" }).click();
    await eventually(async () => (await auditRows(admin)).length === 20, "a full first page again", TIMEOUT);

    // from Bob's account: who accessed his records, the patient filter set
    await openAccount(admin, "bob", "Bob Patient");
    const bobId = admin.url().split("#/users/")[1];
    await admin.getByRole("link", { name: "Access to their records" }).click();
    await admin.getByRole("heading", { name: "Audit trail", level: 1 }).waitFor();
    await admin.getByRole("button", { name: "Clear patient: Bob Patient" }).waitFor();
    const bobs = await eventually(async () => {
      const rows = await auditRows(admin);
      return rows.length > 0 ? rows : null;
    }, "events about Bob", TIMEOUT);
    assert.ok(
      bobs.every((row) => row.includes("their own record") || row.includes(`record of patient ${bobId.slice(0, 8)}`)),
      `each concerns Bob: ${bobs.join(" | ")}`,
    );
    assert.ok(bobs.some((row) => row.includes("by Ada Admin")), "the administrator's reads of his profile among them");

    // paging: "Load more events" adds older ones below
    await admin.getByRole("button", { name: "Clear patient: Bob Patient" }).click();
    const firstPage = await eventually(async () => {
      const rows = await auditRows(admin);
      return rows.length === 20 ? rows : null;
    }, "a first page of 20 events", TIMEOUT);
    await admin.getByRole("button", { name: "Load more events" }).click();
    const twoPages = await eventually(async () => {
      const rows = await auditRows(admin);
      return rows.length > 20 ? rows : null;
    }, "a second page below the first", TIMEOUT);
    assert.deepEqual(twoPages.slice(0, 20), firstPage, "the first page stays on top");
  }),
);
