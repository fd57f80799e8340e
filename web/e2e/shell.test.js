// The shell in a real browser: the bell and #/notifications (newest first, paged, each
// visit named by its time and the other party, unread-only filter, mark all read), the
// header at phone width (menu, bell), the chat one pane at a time on a phone (messages in
// their own pane, opened at the newest), its empty state, and Settings as cards.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { eventually } from "./harness.js";
import { WIDTHS, checkScreen } from "./screens.js";
import { BrowserStack } from "./stack.js";

const WAIT = 30_000; // two cores, other tests running alongside: be generous
const MESSAGES = 10; // more than the bell's page of 8
const LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis".repeat(4);
let stack;

before(async () => {
  stack = await BrowserStack.start("shell");
});

after(async () => {
  await stack?.close(); // fails the file if a page threw an uncaught error
});

/** One GraphQL request to the API, as `token`'s user. */
const graphql = (token, query, variables = {}) => stack.graphql(query, variables, token);
// Wraps test bodies when the file loads, before the stack exists: looked up when they run.
const screenshotsOnFailure = (body) => () => stack.screenshotsOnFailure(body)();

async function login(email) {
  const token = await stack.tokenOf(email);
  const data = await graphql(token, "query { me { id } }");
  return { token, id: data.me.id };
}

