import { ApolloProvider, useApolloClient } from "@apollo/client/react";
import { useEffect, useState, useSyncExternalStore } from "react";
import { createApolloClient } from "./apollo.js";
import { AppointmentView } from "./AppointmentView.jsx";
import { Appointments } from "./Appointments.jsx";
import { Bell } from "./Bell.jsx";
import { Book } from "./Book.jsx";
import { Chat } from "./Chat.jsx";
import { EmailPreferencesForm } from "./EmailPreferences.jsx";
import { UnverifiedBanner, VerifyEmail } from "./EmailVerification.jsx";
import { useHashRoute } from "./hooks.js";
import { LOGOUT } from "./operations.js";
import { currentSession, distrustToken, getToken, onSessionChange, signOutLocally } from "./session.js";
import { Settings } from "./Settings.jsx";
import { SignedOut } from "./SignedOut.jsx";
import { CallProvider, CallView, IncomingCall, useCalls } from "./VideoCall.jsx";

export function App() {
  const session = useSyncExternalStore(onSessionChange, currentSession);
  const [[page]] = useHashRoute();
  // A password reset ends every session, this one too: it is a signed-out page.
  if (!session || page === "reset-password") return <SignedOut />;
  // A new client (cache and socket) for each user: nothing leaks from one to the next.
  return <SignedIn key={session.user.id} user={session.user} />;
}

function SignedIn({ user }) {
  const [apollo, setApollo] = useState(null);
  const [socket, setSocket] = useState({ connected: false });
  useEffect(() => {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const created = createApolloClient({
      httpUrl: "/graphql",
      wsUrl: `${scheme}://${window.location.host}/graphql`,
      getToken,
      onSocket: setSocket,
      onTokenRefused: distrustToken,
    });
    setApollo(created);
    return () => {
      created.dispose();
      created.client.stop();
    };
  }, []);
  if (!apollo) return null;
  return (
    <ApolloProvider client={apollo.client}>
      <Shell user={user} socket={socket} />
    </ApolloProvider>
  );
}

/**
 * The screens, in navigation order. `roles`: who may open it (the API enforces the same;
 * this only keeps the menu honest). `label`: its name in the menu (none: reached by links).
 * `render` gets { id, token, user, navigate } from `#/<path>/<id>/...`.
 */
const ROUTES = [
  { path: "book", label: "Book", roles: ["PATIENT"], render: ({ navigate }) => <Book navigate={navigate} /> },
  {
    path: "appointments",
    label: (user) => (user.role === "DOCTOR" ? "Agenda" : "Appointments"),
    roles: ["PATIENT", "DOCTOR"],
    render: ({ id, user, navigate }) =>
      id ? (
        <AppointmentView id={id} user={user} navigate={navigate} />
      ) : (
        <Appointments user={user} navigate={navigate} />
      ),
  },
  {
    path: "chat",
    label: "Chat",
    roles: ["PATIENT", "DOCTOR"],
    render: ({ id, user }) => <Chat conversationId={id} user={user} />,
  },
  { path: "settings", label: "Settings", render: () => <Settings /> },
  {
    path: "verify-email",
    render: ({ id, token }) => id && <VerifyEmail key={token} token={token} signedIn />,
  },
  {
    path: "email-preferences",
    render: ({ id, token }) =>
      id && (
        <section>
          <h1>Healthcare emails</h1>
          <EmailPreferencesForm key={token} token={token} />
        </section>
      ),
  },
];

/** Where a role lands: the first screen in the menu it may open. */
function home(user) {
  return ROUTES.find((route) => route.label && allowed(route, user));
}

function allowed(route, user) {
  return !route.roles || route.roles.includes(user.role);
}

function Shell({ user, socket }) {
  const [[page = "", id, ...rest], navigate] = useHashRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  const token = [id, ...rest].join("/"); // from a link in an email
  const route = ROUTES.find((r) => r.path === page && allowed(r, user)) ?? home(user);
  const content = route.render({ id: route.path === page ? id : undefined, token, user, navigate }) ?? null;
  useEffect(() => setMenuOpen(false), [page, id]);

  return (
    <CallProvider user={user} navigate={navigate}>
      <a className="skip-link" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header className="app-header">
        <a className="brand" href={`#/${home(user).path}`}>
          Healthcare
        </a>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="main-menu"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <nav id="main-menu" aria-label="Main" className={menuOpen ? "open" : ""}>
          {ROUTES.filter((r) => r.label && allowed(r, user)).map((r) => (
            <a key={r.path} href={`#/${r.path}`} aria-current={r === route ? "page" : undefined}>
              {typeof r.label === "function" ? r.label(user) : r.label}
            </a>
          ))}
        </nav>
        <span className="spacer" />
        <div className="account">
          <span className={socket.connected ? "live on" : "live"} title="Live updates">
            {socket.connected ? "live" : "connecting…"}
          </span>
          <Bell navigate={navigate} connected={socket.connected} />
          <span className="who">
            {user.fullName} <small>({user.role.toLowerCase()})</small>
          </span>
          <SignOut />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <UnverifiedBanner />
        <IncomingCall />
        <CallView />
        {content}
      </main>
    </CallProvider>
  );
}

/** The skip link moves focus without changing the hash (the hash is the router's). */
function skipToMain(event) {
  event.preventDefault();
  document.getElementById("main")?.focus();
}

function SignOut() {
  const client = useApolloClient();
  const calls = useCalls();

  async function signOut() {
    await calls.leave(); // while the token still works
    await client.mutate({ mutation: LOGOUT }).catch(() => {});
    signOutLocally();
  }

  return (
    <button type="button" onClick={signOut}>
      Sign out
    </button>
  );
}
