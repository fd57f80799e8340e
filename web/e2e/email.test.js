// Email in a real browser against a real API, with no SMTP_URL: the API writes each email
// to <DATA_DIR>/outbox/ as an .eml file, and the test follows the links in them as a user
// would (their hash routes opened in the app). A patient forgets her password, resets it
// from the emailed link, and signs in with the new one; then she turns reminders off from
// the email's preferences link, signed out.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PASSWORD } from "./harness.js";
import { linksIn, nextEmail } from "./outbox.js";
import { BrowserStack } from "./stack.js";

const ALICE = "alice@demo.clinic";
const NEW_PASSWORD = "a-new-password-2468";
let stack;

before(async () => {
  stack = await BrowserStack.start("email");
});

after(async () => {
  await stack?.close();
});

const newPage = () => stack.newPage("the user", { viewport: { width: 1000, height: 800 } });

/** The app at the route of a link from an email (`<PUBLIC_APP_URL>/#/...`). */
function openLink(page, link) {
  return page.goto(`${stack.app.url}/${new URL(link).hash}`);
}

function linkTo(email, route) {
  const link = linksIn(email).find((l) => new URL(l).hash.startsWith(`#/${route}/`));
  assert.ok(link, `a #/${route}/ link in:\n${email.text}`);
  return link.replace(/[.,;)]+$/, "");
}

const signIn = (page, email, password) => stack.submitSignIn(page, email, password);
const shot = (page, name) => stack.shot(page, name);
// Wraps test bodies when the file loads, before the stack exists: looked up when they run.
const screenshotsOnFailure = (body) => () => stack.screenshotsOnFailure(body)();

