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

function updateURL(data) {
  Object.assign(parameters, data);
  const newSearch =
    "?" +
    Object.keys(parameters)
      .filter((key) => Boolean(parameters[key]))
      .map((key) => encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]))
      .join("&");
  history.replaceState(null, null, newSearch);
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

  function onEditQuery(newQuery) {
    setQuery(newQuery);
    updateURL({ q: newQuery });
  }

  function onEditVariables(newVariables) {
    setVariables(newVariables);
    updateURL({ variables: newVariables });
  }

  function onEditHeaders(newHeaders) {
    setHeaders(newHeaders); // never into the URL: they hold tokens
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
    shouldPersistHeaders: true,
  });
}

const root = ReactDOM.createRoot(document.getElementById("graphiql"));
root.render(React.createElement(GraphiQLWithExplorer));