function isoDate(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

async function freeSlots(token, doctorId) {
  const data = await graphql(
    token,
    `query($doctorId: ID!, $from: Date!, $to: Date!) {
      availableSlots(doctorId: $doctorId, fromDate: $from, toDate: $to) { startsAt } }`,
    { doctorId, from: isoDate(1), to: isoDate(20) },
  );
  return data.availableSlots.map((slot) => slot.startsAt);
}

async function book(token, doctorId, startsAt, reason) {
  const data = await graphql(
    token,
    `mutation($input: BookAppointmentInput!) { bookAppointment(input: $input) {
      __typename ... on AppointmentPayload { appointment { id startsAt } } ... on Error { message } } }`,
    { input: { doctorId, startsAt, reason } },
  );
  assert.equal(data.bookAppointment.__typename, "AppointmentPayload", data.bookAppointment.message);
  return data.bookAppointment.appointment;
}

async function startConversation(token, withUserId) {
  const data = await graphql(
    token,
    `mutation($withUserId: ID!) { startConversation(withUserId: $withUserId) {
      __typename ... on ConversationPayload { conversation { id } } } }`,
    { withUserId },
  );
  return data.startConversation.conversation.id;
}

async function sendMessage(token, conversationId, text) {
  const data = await graphql(
    token,
    `mutation($conversationId: ID!, $clientId: ID!, $text: String!) {
      sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) { __typename } }`,
    { conversationId, clientId: randomUUID(), text },
  );
  assert.equal(data.sendMessage.__typename, "MessagePayload");
}

async function signedInPage(email, { viewport = WIDTHS.desktop, timezoneId } = {}) {
  const page = await stack.signedInPage(email, { viewport, timezoneId });
  page.context().setDefaultTimeout(WAIT);
  await page.locator(".live.on").waitFor(); // the WebSocket is up
  return page;
}

async function bellCount(page) {
  const text = await page.getByTestId("bell-count").textContent();
  return /^\d+$/.test(text) ? Number(text) : null;
}

async function bellShows(page, expected, who) {
  await eventually(async () => (await bellCount(page)) === expected, `${who}'s bell to show ${expected}`, WAIT);
}

/** A visit's time as the page shows it: the viewer's zone, or another zone. */
function visitTime(page, iso, timeZone) {
  return page.evaluate(
    ([at, zone]) =>
      new Date(at).toLocaleString(undefined, {
        weekday: "short",
        day: "numeric",
        month: "short",
        hour: "2-digit",
        minute: "2-digit",
        ...(zone ? { timeZone: zone } : {}),
      }),
    [iso, timeZone],
  );
}

let conversationId;

test(
  "the bell and #/notifications: newest first, paged, naming each visit; unread only; mark all read",
  { timeout: 240_000 },
  screenshotsOnFailure(async () => {
    // given Dr House, whose browser is in New York (his hours are in London), and Alice
    const doctor = await signedInPage("dr.house@demo.clinic", { timezoneId: "America/New_York" });
    const before = await eventually(() => bellCount(doctor), "the doctor's bell", WAIT);
    const alice = await login("alice@demo.clinic");
    const house = await login("dr.house@demo.clinic");

    // when Alice books a visit, writes him ten messages, and books a second visit
    const [firstSlot, , secondSlot] = await freeSlots(alice.token, house.id);
    const first = await book(alice.token, house.id, firstSlot, "First visit (shell e2e)");
    conversationId = await startConversation(alice.token, house.id);
    for (let n = 1; n <= MESSAGES; n++) await sendMessage(alice.token, conversationId, `Message ${n}`);
    const second = await book(alice.token, house.id, secondSlot, "Second visit (shell e2e)");

    // then his bell counts them all, live
    await bellShows(doctor, before + MESSAGES + 2, "the doctor");

    // and its menu lists the newest first: the second visit, named by its time (his and
    // London's) and the patient
    const bell = doctor.getByRole("button", { name: /^Notifications:/ });
    await bell.click();
    const menu = doctor.getByRole("dialog", { name: "Notifications" });
    const rows = menu.locator(".notification");
    await rows.first().getByText("New appointment").waitFor();
    const secondTime = await visitTime(doctor, second.startsAt);
    const secondLondon = await visitTime(doctor, second.startsAt, "Europe/London");
    await rows.first().getByText(`${secondTime} (${secondLondon} in Europe/London) with Alice Patient`).waitFor();
    assert.notEqual(secondTime, secondLondon, "the two zones differ");
    assert.match(await rows.first().textContent(), /^Unread: /);
    await eventually(async () => (await rows.count()) === 8, "a page of 8 rows", WAIT);
    await rows.nth(1).getByText("New message").waitFor();
    // the first visit is older than the ten messages: on the next page
    const firstTime = await visitTime(doctor, first.startsAt);
    const firstRow = menu.locator(".notification", { hasText: `${firstTime} (` });
    assert.equal(await firstRow.count(), 0);
    await menu.getByRole("button", { name: "Load more" }).click();
    await firstRow.getByText(/with Alice Patient/).waitFor();
    assert.ok((await rows.count()) > MESSAGES + 1, "the next page is added below");
    assert.ok(
      (await rows.allTextContents()).findIndex((text) => text.includes(firstTime)) > MESSAGES,
      "the first visit comes after the ten messages",
    );
    await checkScreen(doctor, "shell-bell-open");

    // and Escape closes it and gives the focus back to the bell
    await doctor.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });
    assert.equal(await doctor.evaluate(() => document.activeElement?.getAttribute("aria-label")), await bell.getAttribute("aria-label"));

    // when he opens the second visit's notification from the bell
    await bell.click();
    await rows.first().getByText("New appointment").waitFor();
    await rows.first().getByRole("button").click();
    // then it leads to the visit, and counts down
    await doctor.getByText("Second visit (shell e2e)").first().waitFor();
    await bellShows(doctor, before + MESSAGES + 1, "the doctor");

    // when he opens "All notifications"
    await bell.click();
    await menu.getByRole("link", { name: "All notifications" }).click();
    await doctor.getByRole("heading", { name: "Notifications", level: 1 }).waitFor();
    const all = doctor.getByRole("list", { name: "All notifications" });
    await all.locator(".notification").first().waitFor();
    // then the page lists them newest first, the one he opened marked read
    const newest = all.locator(".notification").first();
    await newest.getByText(`${secondTime} (${secondLondon} in Europe/London) with Alice Patient`).waitFor();
    assert.doesNotMatch(await newest.textContent(), /^Unread: /);
    await all.locator(".notification.unread").first().waitFor();
    await checkScreen(doctor, "shell-notifications");

    // when he shows unread ones only, the one he opened is not there
    await doctor.getByLabel("Unread only").check();
    const unread = doctor.getByRole("list", { name: "Unread notifications" });
    await unread.locator(".notification").first().waitFor();
    assert.equal(await unread.getByText(secondTime).count(), 0);
    const shown = await unread.locator(".notification").count();
    assert.equal(shown, Math.min(20, before + MESSAGES + 1));
    assert.equal(await unread.locator(".notification:not(.unread)").count(), 0);

    // when he marks all read from the bell instead, every row leaves the unread list,
    // which then says it is empty (not a blank page)
    await bell.click();
    await menu.getByRole("button", { name: "Mark all read" }).click();
    await bellShows(doctor, 0, "the doctor");
    await doctor.keyboard.press("Escape");
    await doctor.getByText("No unread notifications.").waitFor();
    assert.equal(await unread.locator(".notification").count(), 0);

    // when another message arrives and he marks all read on the page, the list is empty
    // and so is the bell
    await sendMessage(alice.token, conversationId, "One more (shell e2e)");
    await bellShows(doctor, 1, "the doctor");
    await doctor.reload();
    await doctor.getByLabel("Unread only").check();
    await unread.locator(".notification").first().waitFor();
    await doctor.getByRole("button", { name: "Mark all read" }).click();
    await doctor.getByText("No unread notifications.").waitFor();
    await bellShows(doctor, 0, "the doctor");
    await checkScreen(doctor, "shell-notifications-empty");
    // and every one shows as read
    await doctor.getByLabel("Unread only").uncheck();
    await all.locator(".notification").first().waitFor();
    assert.equal(await all.locator(".notification.unread").count(), 0);

  }),
);

