// Which emails you get: in Settings (signed in) or from the link in every email (a token).
import { useMutation, useQuery } from "@apollo/client/react";
import { useId, useState } from "react";
import { failureMessage } from "./forms.jsx";
import { EMAIL_PREFERENCES, UPDATE_EMAIL_PREFERENCES } from "./operations.js";

// The topics as schema.graphql describes them.
const KINDS = [
  ["appointmentChanges", "Appointment changes", "a visit booked, moved or cancelled, with a calendar invite"],
  ["reminders", "Reminders", "before each visit (by default a day and an hour before)"],
  ["chatMessages", "Chat messages", "a message you have not read in the app some minutes after it came"],
  [
    "consultationUpdates",
    "Visit notes",
    "your visit notes written, changed or signed, if not seen in the app",
  ],
];

const choicesOf = (preferences) => Object.fromEntries(KINDS.map(([name]) => [name, preferences[name]]));

/**
 * Which emails to get. Signed in: yours. With `token` (from the link in every email):
 * that account's, signed in or out.
 */
export function EmailPreferencesForm({ token }) {
  const headingId = useId();
  const { data, loading, error } = useQuery(EMAIL_PREFERENCES, {
    variables: { token },
    fetchPolicy: "network-only",
  });
  const [update, { loading: saving }] = useMutation(UPDATE_EMAIL_PREFERENCES);
  const [choices, setChoices] = useState(null);
  const [said, setSaid] = useState(null);

  const loaded = data?.emailPreferences;
  let body;
  if (loading && !loaded) body = <p className="hint" role="status">Loading…</p>;
  else if (error) body = <p role="alert" className="notice error">{failureMessage(error)}</p>;
  else if (loaded.__typename !== "EmailPreferences") {
    body = (
      <>
        <p role="alert" className="notice error">
          {loaded.message}
        </p>
        <p>
          Choose your emails in <a href="#/settings">Settings</a> (signed in).
        </p>
      </>
    );
  } else {
    const shown = choices ?? choicesOf(loaded);
    const save = async (event) => {
      event.preventDefault();
      setSaid(null);
      try {
        const { data: saved } = await update({ variables: { input: shown, token } });
        const result = saved.updateEmailPreferences;
        if (result.__typename === "EmailPreferences") {
          setChoices(choicesOf(result));
          setSaid({ status: "Saved." });
        } else setSaid({ alert: result.message });
      } catch (failure) {
        setSaid({ alert: failureMessage(failure) });
      }
    };
    body = (
      <form onSubmit={save}>
        <fieldset className="choices">
          <legend>Email me about</legend>
          {KINDS.map(([name, label, explanation]) => (
            <label key={name} className="checkbox">
              <input
                type="checkbox"
                checked={shown[name]}
                onChange={(e) => {
                  setSaid(null);
                  setChoices({ ...shown, [name]: e.target.checked });
                }}
              />
              <span>
                <strong>{label}</strong>: {explanation}
              </span>
            </label>
          ))}
        </fieldset>
        <p className="hint">
          Emails about your account itself (password resets, address checks) always come.
        </p>
        <div className="actions">
          <button type="submit" className="primary" disabled={saving}>
            Save
          </button>
          {said?.status && (
            <span role="status" className="saved">
              {said.status}
            </span>
          )}
          {said?.alert && <span role="alert">{said.alert}</span>}
        </div>
      </form>
    );
  }
  return (
    <section className="card email-preferences" aria-labelledby={headingId}>
      <h2 id={headingId}>Email preferences</h2>
      {body}
    </section>
  );
}
