import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { when } from "./format.js";
import { notificationEvents, useResumable } from "./hooks.js";
import { maxSeq } from "./live.js";
import {
  BELL,
  MARK_ALL_NOTIFICATIONS_READ,
  MARK_NOTIFICATIONS_READ,
  NOTIFICATION_ADDED,
} from "./operations.js";

/** The unread count, live: up when a notification arrives, down when one is read. */
export function Bell({ navigate, connected }) {
  const [open, setOpen] = useState(false);
  const { data, refetch } = useQuery(BELL, { fetchPolicy: "cache-and-network" });
  const [markRead] = useMutation(MARK_NOTIFICATIONS_READ, { refetchQueries: ["Bell"] });
  const [markAllRead] = useMutation(MARK_ALL_NOTIFICATIONS_READ, { refetchQueries: ["Bell"] });

  // The count comes from the server each time (never drifts); the subscription says when.
  // It starts from the lastNotificationSeq read with the first count, so nothing that
  // arrives in between is missed, and resumes from the last seq seen, so what arrived
  // while offline still rings.
  useResumable(
    NOTIFICATION_ADDED,
    {
      skip: !data,
      cursor: data?.lastNotificationSeq,
      variables: (afterSeq) => ({ afterSeq }),
      advance: (cursor, d) => maxSeq(cursor, d.notificationAdded.seq),
      onData: (d) => {
        refetch();
        notificationEvents.dispatchEvent(new CustomEvent("notification", { detail: d.notificationAdded }));
      },
    },
    [Boolean(data)],
  );
  // A fresh count after a reconnect: reads made elsewhere (another tab or device) send no
  // event. Reading a chat here refetches the count itself (Chat.jsx).
  useEffect(() => {
    if (connected) refetch();
  }, [connected, refetch]);

  const count = data?.unreadNotificationCount ?? 0;
  const items = data?.myNotifications.nodes ?? [];

  function openItem(n) {
    markRead({ variables: { ids: [n.id] } });
    setOpen(false);
    if (n.conversationId) navigate(`chat/${n.conversationId}`);
    else if (n.appointmentId) navigate(`appointments/${n.appointmentId}`);
  }

  return (
    <div className="bell">
      <button
        type="button"
        aria-label={`Notifications: ${count} unread`}
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        <BellIcon />
        <span className="badge" data-testid="bell-count">
          {data ? count : "…"}
        </span>
      </button>
      {open && (
        <div className="menu" role="dialog" aria-label="Notifications">
          {items.length === 0 && <p>Nothing new.</p>}
          <ul>
            {items.map((n) => (
              <li key={n.id}>
                <button type="button" onClick={() => openItem(n)}>
                  <strong>{n.title}</strong> <small>{when(n.createdAt)}</small>
                  <br />
                  {n.body}
                </button>
              </li>
            ))}
          </ul>
          <button type="button" disabled={count === 0} onClick={() => markAllRead()}>
            Mark all read
          </button>
        </div>
      )}
    </div>
  );
}

function BellIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true">
      <path
        fill="currentColor"
        d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"
      />
    </svg>
  );
}
