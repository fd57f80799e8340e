// Subscriptions that survive a dropped socket (a server restart, a network change, a
// token refresh) without losing or repeating anything.
//
// The API numbers what it pushes: notifications and chat messages carry a `seq`, and an
// appointment's history says when it last changed. Subscribing again with `afterSeq`
// (or `changedSince`) first replays what was missed, then goes live. So: remember the
// last cursor seen, and when the subscription ends with a network error, subscribe
// again from that cursor after a short backoff. No React here (the Node check uses it).
import { CombinedGraphQLErrors } from "@apollo/client/errors";

// Errors that another attempt would only repeat.
const PERMANENT = new Set([
  "BAD_USER_INPUT",
  "NOT_FOUND",
  "FORBIDDEN",
  "UNAUTHENTICATED",
  "GRAPHQL_VALIDATION_FAILED",
  "GRAPHQL_PARSE_FAILED",
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
 * @param {(cursor: any, data: object) => any} options.advance  the cursor after an event
 * @param {(data: object) => void} options.onData
 * @param {(error: Error) => void} [options.onError]  a permanent error: no more attempts
 * @param {(attempt: number) => number|Promise<void>} [options.retryDelay]  ms, or a promise
 * @returns {{stop: () => void, readonly cursor: any}}
 */
export function resumable(client, options) {
  const { query, variables, advance, onData, onError, retryDelay = backoff } = options;
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

/** For `changedSince` cursors: the latest change in an appointment's history. */
export function latestChange(cursor, appointment) {
  let latest = cursor;
  for (const { createdAt } of appointment.history ?? []) {
    if (latest == null || Date.parse(createdAt) > Date.parse(latest)) latest = createdAt;
  }
  return latest;
}
