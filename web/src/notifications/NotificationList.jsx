// A list of your notifications, newest first, unread ones marked, with "Load more": the
// bell's menu and #/notifications both show it.
import { useFragment } from "@apollo/client/react";
import { when } from "../format.js";
import { ErrorState, Loading } from "../ui.jsx";
import { useNotificationFeed } from "./feed.js";
import { NOTIFICATION_FIELDS } from "./fragments.js";
import { VisitLine } from "./VisitLine.jsx";

/** Where a notification leads: its conversation, else its visit (and its notes). */
export function targetOf(notification) {
  if (notification.conversationId) return `chat/${notification.conversationId}`;
  if (notification.appointmentId) return `appointments/${notification.appointmentId}`;
  return null;
}

/**
 * `onOpen(notification)`: a row was chosen. `unreadOnly`: unread ones only (the filter);
 * rows marked read after they were loaded leave the list.
 */
export function NotificationList({ unreadOnly = false, pageSize = 10, user, onOpen, empty, label }) {
  const feed = useNotificationFeed({ unreadOnly, pageSize });
  const { data, error, refetch } = feed.result;
  if (error && !data) return <ErrorState error={error} retry={refetch} />;
  if (!data) return <Loading what="Loading notifications" />;
  if (feed.items.length === 0) return <div className="state">{empty}</div>;
  return (
    <>
      <ul className="rows notification-list" aria-label={label}>
        {feed.items.map(({ id }) => (
          <NotificationRow key={id} id={id} user={user} onOpen={onOpen} hideRead={unreadOnly} />
        ))}
      </ul>
      {/* Shown by CSS only once every loaded row was read and left the list (unread only). */}
      {unreadOnly && <div className="state when-list-empty">{empty}</div>}
      {feed.moreError && <ErrorState error={feed.moreError} retry={feed.loadMore} />}
      {feed.hasMore && (
        <div className="actions load-more">
          <button type="button" onClick={feed.loadMore} disabled={feed.loadingMore}>
            {feed.loadingMore ? "Loading…" : "Load more"}
          </button>
        </div>
      )}
    </>
  );
}

function NotificationRow({ id, user, onOpen, hideRead }) {
  const { data: n, complete } = useFragment({
    fragment: NOTIFICATION_FIELDS,
    from: { __typename: "Notification", id },
  });
  if (!complete || (hideRead && n.readAt)) return null;
  const unread = !n.readAt;
  return (
    <li className={unread ? "notification unread" : "notification"}>
      <button type="button" className="notification-open" onClick={() => onOpen(n)}>
        <span className="notification-title">
          {unread && <span className="unread-dot" aria-hidden="true" />}
          {unread && <span className="visually-hidden">Unread: </span>}
          <strong>{n.title}</strong>
        </span>
        <span className="notification-body">{n.body}</span>
        {n.appointmentId && <VisitLine appointmentId={n.appointmentId} user={user} />}
        <small className="notification-time">{when(n.createdAt)}</small>
      </button>
    </li>
  );
}
