// Subscriptions that survive a dropped socket (a server restart, a network change, a
// token refresh) without losing or repeating anything.
//
// The API numbers what it pushes: notifications and chat messages carry a `seq`, and an
// appointment its `updatedAt`. Subscribing again with `afterSeq` (or `changedSince`) first
// replays what was missed, then goes live. So: remember the last cursor seen, and when
// the subscription ends with a network error, subscribe again from that cursor after a
// short backoff. Live-only subscriptions (typing, read receipts) replay nothing: where
// the state matters, `onSubscribe` reads it again each time they (re)subscribe. No React
// here (the Node check uses it).
import { CombinedGraphQLErrors } from "@apollo/client/errors";

// Errors that another attempt would only repeat.
const PERMANENT = new Set([
  "BAD_USER_INPUT",
  "NOT_FOUND",
  "FORBIDDEN",
  "UNAUTHENTICATED",
  "GRAPHQL_VALIDATION_FAILED",
  "GRAPHQL_PARSE_FAILED",
  "CALL_ENDED", // callSignals of a call that has ended
]);

export function errorCode(error) {
  if (CombinedGraphQLErrors.is(error)) return error.errors[0]?.extensions?.code ?? null;
  return null;
}

/** 0.5 s, 1 s, 2 s, ... up to 8 s, with a little jitter so clients do not stampede. */
export function backoff(attempt) {
  return Math.min(500 * 2 ** (attempt - 1), 8000) + Math.random() * 250;
}

/**
 * Subscribe, and keep subscribing from the last cursor seen.
 *
 * @param {import("@apollo/client").ApolloClient} client
 * @param {object} options
 * @param {import("graphql").DocumentNode} options.query
 * @param {(cursor: any) => object} options.variables  the variables to (re)subscribe with
 * @param {any} [options.cursor]                   where to start (null: from now on)
 * @param {(cursor: any, data: object) => any} [options.advance]  the cursor after an event
 *   (none for a live-only subscription)
 * @param {(data: object) => void} options.onData
 * @param {(attempt: number) => void} [options.onSubscribe]  after each (re)subscription
 *   (attempt 0 first, then the number of failures so far): where a live-only subscription
 *   reads the current state again, since what changed while it was away is not replayed
 * @param {(error: Error) => void} [options.onError]  a permanent error: no more attempts
 * @param {(attempt: number) => number|Promise<void>} [options.retryDelay]  ms, or a promise
 * @returns {{stop: () => void, readonly cursor: any}}
 */
export function resumable(client, options) {
  const { query, variables, onData, onSubscribe, onError, retryDelay = backoff } = options;
  const advance = options.advance ?? ((at) => at);
  let cursor = options.cursor ?? null;
  let subscription = null;
  let stopped = false;
  let failures = 0;

  function start() {
    let failure = null;
    subscription = client.subscribe({ query, variables: variables(cursor) }).subscribe({
      next: ({ data, error }) => {
        if (error) {
          failure = error; // Apollo 4 reports it as a result, then completes
          return;
        }
        failures = 0;
        cursor = advance(cursor, data);
        onData(data);
      },
      error: (error) => retryAfter(error),
      complete: () => retryAfter(failure),
    });
    // Right after subscribing (the server does not acknowledge a subscription, so this is
    // as close as a client gets): a change around this moment comes in the read, in an
    // event, or in both; callers keep the newest.
    onSubscribe?.(failures);
  }

  async function retryAfter(error) {
    if (stopped) return;
    if (error && PERMANENT.has(errorCode(error))) {
      onError?.(error);
      return;
    }
    failures += 1;
    const delay = retryDelay(failures);
    await (typeof delay === "number" ? new Promise((done) => setTimeout(done, delay)) : delay);
    if (!stopped) start();
  }

  start();
  return {
    stop() {
      stopped = true;
      subscription?.unsubscribe();
    },
    get cursor() {
      return cursor;
    },
  };
}

/** For `seq` cursors: the larger of the two. */
export function maxSeq(cursor, seq) {
  return cursor == null || seq > cursor ? seq : cursor;
}

/**
 * For `changedSince` cursors: the newer of the cursor and an appointment's `updatedAt`.
 * The server's own string is kept (microseconds included); a tie within a millisecond
 * keeps the cursor, which at worst replays one change already seen, never skips one.
 */
export function latestChange(cursor, appointment) {
  const at = appointment.updatedAt;
  if (at == null) return cursor;
  return cursor == null || Date.parse(at) > Date.parse(cursor) ? at : cursor;
}
