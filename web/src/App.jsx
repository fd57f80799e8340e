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

function Shell({ user, socket }) {
  const [[page = "", id, ...rest], navigate] = useHashRoute();
  const token = [id, ...rest].join("/"); // from a link in an email
  const isPatient = user.role === "PATIENT";

  let content;
  if (page === "book" && isPatient) content = <Book navigate={navigate} />;
  else if (page === "appointments" && id)
    content = <AppointmentView id={id} user={user} navigate={navigate} />;
  else if (page === "chat") content = <Chat conversationId={id} user={user} />;
  else if (page === "settings") content = <Settings />;
  else if (page === "verify-email" && id) content = <VerifyEmail key={token} token={token} signedIn />;
  else if (page === "email-preferences" && id)
    content = (
      <section>
        <h1>Healthcare emails</h1>
        <EmailPreferencesForm key={token} token={token} />
      </section>
    );
  else content = <Appointments user={user} navigate={navigate} />;

  return (
    <CallProvider user={user} navigate={navigate}>
      <header>
        <strong>Healthcare</strong>
        <nav>
          {isPatient && <a href="#/book">Book</a>}
          <a href="#/appointments">{user.role === "DOCTOR" ? "Agenda" : "Appointments"}</a>
          <a href="#/chat">Chat</a>
          <a href="#/settings">Settings</a>
        </nav>
        <span className={socket.connected ? "live on" : "live"} title="Live updates">
          {socket.connected ? "live" : "connecting…"}
        </span>
        <Bell navigate={navigate} connected={socket.connected} />
        <span>
          {user.fullName} <small>({user.role.toLowerCase()})</small>
        </span>
        <SignOut />
      </header>
      <main>
        <UnverifiedBanner />
        <IncomingCall />
        <CallView />
        {content}
      </main>
    </CallProvider>
  );
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
