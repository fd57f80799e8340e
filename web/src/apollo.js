// One Apollo Client per signed-in session: queries and mutations over HTTP, subscriptions
// over a graphql-ws WebSocket, split by operation type. No React here, so that the
// headless Node check (e2e/apollo-restart.test.js) runs this very code.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { OperationTypeNode } from "graphql";
import { createClient } from "graphql-ws";
import possibleTypes from "./possibleTypes.js";

/**
 * @param {object} options
 * @param {string} options.httpUrl   "/graphql" in a browser, "http://host:port/graphql" in Node
 * @param {string} options.wsUrl     "ws://host:port/graphql"
 * @param {() => Promise<string|null>} options.getToken  a valid access token (refreshed as needed)
 * @param {(status: {connected: boolean, code?: number}) => void} [options.onSocket]
 * @param {() => void} [options.onTokenRefused]  the socket closed with 4401 or 4403
 * @param {unknown} [options.webSocketImpl]  in Node 20, the `ws` package's WebSocket
 */
export function createApolloClient({ httpUrl, wsUrl, getToken, onSocket, onTokenRefused, webSocketImpl }) {
  // HTTP: `Authorization: Bearer <accessToken>` on every request.
  const withToken = new SetContextLink(async ({ headers }) => {
    const token = await getToken();
    return token ? { headers: { ...headers, authorization: `Bearer ${token}` } } : {};
  });
  const http = ApolloLink.from([withToken, new HttpLink({ uri: httpUrl })]);

  // WebSocket: the token goes in the connection_init payload, as `authorization` (see
  // on_ws_connect in healthcare/app.py). A function, so that each reconnect sends the
  // current token rather than the one the session started with.
  const socket = createClient({
    url: wsUrl,
    webSocketImpl,
    connectionParams: async () => {
      const token = await getToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    // graphql-ws would re-send each subscription after a reconnect with the variables it
    // first had (a stale afterSeq). Instead a dropped socket ends every subscription with
    // an error, and live.js subscribes again from the last seq it saw.
    retryAttempts: 0,
    lazyCloseTimeout: 3000,
    on: {
      connected: () => onSocket?.({ connected: true }),
      closed: (event) => {
        // 4401: the token expired or the session ended; 4403: the token was refused.
        // Either way, refresh before the next connection_init.
        if (event?.code === 4401 || event?.code === 4403) onTokenRefused?.();
        onSocket?.({ connected: false, code: event?.code });
      },
    },
  });

  const link = ApolloLink.split(
    (operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(socket),
    http,
  );
  // possibleTypes: which types implement `Error` and make up each result union, so that
  // the cache matches `... on Error { code message }` (generated from schema.graphql).
  const client = new ApolloClient({ link, cache: new InMemoryCache({ possibleTypes }) });
  return { client, socket, dispose: () => socket.dispose() };
}

/** Signed out: HTTP only, no token (sign-up, password reset, and the links in emails). */
export function createAnonymousClient(httpUrl = "/graphql") {
  return new ApolloClient({
    link: new HttpLink({ uri: httpUrl }),
    cache: new InMemoryCache({ possibleTypes }),
  });
}
