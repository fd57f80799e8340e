// Your notifications as one list, newest first, paged with "Load more": the newest page is
// read again whenever a notification arrives; older pages are added below it.
import { useApolloClient, useMutation, useQuery } from "@apollo/client/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { notificationEvents } from "../hooks.js";
import { MARK_ALL_READ, MARK_READ, NOTIFICATION_FEED } from "./operations.js";

/** Entries ({ id, seq }) of both lists, once each, newest (highest seq) first. */
function mergeEntries(known, nodes) {
  const byId = new Map(known.map((entry) => [entry.id, entry]));
  for (const { id, seq } of nodes) byId.set(id, { id, seq });
  return [...byId.values()].sort((a, b) => b.seq - a.seq);
}

/**
 * `items`: the notifications loaded so far ({ id, seq }; rows read the rest from the
 * cache). What the newest page showed before stays listed when new ones push it down,
 * so paging on from the oldest loaded never leaves a gap.
 */
export function useNotificationFeed({ unreadOnly = false, pageSize = 10 } = {}) {
  const client = useApolloClient();
  // Unread only: always the server's answer (what the cache holds may have been read since).
  const head = useQuery(NOTIFICATION_FEED, {
    variables: { first: pageSize, unreadOnly },
    fetchPolicy: unreadOnly ? "network-only" : "cache-and-network",
  });
  const [known, setKnown] = useState([]);
  const [tail, setTail] = useState(null); // pageInfo of the oldest page "Load more" read
  const [more, setMore] = useState({ loading: false, error: null });
  const headPage = head.data?.myNotifications;
  const { refetch } = head;

  useEffect(() => {
    if (headPage) setKnown((entries) => mergeEntries(entries, headPage.nodes));
  }, [headPage]);
  // A new notification: read the newest page again.
  useEffect(() => {
    const onNotification = () => refetch().catch(() => {});
    notificationEvents.addEventListener("notification", onNotification);
    return () => notificationEvents.removeEventListener("notification", onNotification);
  }, [refetch]);

  const items = useMemo(() => mergeEntries(known, headPage?.nodes ?? []), [known, headPage]);
  const pageInfo = tail ?? headPage?.pageInfo;

  async function loadMore() {
    if (!pageInfo?.hasNextPage || more.loading) return;
    setMore({ loading: true, error: null });
    try {
      const { data } = await client.query({
        query: NOTIFICATION_FEED,
        variables: { first: pageSize, unreadOnly, after: pageInfo.endCursor },
        fetchPolicy: "network-only",
      });
      setKnown((entries) => mergeEntries(entries, data.myNotifications.nodes));
      setTail(data.myNotifications.pageInfo);
      setMore({ loading: false, error: null });
    } catch (error) {
      setMore({ loading: false, error });
    }
  }

  return {
    result: head,
    items,
    hasMore: Boolean(pageInfo?.hasNextPage),
    loadMore,
    loadingMore: more.loading,
    moreError: more.error,
  };
}

/** Set readAt in the cache: every row showing these notifications turns read at once. */
function markedRead(cache, ids) {
  const now = new Date().toISOString();
  for (const id of ids) {
    cache.modify({
      id: cache.identify({ __typename: "Notification", id }),
      fields: { readAt: (readAt) => readAt ?? now },
    });
  }
}

/** Every notification in the cache (those any list has shown). */
function cachedNotificationIds(cache) {
  return Object.keys(cache.extract())
    .filter((key) => key.startsWith("Notification:"))
    .map((key) => key.slice("Notification:".length));
}

/** Mark one or all read; the bell's count is read again from the server. */
export function useMarkRead() {
  const [markOne] = useMutation(MARK_READ, { refetchQueries: ["Bell"] });
  const [markAll, markingAll] = useMutation(MARK_ALL_READ, { refetchQueries: ["Bell"] });
  const one = useCallback(
    (id) =>
      markOne({ variables: { ids: [id] }, update: (cache) => markedRead(cache, [id]) }).catch(() => {}),
    [markOne],
  );
  const all = useCallback(
    () => markAll({ update: (cache) => markedRead(cache, cachedNotificationIds(cache)) }),
    [markAll],
  );
  return { markRead: one, markAllRead: all, markingAll: markingAll.loading, markAllError: markingAll.error };
}
