// Verifying your email address: the #/verify-email/<token> page, "Send the link again", and
// the banner shown while your address is not verified.
import { useApolloClient, useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { failureMessage } from "./forms.jsx";
import { MY_EMAIL, RESEND_VERIFICATION_EMAIL, VERIFY_EMAIL } from "./operations.js";
import { Card, PageHeader } from "./ui.jsx";

// A link works once, and StrictMode runs effects twice: one verifyEmail per token and page.
const verifying = new Map();

/**
 * `#/verify-email/<token>`, signed in or out: verifies on load (a new account's address,
 * or the new address of changeEmail) and says how it went.
 */
export function VerifyEmail({ token, signedIn }) {
  const client = useApolloClient();
  const [outcome, setOutcome] = useState(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    if (!verifying.has(token)) {
      verifying.set(
        token,
        client
          .mutate({
            mutation: VERIFY_EMAIL,
            variables: { token },
            refetchQueries: signedIn ? [MY_EMAIL] : [],
          })
          .then(({ data }) => data.verifyEmail),
      );
    }
    verifying.get(token).then(
      (result) => current && setOutcome({ result }),
      (error) => {
        verifying.delete(token); // nothing was spent: "Try again" asks again
        if (current) setOutcome({ failure: failureMessage(error) });
      },
    );
    return () => {
      current = false;
    };
  }, [client, token, signedIn, attempt]);

  let body;
  if (!outcome) body = <p role="status" className="hint">Checking your link…</p>;
  else if (outcome.failure) {
    body = (
      <>
        <p role="alert" className="notice error">
          {outcome.failure}
        </p>
        <button type="button" onClick={() => setAttempt(attempt + 1)}>
          Try again
        </button>
      </>
    );
  } else if (outcome.result.__typename === "EmailVerified") {
    body = (
      <>
        <p role="status" className="notice ok">
          Your email address {outcome.result.email} is verified. Thank you.
        </p>
        <p>{signedIn ? <a href="#/">Continue</a> : <a href="#/">Sign in</a>}</p>
      </>
    );
  } else {
    body = (
      <>
        <p role="alert" className="notice error">
          {outcome.result.message}
        </p>
        {signedIn ? (
          <ResendVerification />
        ) : (
          <p>
            <a href="#/settings">Sign in</a> to get a new link.
          </p>
        )}
      </>
    );
  }
  return (
    <section className="verify-email">
      <PageHeader title="Email address" />
      <Card>{body}</Card>
    </section>
  );
}

/** "Send the link again" (signed in): a new verification email to your address. */
export function ResendVerification() {
  const [resend, { loading }] = useMutation(RESEND_VERIFICATION_EMAIL);
  const [said, setSaid] = useState(null);

  async function send() {
    setSaid(null);
    try {
      const { data } = await resend();
      setSaid({ status: data.resendVerificationEmail.message });
    } catch (error) {
      setSaid({ alert: failureMessage(error) }); // RATE_LIMITED says when to try again
    }
  }

  return (
    <span className="resend">
      <button type="button" disabled={loading} onClick={send}>
        Send the link again
      </button>{" "}
      {said?.status && <span role="status">{said.status}</span>}
      {said?.alert && <span role="alert">{said.alert}</span>}
    </span>
  );
}

/** Shown on every page while your address is not verified (patients cannot book until it is). */
export function UnverifiedBanner() {
  const { data } = useQuery(MY_EMAIL, { fetchPolicy: "cache-and-network" });
  if (data?.me.emailVerified !== false) return null;
  return (
    <aside className="banner unverified" aria-label="Email not verified">
      <p>
        Your email address <strong>{data.me.email}</strong> is not verified yet: open the link we
        emailed you.
      </p>
      <ResendVerification />
    </aside>
  );
}
