import { useMutation, useQuery } from "@apollo/client/react";
import { useState } from "react";
import { EmailPreferencesForm } from "./EmailPreferences.jsx";
import { Field, failureMessage, problemsOf } from "./forms.jsx";
import { CHANGE_EMAIL, MY_EMAIL } from "./operations.js";
import { Card, PageHeader } from "./ui.jsx";

/** `#/settings`: your email address, changing it, and which emails you get. */
export function Settings() {
  const { data, error } = useQuery(MY_EMAIL, { fetchPolicy: "cache-and-network" });
  const me = data?.me;
  return (
    <section className="settings">
      <PageHeader title="Settings" />
      <Card title="Your account" className="account-card">
        {me ? (
          <p className="account-email">
            Your email address: <strong>{me.email}</strong> (
            {me.emailVerified ? "verified" : "not verified yet"})
          </p>
        ) : (
          <p className="hint">{error ? failureMessage(error) : "Loading…"}</p>
        )}
      </Card>
      <EmailPreferencesForm />
      <ChangeEmail />
    </section>
  );
}

/** A new address takes over only once the link sent to it is opened (#/verify-email/<token>). */
function ChangeEmail() {
  const [newEmail, setNewEmail] = useState("");
  const [currentPassword, setCurrentPassword] = useState("");
  const [problems, setProblems] = useState({});
  const [sent, setSent] = useState(null);
  const [change, { loading }] = useMutation(CHANGE_EMAIL);

  async function submit(event) {
    event.preventDefault();
    setProblems({});
    setSent(null);
    try {
      const { data } = await change({ variables: { newEmail, currentPassword } });
      const result = data.changeEmail;
      if (result.__typename === "EmailSent") {
        setSent(result.message);
        setCurrentPassword("");
      } else if (result.__typename === "InvalidCredentials") setProblems({ currentPassword: result.message });
      else setProblems(problemsOf(result, ["newEmail", "currentPassword"]));
    } catch (error) {
      setProblems({ "": failureMessage(error) }); // RATE_LIMITED: too many password attempts
    }
  }

  return (
    <section className="card" aria-labelledby="change-email">
      <h2 id="change-email">Change email address</h2>
      <p className="hint">Your address changes when you open the link we send to the new one.</p>
      <form onSubmit={submit}>
        <Field
          label="New email address"
          type="email"
          autoComplete="email"
          value={newEmail}
          onChange={(e) => setNewEmail(e.target.value)}
          error={problems.newEmail}
          required
        />
        <Field
          label="Current password"
          type="password"
          autoComplete="current-password"
          value={currentPassword}
          onChange={(e) => setCurrentPassword(e.target.value)}
          error={problems.currentPassword}
          required
        />
        {problems[""] && <p role="alert">{problems[""]}</p>}
        <div className="actions">
          <button type="submit" className="primary" disabled={loading}>
            Change email address
          </button>
        </div>
      </form>
      {sent && (
        <p role="status" className="notice ok">
          {sent}
        </p>
      )}
    </section>
  );
}
