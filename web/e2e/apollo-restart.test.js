// A headless client with @apollo/client and graphql-ws (the app's own apollo.js and
// live.js): sign in, query, mutate, subscribe; then the API restarts (same port, same
// data) and the client reconnects and resumes from the last seq it saw, losing nothing
// and repeating nothing, including what was sent while it was away. The live-only read
// receipts are read again on reconnecting, so a receipt that moved meanwhile shows too.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { gql } from "@apollo/client";
import WebSocket from "ws";
import { createApolloClient } from "../src/apollo.js";
import { backoff, latestChange, maxSeq, resumable } from "../src/live.js";
import {
  APPOINTMENT_CHANGED,
  APPOINTMENTS,
  BELL,
  BOOK,
  CONVERSATION,
  DOCTORS,
  MARK_CONVERSATION_READ,
  MESSAGE_ADDED,
  ME,
  NOTIFICATION_ADDED,
  READ_RECEIPT,
  READ_RECEIPT_CHANGED,
  SEND_MESSAGE,
  SLOTS,
  START_CONVERSATION,
} from "../src/operations.js";
import { ApiServer, PASSWORD, eventually, freePort, removeDir, tempDir } from "./harness.js";

// Node 20 has no global WebSocket; GraphQLWsLink looks at WebSocket.CLOSED on errors.
globalThis.WebSocket ??= WebSocket;

const LOGIN = gql`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      __typename
      ... on AuthPayload {
        accessToken
        user {
          id
          fullName
          role
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`;
let api;
let dataDir;
const clients = [];
const streams = [];

before(async () => {
  dataDir = await tempDir("healthcare-apollo-");
  api = new ApiServer({ port: await freePort(), dataDir });
  await api.start();
});

after(async () => {
  streams.forEach((stream) => stream.stop());
  clients.forEach((c) => c.dispose());
  await api?.stop();
  await removeDir(dataDir);
});

function connect(token, onSocket) {
  const created = createApolloClient({
    httpUrl: `${api.url}/graphql`,
    wsUrl: `${api.url.replace("http", "ws")}/graphql`,
    getToken: async () => token,
    onSocket,
    webSocketImpl: WebSocket,
  });
  clients.push(created);
  return created.client;
}

async function signIn(email) {
  const { data } = await connect(null).mutate({ mutation: LOGIN, variables: { email, password: PASSWORD } });
  assert.equal(data.login.__typename, "AuthPayload", data.login.message);
  return data.login;
}

async function send(client, conversationId, text) {
  const clientId = crypto.randomUUID();
  const { data } = await client.mutate({
    mutation: SEND_MESSAGE,
    variables: { conversationId, clientId, text },
  });
  assert.equal(data.sendMessage.__typename, "MessagePayload", data.sendMessage.message);
  return data.sendMessage.chatMessage;
}

async function markRead(client, conversationId, upToSeq) {
  const { data } = await client.mutate({
    mutation: MARK_CONVERSATION_READ,
    variables: { conversationId, upToSeq },
  });
  assert.equal(data.markConversationRead.__typename, "ConversationPayload");
}

test("a bad token in connection_init closes the socket with 4403", async () => {
  const closes = [];
  const client = connect("not-a-token", ({ code }) => code && closes.push(code));
  const result = await new Promise((resolve) => {
    client
      .subscribe({ query: NOTIFICATION_ADDED })
      .subscribe({ next: resolve, complete: () => resolve(null) });
  });
  assert.match(result?.error?.message ?? "", /4403/);
  assert.deepEqual(closes, [4403]);
});

