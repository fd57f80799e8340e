// GraphiQL at /graphql: strawberry's page script, served from our own origin (no inline
// script, so that the Content-Security-Policy can say script-src 'self'). Queries go to
// this URL over HTTP; subscriptions to the same URL over a WebSocket, whose
// connection_init payload carries the Headers pane (`{"Authorization": "Bearer ..."}`
// signs the socket in, as it does an HTTP request).
"use strict";

const EXAMPLE_QUERY = `# Welcome to GraphiQL
#
# Paste a token into the Headers pane below to sign in:
#
#     {"Authorization": "Bearer <accessToken from the login mutation>"}
#
# then, for instance:
#
#     query Me {
#       me { id fullName role }
#     }
#
# Keyboard shortcuts:
#
#       Run Query:  Ctrl-Enter (or press the play button above)
#
#   Auto Complete:  Ctrl-Space (or just start typing)
#
`;

// The editors' contents live in the URL, to share a query (`q`, `variables`,
// `headers`); strawberry's page does the same.
const parameters = {};
for (const entry of window.location.search.slice(1).split("&")) {
  const eq = entry.indexOf("=");
  if (eq >= 0) {
    parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(entry.slice(eq + 1));
  }
}

const fetchURL = window.location.href.split("?")[0];

function httpUrlToWebSocketUrl(url) {
  const parsedURL = new URL(url);
  parsedURL.protocol = parsedURL.protocol === "http:" ? "ws:" : "wss:";
  parsedURL.hash = "";
  return parsedURL.toString();
}

const fetcher = GraphiQL.createFetcher({
  url: fetchURL,
  headers: {},
  subscriptionUrl: httpUrlToWebSocketUrl(fetchURL),
});

function GraphiQLWithExplorer() {
  const [query, setQuery] = React.useState(parameters.q || EXAMPLE_QUERY);
  const [variables, setVariables] = React.useState(parameters.variables);
  const [headers, setHeaders] = React.useState(parameters.headers);

  // What is typed stays in the page (and GraphiQL's own localStorage), never in the
  // address: a URL reaches browser history and, on reload, server and proxy logs, and
  // variables may hold health data, headers a token. A link may still open a query
  // (?q=...): the parameters are read, not written.
  function onEditQuery(newQuery) {
    setQuery(newQuery);
  }

  function onEditVariables(newVariables) {
    setVariables(newVariables);
  }

  function onEditHeaders(newHeaders) {
    setHeaders(newHeaders);
  }

  const explorerPlugin = GraphiQLPluginExplorer.explorerPlugin();

  return React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultEditorToolsVisibility: true,
    plugins: [explorerPlugin],
    query: query,
    variables: variables,
    headers: headers,
    onEditQuery: onEditQuery,
    onEditVariables: onEditVariables,
    onEditHeaders: onEditHeaders,
    inputValueDeprecation: true,
    isHeadersEditorEnabled: true,
    // Headers hold a bearer token: not into localStorage, where it would outlive the tab.
    shouldPersistHeaders: false,
  });
}

const root = ReactDOM.createRoot(document.getElementById("graphiql"));
root.render(React.createElement(GraphiQLWithExplorer));
