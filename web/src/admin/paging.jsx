// Paged lists for the admin screens: a connection's first page, then "Load more" appends
// the next one (fetchMore), and a search box that waits for the typing to pause.
import { useQuery } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { failureMessage } from "../forms.jsx";

export const PAGE_SIZE = 20;

/**
 * `useQuery` of a connection (`field`: its name in the answer, with `nodes` and
 * `pageInfo`). While new filters load, the rows of the previous ones stay (dimmed by the
 * caller through `refreshing`) rather than a blank "Loading…".
 */
export function usePagedQuery(query, field, variables) {
  const result = useQuery(query, {
    variables: { first: PAGE_SIZE, ...variables },
    fetchPolicy: "cache-and-network",
    notifyOnNetworkStatusChange: true,
  });
  const [moreError, setMoreError] = useState(null);
  const [loadingMore, setLoadingMore] = useState(false);
  // Keep showing the previous filters' rows while new ones load, but not over a failure.
  const data = result.error ? result.data : (result.data ?? result.previousData);

  async function loadMore() {
    setMoreError(null);
    setLoadingMore(true);
    try {
      await result.fetchMore({
        variables: { after: data[field].pageInfo.endCursor },
        updateQuery: (previous, { fetchMoreResult }) => ({
          ...previous,
          [field]: {
            ...fetchMoreResult[field],
            nodes: [...previous[field].nodes, ...fetchMoreResult[field].nodes],
          },
        }),
      });
    } catch (error) {
      setMoreError(failureMessage(error));
    } finally {
      setLoadingMore(false);
    }
  }

  return {
    result: { ...result, data },
    connection: data?.[field],
    refreshing: result.loading && Boolean(data) && !loadingMore,
    loadMore,
    loadingMore,
    moreError,
  };
}

/** "Load more" under a list, while there are more; its failure is said next to it. */
export function LoadMore({ paged, what }) {
  const { connection, loadMore, loadingMore, moreError } = paged;
  if (!connection?.pageInfo.hasNextPage && !moreError) return null;
  return (
    <div className="actions">
      {connection?.pageInfo.hasNextPage && (
        <button type="button" onClick={loadMore} disabled={loadingMore}>
          {loadingMore ? "Loading…" : `Load more ${what}`}
        </button>
      )}
      {moreError && <p role="alert">{moreError}</p>}
    </div>
  );
}

/** `value`, once it has not changed for `delay` ms (a search box: one query per pause). */
export function useDebounced(value, delay = 300) {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);
  return settled;
}