test(
  "forgot password: the emailed link sets a new password, which signs in; the old one no longer does",
  { timeout: 120_000 },
  screenshotsOnFailure(async () => {
    const page = await newPage();
    const asked = Date.now();

    // when Alice, signed out, asks for a link
    await page.goto(stack.app.url);
    await page.getByRole("link", { name: "Forgot password?" }).click();
    await page.getByLabel("Email").fill(ALICE);
    await page.getByRole("button", { name: "Email me a link" }).click();
    // then the page says an email is on its way (the same for any address)
    const said = await page.getByRole("status").textContent();
    assert.ok(said.trim().length > 0);
    await shot(page, "email-01-forgot-password");

    // and the email arrives, with a link to #/reset-password/<token>
    const email = await nextEmail(
      stack.dataDir,
      (e) => e.mtimeMs >= asked - 1000 && e.headers.to?.includes(ALICE) && /reset-password\//.test(e.text),
      "the password reset email for Alice",
    );
    const resetLink = linkTo(email, "reset-password");
    assert.match(resetLink, /^https?:\/\/[^/]+\/#\/reset-password\/[^/\s]+$/);

    // when she opens it, types two different passwords, then one that is too short
    await openLink(page, resetLink);
    await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
    const newPassword = page.getByLabel(/^New password/);
    const repeat = page.getByLabel("Repeat new password");
    await newPassword.fill(NEW_PASSWORD);
    await repeat.fill(`${NEW_PASSWORD}!`);
    await page.getByRole("button", { name: "Change password" }).click();
    // then each error shows under its field (the first from the page, the second from the API)
    await page.getByText("The two passwords differ.").waitFor();
    assert.equal(await repeat.getAttribute("aria-invalid"), "true");
    await newPassword.fill("short");
    await repeat.fill("short");
    await page.getByRole("button", { name: "Change password" }).click();
    await eventuallyInvalid(newPassword);
    await shot(page, "email-02-reset-field-error");

    // when she chooses a good one (a refused password leaves the link usable)
    await newPassword.fill(NEW_PASSWORD);
    await repeat.fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    // then the page says so and offers the sign-in form
    await page.getByRole("heading", { name: "Password changed" }).waitFor();
    await shot(page, "email-03-password-changed");

    // and the new password signs her in
    await signIn(page, ALICE, NEW_PASSWORD);
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await page.getByRole("heading", { name: "My appointments" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();

    // but the old one no longer does
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await signIn(page, ALICE, PASSWORD);
    await page.getByRole("alert").waitFor();
    assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 0);

    // and the link works once
    await openLink(page, resetLink);
    await page.getByLabel(/^New password/).fill(`${NEW_PASSWORD}-again`);
    await page.getByLabel("Repeat new password").fill(`${NEW_PASSWORD}-again`);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("link", { name: "Ask for a new link" }).waitFor();

    // when she opens the preferences link of that email (signed out) and turns reminders off
    await openLink(page, linkTo(email, "email-preferences"));
    const reminders = page.getByRole("checkbox", { name: /^Reminders/ });
    await reminders.waitFor();
    assert.equal(await reminders.isChecked(), true, "reminders are on by default");
    const others = ["Appointment changes", "Chat messages", "Visit notes"];
    const before = {};
    for (const name of others) before[name] = await page.getByRole("checkbox", { name }).isChecked();
    await reminders.uncheck();
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("status").getByText("Saved.").waitFor();
    await shot(page, "email-04-preferences-saved");

    // then after a reload they are still off, and the others as they were
    await page.reload();
    await reminders.waitFor();
    assert.equal(await reminders.isChecked(), false, "reminders stay off");
    for (const name of others) {
      assert.equal(await page.getByRole("checkbox", { name }).isChecked(), before[name], name);
    }
    assert.deepEqual(stack.pageErrors, []);
  }),
);

/** The API's ValidationFailed (field newPassword) marks the field and is read out with it. */
async function eventuallyInvalid(input) {
  await input
    .page()
    .waitForFunction(
      (element) => element.getAttribute("aria-invalid") === "true",
      await input.elementHandle(),
    );
  const described = await input.getAttribute("aria-describedby");
  const text = await input.page().locator(`[id="${described}"]`).textContent();
  assert.ok(text.trim().length > 0, "the field's error is shown");
}

test(
  "sign up, booking waits for the address, the emailed link verifies it; change email takes effect by its link",
  { timeout: 120_000 },
  screenshotsOnFailure(async () => {
    const page = await newPage();
    const address = `carol.${Date.now()}@example.org`;
    const password = "carol-password-1357";

    // when Carol creates an account
    await page.goto(stack.app.url);
    await page.getByRole("link", { name: "Create account" }).click();
    await page.getByLabel("First name").fill("Carol");
    await page.getByLabel("Last name").fill("Tester");
    await page.getByLabel("Email").fill(address);
    await page.getByLabel(/^Password/).fill(password);
    await page.getByLabel("Repeat password").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    // then she is told to check her email, and a link comes
    await page.getByRole("heading", { name: "Check your email" }).waitFor();
    const isVerification = (to) => (e) => e.headers.to?.includes(to) && /verify-email\//.test(e.text);
    const first = await nextEmail(stack.dataDir, isVerification(address), "Carol's verification email");

    // when she signs in before opening it, the banner says so, and booking is refused
    await page.getByRole("link", { name: "Sign in" }).click();
    await signIn(page, address, password);
    const banner = page.getByRole("complementary", { name: "Email not verified" });
    await banner.waitFor();
    await page.getByRole("link", { name: "Book", exact: true }).click();
    await page.getByRole("button", { name: "Choose Gregory House" }).click();
    await page.locator(".week-slots .slot").first().click();
    await page.getByLabel("Reason").fill("A check-up (e2e)");
    await page.getByRole("button", { name: /^Book / }).click();
    await page.getByRole("alert").waitFor();
    const form = page.locator("form");
    // and "Send the link again" there sends another
    await form.getByRole("button", { name: "Send the link again" }).click();
    await form.getByRole("status").waitFor();
    await shot(page, "email-05-book-unverified");
    const again = await nextEmail(
      stack.dataDir,
      (e) => isVerification(address)(e) && e.file !== first.file,
      "Carol's second verification email",
    );

    // when she opens the link (signed in), the address is verified and the banner goes
    await openLink(page, linkTo(again, "verify-email"));
    await page.getByText(`Your email address ${address} is verified.`).waitFor();
    await banner.waitFor({ state: "detached" });

    // when she changes her address in Settings
    const newAddress = `carol.new.${Date.now()}@example.org`;
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByText(`Your email address: ${address} (verified)`).waitFor();
    await page.getByLabel("New email address").fill(newAddress);
    await page.getByLabel("Current password").fill("not-her-password");
    await page.getByRole("button", { name: "Change email address" }).click();
    // then a wrong password shows under its field
    await page.getByLabel("Current password").and(page.locator('[aria-invalid="true"]')).waitFor();
    await page.getByLabel("Current password").fill(password);
    await page.getByRole("button", { name: "Change email address" }).click();
    await page.getByRole("status").waitFor();
    await shot(page, "email-06-settings");
    // and it changes only when the link sent to the new address is opened
    const toNew = await nextEmail(stack.dataDir, isVerification(newAddress), "the link to the new address");
    await page.reload();
    await page.getByText(`Your email address: ${address} (verified)`).waitFor();
    await openLink(page, linkTo(toNew, "verify-email"));
    await page.getByText(`Your email address ${newAddress} is verified.`).waitFor();
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByText(`Your email address: ${newAddress} (verified)`).waitFor();
    assert.deepEqual(stack.pageErrors, []);
  }),
);