test(
  "on a phone: the header with its menu and the bell fit, and the chat shows one pane at a time",
  { timeout: 240_000 },
  screenshotsOnFailure(async () => {
    // given Alice on a phone, in a conversation with Dr House (the first test's)
    assert.ok(conversationId, "the first test made the conversation");
    const page = await signedInPage("alice@demo.clinic", { viewport: WIDTHS.phone });
    const house = await login("dr.house@demo.clinic");
    await sendMessage(house.token, conversationId, `A word that does not fit: ${LONG_WORD}`);

    // then the header fits on one line: brand, Menu, live dot, bell, Sign out
    const header = page.locator(".app-header");
    const headerBox = await header.boundingBox();
    for (const name of ["Menu", /^Notifications:/, "Sign out"]) {
      const box = await page.getByRole("button", { name }).boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= WIDTHS.phone.width, `${name} is on screen`);
      assert.ok(box.y < headerBox.y + 60, `${name} is on the header's first line`);
    }
    assert.ok(headerBox.height < 70, `the header is one line (${headerBox.height} px)`);

    // when she opens the menu, the screens are listed below; Escape closes it
    const menuButton = page.getByRole("button", { name: "Menu" });
    await menuButton.click();
    const nav = page.getByRole("navigation", { name: "Main" });
    await nav.getByRole("link", { name: "Chat" }).waitFor();
    await checkScreen(page, "shell-header-menu-open");
    await page.keyboard.press("Escape");
    await eventually(async () => !(await nav.getByRole("link", { name: "Chat" }).isVisible()), "the menu to close", WAIT);
    assert.equal(await menuButton.getAttribute("aria-expanded"), "false");

    // when she opens the bell, its menu fits the screen
    await page.getByRole("button", { name: /^Notifications:/ }).click();
    const menu = page.getByRole("dialog", { name: "Notifications" });
    await menu.locator(".notification").first().waitFor();
    const menuBox = await menu.boundingBox();
    assert.ok(menuBox.x >= 0 && menuBox.x + menuBox.width <= WIDTHS.phone.width, "the bell's menu fits");
    await checkScreen(page, "shell-header-bell-open");
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });

    // when she opens Chat, she sees the list only
    await menuButton.click();
    await nav.getByRole("link", { name: "Chat" }).click();
    const conversations = page.getByRole("navigation", { name: "Conversations" });
    const withHouse = conversations.getByRole("link", { name: /Gregory House/ });
    await withHouse.waitFor();
    await checkScreen(page, "shell-chat-list");

    // and choosing the conversation shows it alone, long words wrapped, with a way back
    await withHouse.click();
    await page.getByRole("heading", { name: "Chat with Gregory House" }).waitFor();
    await page.getByRole("list", { name: "Messages" }).getByText(LONG_WORD).waitFor();
    assert.equal(await conversations.isVisible(), false, "the list is hidden on a phone");
    // the messages scroll in their own pane, opened at the newest, with Send on screen
    const send = await page.getByRole("button", { name: "Send" }).boundingBox();
    assert.ok(send.y + send.height <= WIDTHS.phone.height, `Send is on screen (${send.y} px)`);
    const showsNewest = (p) =>
      eventually(
        () =>
          p
            .getByRole("region", { name: "Message history" })
            .evaluate((pane) => pane.scrollHeight - pane.scrollTop - pane.clientHeight < 2),
        "the messages to show the newest",
        WAIT,
      );
    await showsNewest(page);
    await checkScreen(page, "shell-chat-conversation", {
      ready: async (p) => {
        await p.getByRole("list", { name: "Messages" }).getByText("Message 10").waitFor();
        await showsNewest(p); // still, at either width
      },
    });
    // her reply, sent while she has scrolled up to the first messages, shows at the end
    await page.getByRole("region", { name: "Message history" }).evaluate((pane) => {
      pane.scrollTop = 0;
    });
    await page.getByLabel("Message", { exact: true }).fill("Thank you, doctor.");
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByRole("list", { name: "Messages" }).getByText("Thank you, doctor.").waitFor();
    await showsNewest(page);

    // when she goes back, the list shows again
    await page.getByRole("link", { name: "Back to conversations" }).click();
    await withHouse.waitFor();
    assert.equal(await page.getByRole("heading", { name: "Chat with Gregory House" }).count(), 0);

    // and Settings shows her address, emails and the change-email form as cards
    await menuButton.click();
    await nav.getByRole("link", { name: "Settings" }).click();
    await page.getByText("Your email address: alice@demo.clinic").waitFor();
    await page.getByRole("checkbox", { name: /^Reminders/ }).waitFor();
    await page.getByLabel("New email address").waitFor();
    assert.equal(await page.locator(".settings .card").count(), 3);
    await checkScreen(page, "shell-settings");

  }),
);

test(
  "someone with no conversations sees the chat's empty state",
  { timeout: 120_000 },
  screenshotsOnFailure(async () => {
    // given Bob, who has never written to anyone
    const page = await signedInPage("bob@demo.clinic", { viewport: WIDTHS.phone });
    // when he opens Chat
    await page.getByRole("button", { name: "Menu" }).click();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Chat" }).click();
    // then it says so, and how to start one
    await page.getByRole("navigation", { name: "Conversations" }).getByText("No conversations yet.").waitFor();
    await page.getByText(/choose .Message. to write to your doctor/).waitFor();
    await checkScreen(page, "shell-chat-empty");
  }),
);
