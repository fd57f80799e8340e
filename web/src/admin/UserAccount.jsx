// `#/users/<id>`: one account as an administrator sees it: its details, its role (changing
// it ends the user's sessions), and deactivating or reactivating it, each after a confirm.
import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useRef, useState } from "react";
import { Field, failureMessage, problemsOf } from "../forms.jsx";
import { when } from "../format.js";
import { Avatar, Card, PageHeader, QueryState } from "../ui.jsx";
import { ROLE_NAMES } from "./labels.js";
import { ADMIN_USER, CHANGE_USER_ROLE, SET_USER_ACTIVE } from "./operations.js";
import { ActiveLabel, RoleLabel } from "./parts.jsx";

export function UserAccount({ id, viewer }) {
  const result = useQuery(ADMIN_USER, { variables: { id }, fetchPolicy: "cache-and-network" });
  return (
    <QueryState
      result={result}
      loading="Loading the account"
      isEmpty={(data) => !data.user}
      empty={
        <>
          <p>There is no such account.</p>
          <a href="#/users">Back to users</a>
        </>
      }
    >
      {({ user }) => (
        <section>
          <PageHeader title={user.fullName}>
            <a className="btn" href="#/users">
              Back to users
            </a>
          </PageHeader>
          <Details user={user} />
          <ChangeRole user={user} />
          <ActiveSwitch user={user} isSelf={user.id === viewer.id} />
        </section>
      )}
    </QueryState>
  );
}

function Details({ user }) {
  return (
    <Card title="Account" className="account-details">
      <div className="account-summary">
        <Avatar user={user} size="large" />
        <div>
          <RoleLabel user={user} />{" "}
          <ActiveLabel active={user.isActive} />
        </div>
      </div>
      <dl>
        <dt>Email</dt>
        <dd>
          {user.email} ({user.emailVerified ? "confirmed" : "not confirmed yet"})
        </dd>
        <dt>Phone</dt>
        <dd>{user.phoneNumber ?? "—"}</dd>
        <dt>Created</dt>
        <dd>{when(user.createdAt)}</dd>
      </dl>
      <p className="actions">
        <a href={`#/audit/actor/${user.id}`}>What they did, in the audit trail</a>
        {user.role === "PATIENT" && <a href={`#/audit/patient/${user.id}`}>Access to their records</a>}
      </p>
    </Card>
  );
}

/** Role, and a specialty for doctors (the API requires one). */
function ChangeRole({ user }) {
  const [role, setRole] = useState(user.role);
  const [specialty, setSpecialty] = useState(user.specialty ?? "");
  const [problems, setProblems] = useState({});
  const [done, setDone] = useState(null);
  const [changeRole, { loading }] = useMutation(CHANGE_USER_ROLE, { refetchQueries: ["AdminUsers"] });
  const unchanged = role === user.role && (role !== "DOCTOR" || specialty === (user.specialty ?? ""));

  async function submit(event) {
    event.preventDefault();
    setProblems({});
    setDone(null);
    try {
      const { data } = await changeRole({
        variables: { userId: user.id, role, specialty: role === "DOCTOR" ? specialty : null },
      });
      const result = data.changeUserRole;
      if (result.__typename === "UserPayload") {
        const { fullName, role: newRole } = result.user;
        setDone(`${fullName} is now ${article(ROLE_NAMES[newRole])}. They were signed out everywhere.`);
      } else {
        setProblems(problemsOf(result, ["role", "specialty"]));
      }
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  return (
    <Card title="Role">
      {done && (
        <p className="notice ok" role="status">
          {done}
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <div className="form-row">
          <label>
            Role
            <select
              value={role}
              onChange={(e) => setRole(e.target.value)}
              aria-invalid={problems.role ? true : undefined}
            >
              {Object.entries(ROLE_NAMES).map(([value, name]) => (
                <option key={value} value={value}>
                  {name}
                </option>
              ))}
            </select>
            {problems.role && (
              <span role="alert" className="field-error">
                {problems.role}
              </span>
            )}
          </label>
          {role === "DOCTOR" && (
            <Field
              label="Specialty"
              value={specialty}
              onChange={(e) => setSpecialty(e.target.value)}
              error={problems.specialty}
              required
            />
          )}
        </div>
        {problems[""] && <p role="alert">{problems[""]}</p>}
        <p className="hint">Changing the role signs them out on every device.</p>
        <button type="submit" className="primary" disabled={loading || unchanged}>
          {loading ? "Changing…" : "Change role"}
        </button>
      </form>
    </Card>
  );
}

/** Deactivate (ends their sessions at once) or reactivate, after saying what it does. */
function ActiveSwitch({ user, isSelf }) {
  // While asking: the `active` the administrator is about to set (the account's own flag
  // flips in the cache as soon as the answer arrives, before the question is gone).
  const [asking, setAsking] = useState(null);
  const [problem, setProblem] = useState(null);
  const [done, setDone] = useState(null);
  const [setActive, { loading }] = useMutation(SET_USER_ACTIVE, { refetchQueries: ["AdminUsers"] });
  const cancelButton = useRef(null);
  const switchButton = useRef(null);
  const asked = useRef(false);
  const confirming = asking !== null;
  // Focus follows the step: to Cancel when asked (the safe choice), back to the button after.
  useEffect(() => {
    if (confirming) cancelButton.current?.focus();
    else if (asked.current) switchButton.current?.focus();
    asked.current = confirming;
  }, [confirming]);

  async function confirm() {
    setProblem(null);
    setDone(null);
    try {
      const { data } = await setActive({ variables: { userId: user.id, active: asking } });
      const result = data.setUserActive;
      if (result.__typename === "UserPayload") {
        setDone(
          result.user.isActive
            ? "The account is active again: they can sign in."
            : "The account is deactivated: they were signed out and cannot sign in.",
        );
      } else {
        setProblem(problemsOf(result)[""] ?? result.message);
      }
    } catch (error) {
      setProblem(failureMessage(error));
    }
    setAsking(null);
  }

  const activate = !user.isActive;
  return (
    <Card title={activate ? "Reactivate the account" : "Deactivate the account"}>
      {done && (
        <p className="notice ok" role="status">
          {done}
        </p>
      )}
      {problem && (
        <p className="notice error" role="alert">
          {problem}
        </p>
      )}
      {confirming ? (
        <div className="confirm">
          <p>
            {asking
              ? `Reactivate ${user.fullName}? They can sign in again.`
              : `Deactivate ${user.fullName}? They are signed out at once and cannot sign in until reactivated.`}
          </p>
          <div className="actions">
            <button type="button" className={asking ? "primary" : "danger"} onClick={confirm} disabled={loading}>
              {loading ? "Saving…" : asking ? "Yes, reactivate" : "Yes, deactivate"}
            </button>
            <button type="button" ref={cancelButton} onClick={() => setAsking(null)} disabled={loading}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <>
          <p className="hint">
            {activate
              ? "This account cannot sign in."
              : isSelf
                ? "This is your own account."
                : "A deactivated account cannot sign in; nothing is deleted."}
          </p>
          <button
            type="button"
            ref={switchButton}
            className={activate ? "primary" : "danger"}
            onClick={() => setAsking(activate)}
          >
            {activate ? "Reactivate account" : "Deactivate account"}
          </button>
        </>
      )}
    </Card>
  );
}

function article(noun) {
  return /^[AEIOU]/.test(noun) ? `an ${noun.toLowerCase()}` : `a ${noun.toLowerCase()}`;
}
