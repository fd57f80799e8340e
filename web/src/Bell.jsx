// The bell in the header: the unread count, live, and a menu of your notifications
// (newest first, paged, unread marked) with "Mark all read" and "All notifications".
import { useQuery } from "@apollo/client/react";
import { useEffect, useRef, useState } from "react";
import { notificationEvents, useResumable } from "./hooks.js";
import { maxSeq } from "./live.js";
import { useMarkRead } from "./notifications/feed.js";
import { NotificationList, targetOf } from "./notifications/NotificationList.jsx";
import { BELL_COUNT } from "./notifications/operations.js";
import { NOTIFICATION_ADDED } from "./operations.js";

const MENU_PAGE_SIZE = 8;

/** The unread count, live: up when a notification arrives, down when one is read. */
export function Bell({ navigate, connected, user }) {
  const [open, setOpen] = useState(false);
  const root = useRef(null);
  const toggle = useRef(null);
  const { data, refetch } = useQuery(BELL_COUNT, { fetchPolicy: "cache-and-network" });

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

  // Open: Escape closes it and gives the focus back to the bell; a click elsewhere closes it.
  useEffect(() => {
    if (!open) return undefined;
    const onKey = (event) => {
      if (event.key !== "Escape") return;
      setOpen(false);
      toggle.current?.focus();
    };
    const onPointer = (event) => {
      if (!root.current?.contains(event.target)) setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("pointerdown", onPointer);
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("pointerdown", onPointer);
    };
  }, [open]);

  const count = data?.unreadNotificationCount ?? 0;

  return (
    <div className="bell" ref={root}>
      <button
        ref={toggle}
        type="button"
        className="bell-toggle"
        aria-label={`Notifications: ${count} unread`}
        aria-expanded={open}
        aria-controls={open ? "bell-menu" : undefined}
        onClick={() => setOpen(!open)}
      >
        <BellIcon />
        <span className={count > 0 ? "badge" : "badge zero"} data-testid="bell-count">
          {data ? count : "…"}
        </span>
      </button>
      {open && <BellMenu user={user} navigate={navigate} unread={count} close={() => setOpen(false)} />}
    </div>
  );
}

function BellMenu({ user, navigate, unread, close }) {
  const { markRead, markAllRead, markingAll } = useMarkRead();

  function openItem(notification) {
    if (!notification.readAt) markRead(notification.id);
    close();
    const target = targetOf(notification);
    if (target) navigate(target);
  }

  return (
    <div className="bell-menu" id="bell-menu" role="dialog" aria-label="Notifications">
      <div className="bell-menu-head">
        <h2>Notifications</h2>
        <button
          type="button"
          className="link"
          disabled={markingAll || unread === 0}
          onClick={() => markAllRead().catch(() => {})}
        >
          Mark all read
        </button>
      </div>
      <div className="bell-menu-list">
        <NotificationList
          pageSize={MENU_PAGE_SIZE}
          user={user}
          onOpen={openItem}
          label="Newest first"
          empty="No notifications yet."
        />
      </div>
      <div className="bell-menu-foot">
        <a href="#/notifications" onClick={close}>
          All notifications
        </a>
      </div>
    </div>
  );
}

function BellIcon() {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">
      <path
        fill="currentColor"
        d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"
      />
    </svg>
  );
}
