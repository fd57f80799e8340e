import { ApolloProvider, useApolloClient } from "@apollo/client/react";
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { createApolloClient } from "./apollo.js";
import { AuditTrail } from "./admin/AuditTrail.jsx";
import { AdminUsers } from "./admin/Users.jsx";
import { AppointmentView } from "./AppointmentView.jsx";
import { Appointments } from "./Appointments.jsx";
import { Bell } from "./Bell.jsx";
import { Book } from "./Book.jsx";
import { Chat } from "./Chat.jsx";
import { Agenda } from "./doctor/Agenda.jsx";
import { Schedule } from "./doctor/Schedule.jsx";
import { EmailPreferencesForm } from "./EmailPreferences.jsx";
import { UnverifiedBanner, VerifyEmail } from "./EmailVerification.jsx";
import { useHashRoute } from "./hooks.js";
import { Profile } from "./patient/Profile.jsx";
import { RecordAccess } from "./patient/RecordAccess.jsx";
import { NotificationsPage } from "./notifications/NotificationsPage.jsx";
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
  // Each role lands on the first screen in the menu it may open: administrators on Users,
  // patients on their appointments, doctors on their agenda.
  {
    path: "users",
    label: "Users",
    roles: ["ADMIN"],
    render: ({ id, user }) => <AdminUsers id={id} user={user} />,
  },
  {
    path: "audit",
    label: "Audit trail",
    roles: ["ADMIN"],
    render: ({ token }) => <AuditTrail key={token} token={token} />,
  },
  {
    path: "appointments",
    label: (user) => (user.role === "DOCTOR" ? "Agenda" : "Appointments"),
    roles: ["PATIENT", "DOCTOR"],
    render: ({ id, user, navigate }) =>
      id ? (
        <AppointmentView id={id} user={user} navigate={navigate} />
      ) : user.role === "DOCTOR" ? (
        <Agenda user={user} />
      ) : (
        <Appointments user={user} navigate={navigate} />
      ),
  },
  { path: "book", label: "Book", roles: ["PATIENT"], render: ({ navigate }) => <Book navigate={navigate} /> },
  { path: "schedule", label: "Schedule", roles: ["DOCTOR"], render: ({ user }) => <Schedule user={user} /> },
  {
    path: "chat",
    label: "Chat",
    roles: ["PATIENT", "DOCTOR"],
    render: ({ id, user }) => <Chat conversationId={id} user={user} />,
  },
  { path: "record-access", label: "Record access", roles: ["PATIENT"], render: () => <RecordAccess /> },
  { path: "profile", label: "Profile", render: () => <Profile /> },
  { path: "settings", label: "Settings", render: () => <Settings /> },
  {
    path: "notifications",
    render: ({ user, navigate }) => <NotificationsPage user={user} navigate={navigate} />,
  },
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
  // Escape closes the open menu, and the focus goes back to its button.
  const menuButton = useRef(null);
  useEffect(() => {
    if (!menuOpen) return undefined;
    const onKey = (event) => {
      if (event.key !== "Escape") return;
      setMenuOpen(false);
      menuButton.current?.focus();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [menuOpen]);

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
          ref={menuButton}
          onClick={() => setMenuOpen(!menuOpen)}
        >
          <MenuIcon />
          <span className="menu-text">Menu</span>
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
            <span className="live-dot" aria-hidden="true" />
            <span className="live-text">{socket.connected ? "live" : "connecting…"}</span>
          </span>
          <Bell navigate={navigate} connected={socket.connected} user={user} />
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

function MenuIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true">
      <path fill="currentColor" d="M3 6h18v2H3zm0 5h18v2H3zm0 5h18v2H3z" />
    </svg>
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
    <button type="button" className="sign-out" onClick={signOut}>
      Sign out
    </button>
  );
}
