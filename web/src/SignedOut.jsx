import { ApolloProvider } from "@apollo/client/react";
import { useState } from "react";
import { createAnonymousClient } from "./apollo.js";
import { EmailPreferencesForm } from "./EmailPreferences.jsx";
import { VerifyEmail } from "./EmailVerification.jsx";
import { useHashRoute } from "./hooks.js";
import { ForgotPassword, ResetPassword } from "./PasswordReset.jsx";
import { SignIn } from "./SignIn.jsx";
import { SignUp } from "./SignUp.jsx";

/**
 * Signed out: sign in, sign up, forgot password, and the links in emails
 * (#/reset-password/<token>, #/verify-email/<token>, #/email-preferences/<token>), on a
 * client without a token. Any other route shows the sign-in form and stays in the address
 * bar, so that `#/appointments/7` (from an email) opens once signed in.
 * `#/reset-password/<token>` comes here signed in too: it ends every session.
 * Each page is a card centred on the screen (styles.css, "patient: signed out").
 */
export function SignedOut() {
  const [client] = useState(() => createAnonymousClient());
  const [[page = "", ...rest], navigate] = useHashRoute();
  const token = rest.join("/");

  let content;
  if (page === "forgot-password") content = <ForgotPassword />;
  else if (page === "sign-up") content = <SignUp />;
  else if (page === "reset-password" && token)
    content = <ResetPassword key={token} token={token} onSignedIn={() => navigate("appointments")} />;
  else if (page === "verify-email" && token) content = <VerifyEmail key={token} token={token} />;
  else if (page === "email-preferences" && token) {
    content = (
      <section>
        <h1>Healthcare emails</h1>
        <EmailPreferencesForm key={token} token={token} />
        <p>
          <a href="#/">Sign in</a>
        </p>
      </section>
    );
  } else content = <SignIn />;

  return (
    <ApolloProvider client={client}>
      <main className="signed-out">
        <p className="signed-out-brand">Healthcare</p>
        <div className="card signed-out-card">{content}</div>
      </main>
    </ApolloProvider>
  );
}
