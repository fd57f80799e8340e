// #/notifications: all your notifications, newest first, paged, with an unread-only filter
// and "Mark all read" (the bell's menu links here).
import { useQuery } from "@apollo/client/react";
import { useState } from "react";
import { failureMessage } from "../forms.jsx";
import { PageHeader } from "../ui.jsx";
import { useMarkRead } from "./feed.js";
import { NotificationList, targetOf } from "./NotificationList.jsx";
import { BELL_COUNT } from "./operations.js";

export function NotificationsPage({ user, navigate }) {
  const [unreadOnly, setUnreadOnly] = useState(false);
  const [generation, setGeneration] = useState(0); // a new list after "Mark all read" (unread only)
  const { data } = useQuery(BELL_COUNT, { fetchPolicy: "cache-first" });
  const { markRead, markAllRead, markingAll, markAllError } = useMarkRead();
  const unread = data?.unreadNotificationCount ?? 0;

  function open(notification) {
    if (!notification.readAt) markRead(notification.id);
    const target = targetOf(notification);
    if (target) navigate(target);
  }

  async function markAll() {
    await markAllRead().catch(() => {});
    if (unreadOnly) setGeneration((g) => g + 1);
  }

  return (
    <section className="notifications-page">
      <PageHeader title="Notifications">
        <button type="button" onClick={markAll} disabled={markingAll || unread === 0}>
          Mark all read
        </button>
      </PageHeader>
      <div className="notifications-filter">
        <label className="checkbox">
          <input type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.target.checked)} />
          <span>Unread only</span>
        </label>
        <span className="hint" role="status">
          {data ? `${unread} unread` : ""}
        </span>
      </div>
      {markAllError && <p role="alert">{failureMessage(markAllError)}</p>}
      <NotificationList
        key={`${unreadOnly}-${generation}`}
        unreadOnly={unreadOnly}
        pageSize={20}
        user={user}
        onOpen={open}
        label={unreadOnly ? "Unread notifications" : "All notifications"}
        empty={unreadOnly ? "No unread notifications." : "No notifications yet."}
      />
    </section>
  );
}
