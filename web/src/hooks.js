import { useApolloClient } from "@apollo/client/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { resumable } from "./live.js";

/** The bell's subscription announces every notification here (the chat list listens). */
export const notificationEvents = new EventTarget();

/** `#/chat/123` -> ["chat", "123"]; navigate("chat/123"). */
export function useHashRoute() {
  const [hash, setHash] = useState(() => window.location.hash.slice(1));
  useEffect(() => {
    const onChange = () => setHash(window.location.hash.slice(1));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  const navigate = useCallback((path) => {
    window.location.hash = `/${path}`;
  }, []);
  return [hash.split("/").filter(Boolean), navigate];
}

/**
 * A subscription that resumes from the last cursor seen after the socket drops (live.js);
 * `onSubscribe` runs after each (re)subscription (for live-only ones: read the state again).
 * It starts when `skip` turns false and restarts only when `deps` change: the callbacks
 * may change on every render without resubscribing.
 */
export function useResumable(
  query,
  { skip = false, cursor = null, variables, advance, onData, onSubscribe },
  deps,
) {
  const client = useApolloClient();
  const latest = useRef();
  latest.current = { cursor, variables, advance, onData, onSubscribe };
  useEffect(() => {
    if (skip) return undefined;
    const live = resumable(client, {
      query,
      cursor: latest.current.cursor,
      variables: (at) => latest.current.variables(at),
      advance: (at, data) => (latest.current.advance ? latest.current.advance(at, data) : at),
      onData: (data) => latest.current.onData(data),
      onSubscribe: (attempt) => latest.current.onSubscribe?.(attempt),
      onError: (error) => console.warn("subscription stopped:", error.message),
    });
    return () => live.stop();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, query, skip, ...deps]);
}
