// The signed-in session: tokens in sessionStorage (one sign-in per tab: two tabs sharing
// a refresh token would spend it twice, and the API ends a sign-in whose refresh token is
// presented twice). Access tokens last at most 15 minutes: getToken() trades the refresh
// token for a new pair shortly before expiry, once, however many callers ask at once.

const KEY = "healthcare.session";
const REFRESH_MARGIN_MS = 60_000;

const AUTH_FIELDS = `
  __typename
  ... on AuthPayload {
    accessToken accessTokenExpiresAt refreshToken
    user { id fullName role }
  }
  ... on Error { code message }
`;
const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { ${AUTH_FIELDS} }
}`;
const REFRESH = `mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { ${AUTH_FIELDS} }
}`;

let session = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
let refreshing = null;
const listeners = new Set();

export function currentSession() {
  return session;
}

export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function store(next) {
  session = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((listener) => listener(next));
}

export function signOutLocally() {
  store(null);
}

/** Resolves to an error message, or null once signed in. */
export async function signIn(email, password) {
  const { data, errors } = await post(LOGIN, { email, password });
  if (errors?.length) return errors[0].message; // e.g. RATE_LIMITED, with retryAfterSeconds
  const result = data.login;
  if (result.__typename !== "AuthPayload") return result.message;
  store(result);
  return null;
}

/** A valid access token, refreshed if it expires within a minute; null when signed out. */
export async function getToken() {
  if (!session) return null;
  if (Date.parse(session.accessTokenExpiresAt) - Date.now() > REFRESH_MARGIN_MS) {
    return session.accessToken;
  }
  refreshing ??= refresh().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** The API refused the access token (WebSocket close 4401/4403): refresh on next use. */
export function distrustToken() {
  if (session) session = { ...session, accessTokenExpiresAt: new Date(0).toISOString() };
}

async function refresh() {
  try {
    const { data } = await post(REFRESH, { refreshToken: session.refreshToken });
    if (data?.refreshToken?.__typename === "AuthPayload") {
      store(data.refreshToken);
      return session.accessToken;
    }
  } catch {
    // offline: keep the session and let the caller fail; the next call tries again
    return session?.accessToken ?? null;
  }
  store(null); // the sign-in has ended (expired, revoked, or signed out elsewhere)
  return null;
}

// Sign-in and refresh run before there is a session, so outside Apollo: plain fetch.
async function post(query, variables) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}
