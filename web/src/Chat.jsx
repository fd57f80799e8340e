// #/chat: your conversations, live messages, the typing indicator and read receipts.
import { useApolloClient, useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { day, time, uuid } from "./format.js";
import { notificationEvents, useResumable } from "./hooks.js";
import { maxSeq } from "./live.js";
import { CHAT_LIST } from "./notifications/operations.js";
import {
  CONVERSATION,
  MARK_CONVERSATION_READ,
  MESSAGE_ADDED,
  READ_RECEIPT,
  READ_RECEIPT_CHANGED,
  SEND_MESSAGE,
  SET_TYPING,
  TYPING_CHANGED,
} from "./operations.js";
import { Avatar, ErrorState, Loading, PageHeader, QueryState } from "./ui.jsx";

const TYPING_IDLE_MS = 2500; // stop "typing" after this long without a keystroke
const TYPING_STALE_MS = 8000; // hide the other's indicator if its "stop" got lost

/**
 * Your conversations and the open one: side by side on a wide screen, one at a time on a
 * phone (the open conversation has "Back to conversations").
 */
export function Chat({ conversationId, user }) {
  const list = useQuery(CHAT_LIST, { fetchPolicy: "cache-and-network" });
  const { refetch } = list;
  // A new message anywhere: new conversations and unread counts.
  useEffect(() => {
    const onNotification = (event) => event.detail.kind === "CHAT_MESSAGE" && refetch();
    notificationEvents.addEventListener("notification", onNotification);
    return () => notificationEvents.removeEventListener("notification", onNotification);
  }, [refetch]);

  return (
    <section className={conversationId ? "chat has-open" : "chat"}>
      <PageHeader title="Chat" />
      <div className="chat-panes">
        <nav aria-label="Conversations" className="chat-list">
          <QueryState
            result={list}
            loading="Loading conversations"
            isEmpty={(data) => data.conversations.nodes.length === 0}
            empty={
              <>
                <p>No conversations yet.</p>
                <p className="hint">Open an appointment and choose &ldquo;Message&rdquo; to write to your {user.role === "DOCTOR" ? "patient" : "doctor"}.</p>
              </>
            }
          >
            {(data) => (
              <ul className="rows">
                {data.conversations.nodes.map((c) => (
                  <ConversationRow key={c.id} conversation={c} user={user} current={c.id === conversationId} />
                ))}
              </ul>
            )}
          </QueryState>
        </nav>
        {conversationId ? (
          <Conversation key={conversationId} id={conversationId} user={user} onRead={refetch} />
        ) : (
          <div className="state chat-pick">Pick a conversation.</div>
        )}
      </div>
    </section>
  );
}

/** Today: the time; before: the day. */
function lastActive(iso) {
  return new Date(iso).toDateString() === new Date().toDateString() ? time(iso) : day(iso);
}

function ConversationRow({ conversation: c, user, current }) {
  const other = user.id === c.patient.id ? c.doctor : c.patient;
  return (
    <li className={current ? "current" : undefined}>
      <Avatar user={other} />
      <a className="grow" href={`#/chat/${c.id}`} aria-current={current ? "page" : undefined}>
        <span className="chat-top">
          <span className="chat-name">{other.fullName}</span>
          {c.unreadCount > 0 && (
            <span className="badge">
              {c.unreadCount}
              <span className="visually-hidden"> unread</span>
            </span>
          )}
          {c.lastMessageAt && <small className="chat-when">{lastActive(c.lastMessageAt)}</small>}
        </span>
        <small className="chat-preview">{c.lastMessage?.text ?? "No messages yet"}</small>
      </a>
    </li>
  );
}

function Conversation({ id, user, onRead }) {
  const client = useApolloClient();
  const { data, error, refetch } = useQuery(CONVERSATION, { variables: { id }, fetchPolicy: "network-only" });
  const [messages, setMessages] = useState(null); // oldest first
  const [typing, setTyping] = useState(null); // who is typing, or null
  const [readUpTo, setReadUpTo] = useState(0); // the other participant's read receipt
  // Reading a conversation to the end also marks its message notifications read: the
  // bell's count comes from the server, so ask it again.
  const [markRead] = useMutation(MARK_CONVERSATION_READ, { refetchQueries: ["Bell"] });
  const conversation = data?.conversation;

  // Seed the history once; from then on the subscription appends.
  useEffect(() => {
    if (conversation && messages === null) setMessages([...conversation.messages.messages].reverse());
  }, [conversation, messages]);

  const append = (message) =>
    setMessages((list) => (list.some((m) => m.seq === message.seq) ? list : [...list, message]));

  useResumable(
    MESSAGE_ADDED,
    {
      skip: !conversation,
      cursor: conversation?.lastSeq,
      variables: (afterSeq) => ({ conversationId: id, afterSeq }),
      advance: (cursor, d) => maxSeq(cursor, d.messageAdded.seq),
      onData: (d) => {
        append(d.messageAdded);
        if (d.messageAdded.sender.id !== user.id) setTyping(null);
      },
    },
    [id, Boolean(conversation)],
  );

  useResumable(
    TYPING_CHANGED,
    {
      skip: !conversation,
      variables: () => ({ conversationId: id }),
      onData: (d) => setTyping(d.typingChanged.typing ? d.typingChanged.user.fullName : null),
    },
    [id, Boolean(conversation)],
  );
  // Read receipts only move forward: keep the highest seen, from whichever source.
  const receiptAt = (seq) => setReadUpTo((known) => Math.max(known, seq ?? 0));
  useEffect(() => {
    if (conversation) receiptAt(conversation.otherLastReadSeq);
  }, [conversation]);
  useResumable(
    READ_RECEIPT_CHANGED,
    {
      skip: !conversation,
      variables: () => ({ conversationId: id }),
      onData: (d) => receiptAt(d.readReceiptChanged.lastReadSeq),
      // Live only: what moved while the socket was down (or before the first subscription)
      // is not replayed, so read otherLastReadSeq again each time it (re)subscribes.
      onSubscribe: () =>
        client
          .query({ query: READ_RECEIPT, variables: { id }, fetchPolicy: "network-only" })
          .then(({ data: read }) => receiptAt(read?.conversation?.otherLastReadSeq), () => {}),
    },
    [id, Boolean(conversation)],
  );

  useEffect(() => {
    if (!typing) return undefined;
    const stale = setTimeout(() => setTyping(null), TYPING_STALE_MS);
    return () => clearTimeout(stale);
  }, [typing]);

  // Read receipt for the other participant: everything shown here has been read.
  const lastSeq = messages?.at(-1)?.seq ?? 0;
  const refreshList = useRef(onRead);
  refreshList.current = onRead;
  useEffect(() => {
    if (lastSeq > 0 && document.visibilityState === "visible") {
      markRead({ variables: { conversationId: id, upToSeq: lastSeq } }).then(
        () => refreshList.current(),
        () => {},
      );
    }
  }, [id, lastSeq, markRead]);

  const back = (
    <a className="chat-back" href="#/chat">
      ← Back to conversations
    </a>
  );
  if (error && !data) {
    return (
      <article className="conversation card">
        {back}
        <ErrorState error={error} retry={refetch} />
      </article>
    );
  }
  if (data && !conversation) {
    return (
      <article className="conversation card">
        {back}
        <div className="state">This conversation is not there, or not yours.</div>
      </article>
    );
  }
  if (!conversation || !messages) {
    return (
      <article className="conversation card">
        {back}
        <Loading what="Loading messages" />
      </article>
    );
  }
  const other = user.id === conversation.patient.id ? conversation.doctor : conversation.patient;
  const lastMine = messages.findLast((m) => m.sender.id === user.id);

  return (
    <article className="conversation card">
      {back}
      <h2>Chat with {other.fullName}</h2>
      {messages.length === 0 && <p className="hint">No messages yet: write the first one below.</p>}
      <MessageScroller count={messages.length} newestIsMine={messages.at(-1)?.sender.id === user.id}>
        <ol aria-label="Messages" className="messages">
          {messages.map((m) => (
            <li key={m.seq} className={m.sender.id === user.id ? "mine" : "theirs"}>
              <span className="text">{m.text}</span>
              <small>
                {m.sender.fullName}, {time(m.createdAt)}
                {m === lastMine && <span className="receipt"> · {m.seq <= readUpTo ? "Read" : "Sent"}</span>}
              </small>
            </li>
          ))}
        </ol>
      </MessageScroller>
      <p className="typing" aria-live="polite">
        {typing ? `${typing} is typing…` : " "}
      </p>
      <Composer conversationId={id} onSent={append} />
    </article>
  );
}

/**
 * The messages in a pane of their own that opens at the newest and follows new ones, unless
 * you have scrolled up to read older ones (what you send always shows). Focusable: the
 * keyboard scrolls it too.
 */
function MessageScroller({ count, newestIsMine, children }) {
  const pane = useRef(null);
  const atEnd = useRef(true);
  const toEnd = () => {
    if (atEnd.current && pane.current) pane.current.scrollTop = pane.current.scrollHeight;
  };
  useLayoutEffect(() => {
    if (newestIsMine) atEnd.current = true;
    toEnd();
  }, [count]); // eslint-disable-line react-hooks/exhaustive-deps
  // A turned phone or a resized window keeps the newest in view too.
  useEffect(() => {
    const observer = new ResizeObserver(toEnd);
    observer.observe(pane.current);
    if (pane.current.firstElementChild) observer.observe(pane.current.firstElementChild);
    return () => observer.disconnect();
  }, []);
  function scrolled() {
    const { scrollTop, scrollHeight, clientHeight } = pane.current;
    atEnd.current = scrollHeight - scrollTop - clientHeight < 40;
  }
  return (
    <div className="message-scroll" ref={pane} onScroll={scrolled} tabIndex={0} role="region" aria-label="Message history">
      {children}
    </div>
  );
}

function Composer({ conversationId, onSent }) {
  const [text, setText] = useState("");
  const [problem, setProblem] = useState(null);
  const [send, { loading }] = useMutation(SEND_MESSAGE);
  const [setTyping] = useMutation(SET_TYPING);
  const typing = useRef({ on: false, timer: null });
  // One clientId per message, kept until it is sent: a retry reuses it, and the server
  // answers a retry with the message the first attempt stored, never a second copy.
  const clientId = useRef(uuid());

  function typed(value) {
    setText(value);
    clientId.current = uuid();
    clearTimeout(typing.current.timer);
    if (!typing.current.on) {
      typing.current.on = true;
      setTyping({ variables: { conversationId, typing: true } }).catch(() => {});
    }
    typing.current.timer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typing.current.timer);
    if (typing.current.on) {
      typing.current.on = false;
      setTyping({ variables: { conversationId, typing: false } }).catch(() => {});
    }
  }
  useEffect(() => stopTyping, []); // eslint-disable-line react-hooks/exhaustive-deps

  async function submit(event) {
    event.preventDefault();
    if (!text.trim()) return;
    stopTyping();
    const variables = { conversationId, clientId: clientId.current, text };
    setProblem(null);
    try {
      const { data } = await send({ variables });
      const result = data.sendMessage;
      if (result.__typename === "MessagePayload") {
        onSent(result.chatMessage);
        setText("");
        clientId.current = uuid();
      } else {
        setProblem(result.message);
      }
    } catch {
      setProblem("Not sent: the server cannot be reached. Press Send to retry.");
    }
  }

  return (
    <form onSubmit={submit} className="composer">
      <label className="composer-field">
        <span className="composer-label">Message</span>
        <input value={text} onChange={(e) => typed(e.target.value)} maxLength={4000} autoComplete="off" />
      </label>
      <button type="submit" className="primary" disabled={loading}>
        Send
      </button>
      {problem && <p role="alert">{problem}</p>}
    </form>
  );
}