test(
  "the client resumes after a server restart with nothing lost or repeated",
  { timeout: 120_000 },
  async () => {
    // given Alice (patient) and Dr House signed in, each with their own client
    const aliceAuth = await signIn("alice@demo.clinic");
    const houseAuth = await signIn("dr.house@demo.clinic");
    const alice = connect(aliceAuth.accessToken);
    const socketEvents = [];
    const house = connect(houseAuth.accessToken, (status) => socketEvents.push(status));

    // a query and a mutation over HTTP
    const me = await alice.query({ query: ME });
    assert.equal(me.data.me.role, "PATIENT");
    const doctors = await alice.query({ query: DOCTORS });
    assert.ok(doctors.data.doctors.nodes.some((d) => d.id === houseAuth.user.id));
    const started = await alice.mutate({
      mutation: START_CONVERSATION,
      variables: { withUserId: houseAuth.user.id },
    });
    assert.equal(started.data.startConversation.__typename, "ConversationPayload");
    const conversationId = started.data.startConversation.conversation.id;

    // and House subscribed to the chat, his notifications and his appointments, each
    // from where his queries left off (so nothing slips between query and subscription),
    // and to Alice's read receipts, read again each time that live-only one subscribes
    let hold = null; // while set, House's client stays offline
    const retryDelay = (attempt) => hold ?? backoff(attempt);
    const messages = [];
    const notifications = [];
    const appointments = [];
    const receipts = []; // [how, lastReadSeq]: "read" on (re)subscribing, "live" pushed
    let aliceReadUpTo = 0; // House's view of Alice's receipt: the highest seen
    const receiptAt = (how, seq) => {
      receipts.push([how, seq]);
      aliceReadUpTo = Math.max(aliceReadUpTo, seq);
    };
    const conversation = await house.query({ query: CONVERSATION, variables: { id: conversationId } });
    const bell = await house.query({ query: BELL, fetchPolicy: "network-only" });
    const agenda = await house.query({ query: APPOINTMENTS, variables: { from: null } });
    streams.push(
      resumable(house, {
        query: MESSAGE_ADDED,
        cursor: conversation.data.conversation.lastSeq,
        variables: (afterSeq) => ({ conversationId, afterSeq }),
        advance: (cursor, d) => maxSeq(cursor, d.messageAdded.seq),
        onData: (d) => messages.push(d.messageAdded),
        retryDelay,
      }),
      resumable(house, {
        query: NOTIFICATION_ADDED,
        cursor: bell.data.lastNotificationSeq,
        variables: (afterSeq) => ({ afterSeq }),
        advance: (cursor, d) => maxSeq(cursor, d.notificationAdded.seq),
        onData: (d) => notifications.push(d.notificationAdded),
        retryDelay,
      }),
      resumable(house, {
        query: APPOINTMENT_CHANGED,
        cursor: agenda.data.appointments.nodes.reduce(latestChange, null),
        variables: (changedSince) => ({ changedSince }),
        advance: (cursor, d) => latestChange(cursor, d.appointmentChanged),
        onData: (d) => appointments.push(d.appointmentChanged),
        retryDelay,
      }),
      resumable(house, {
        query: READ_RECEIPT_CHANGED,
        variables: () => ({ conversationId }),
        onData: (d) => receiptAt("live", d.readReceiptChanged.lastReadSeq),
        onSubscribe: () =>
          house
            .query({ query: READ_RECEIPT, variables: { id: conversationId }, fetchPolicy: "network-only" })
            .then(
              ({ data }) => receiptAt("read", data.conversation.otherLastReadSeq),
              (error) => receipts.push(["failed", error.message]),
            ),
        retryDelay,
      }),
    );
    const firstNotification = streams[1].cursor + 1;

    // when Alice writes, House gets it live; when she marks it read, he sees her receipt
    await eventually(() => receipts.length === 1, "the first read of Alice's receipt");
    await send(alice, conversationId, "before the restart");
    await eventually(() => messages.length === 1, "the first message");
    // (a message delivered over the socket: the receipts subscription, sent before it, is
    // in place by now; live-only, it would not replay a receipt that came earlier)
    await markRead(alice, conversationId, 1);
    await eventually(() => aliceReadUpTo === 1, "Alice's receipt, live");

    // when the API restarts while House's client is held offline, and Alice writes twice,
    // reads to the end and books with House before his client is back
    let release;
    hold = new Promise((open) => (release = open));
    await api.stop();
    await eventually(() => socketEvents.some((s) => !s.connected), "House's socket to close");
    await api.start();
    await send(alice, conversationId, "while you were away, 1");
    await send(alice, conversationId, "while you were away, 2");
    await markRead(alice, conversationId, 3); // a receipt event House's client cannot get
    const slots = await alice.query({
      query: SLOTS,
      variables: { doctorId: houseAuth.user.id, fromDate: isoDate(0), toDate: isoDate(14) },
      fetchPolicy: "network-only",
    });
    const booked = await alice.mutate({
      mutation: BOOK,
      variables: {
        input: {
          doctorId: houseAuth.user.id,
          startsAt: slots.data.availableSlots[0].startsAt,
          reason: "Booked during the restart",
        },
      },
    });
    assert.equal(
      booked.data.bookAppointment.__typename,
      "AppointmentPayload",
      booked.data.bookAppointment.message,
    );
    const bookedId = booked.data.bookAppointment.appointment.id;
    assert.equal(messages.length, 1, "nothing can arrive while the client is offline");

    // and House's client comes back
    hold = null;
    release();

    // then it first gets what it missed, from the last seq it saw
    await eventually(() => messages.length === 3, "the two missed messages");
    await eventually(() => appointments.some((a) => a.id === bookedId), "the missed booking");
    // and reads Alice's receipt again, which moved while it was away
    await eventually(() => aliceReadUpTo === 3, "Alice's receipt, read again after reconnecting");
    // and then live messages and receipts again
    await send(alice, conversationId, "after the restart");
    await eventually(() => messages.length === 4, "the live message after reconnecting");
    await markRead(alice, conversationId, 4);
    await eventually(() => aliceReadUpTo === 4, "Alice's receipt, live after reconnecting");
    await eventually(() => notifications.length === 5, "five notifications (4 messages, 1 booking)");

    assert.deepEqual(
      messages.map((m) => [m.seq, m.text]),
      [
        [1, "before the restart"],
        [2, "while you were away, 1"],
        [3, "while you were away, 2"],
        [4, "after the restart"],
      ],
    );
    assert.deepEqual(
      notifications.map((n) => n.seq),
      [0, 1, 2, 3, 4].map((i) => firstNotification + i),
      "notifications arrive once each, in order",
    );
    assert.deepEqual(notifications.map((n) => n.kind).sort(), [
      "APPOINTMENT_BOOKED",
      "CHAT_MESSAGE",
      "CHAT_MESSAGE",
      "CHAT_MESSAGE",
      "CHAT_MESSAGE",
    ]);
    assert.equal(appointments.filter((a) => a.id === bookedId).length, 1, "the booking arrives once");
    assert.deepEqual(
      receipts,
      [
        ["read", 0],
        ["live", 1],
        ["read", 3],
        ["live", 4],
      ],
      "Alice's receipt: read on subscribing, live, read again on reconnecting, live",
    );
    const closes = socketEvents.filter((s) => !s.connected).map((s) => s.code);
    assert.deepEqual(closes, [1012], "one close, 1012: the server is restarting");
    assert.ok(socketEvents.filter((s) => s.connected).length >= 2, "the client connected again");
  },
);

function isoDate(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}
