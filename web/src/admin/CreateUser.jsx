// `#/users/new`: an administrator creates a doctor's or an administrator's account
// (patients sign up themselves). The new user gets an email to confirm their address.
import { useMutation } from "@apollo/client/react";
import { useEffect, useId, useRef, useState } from "react";
import { Field, failureMessage, problemsOf } from "../forms.jsx";
import { Card, PageHeader } from "../ui.jsx";
import { ROLE_NAMES } from "./labels.js";
import { CREATE_USER } from "./operations.js";

const FIELDS = ["role", "firstName", "lastName", "email", "password", "specialty", "phoneNumber", "bio"];
const BLANK = { ...Object.fromEntries(FIELDS.map((name) => [name, ""])), role: "DOCTOR" };

export function CreateUser() {
  const [form, setForm] = useState(BLANK);
  const [problems, setProblems] = useState({});
  const [created, setCreated] = useState(null);
  const [createUser, { loading }] = useMutation(CREATE_USER, { refetchQueries: ["AdminUsers"] });
  const isDoctor = form.role === "DOCTOR";

  const set = (name) => (event) => setForm({ ...form, [name]: event.target.value });
  /** An input's value, change handler and error. */
  const field = (name) => ({ value: form[name], onChange: set(name), error: problems[name] });

  async function submit(event) {
    event.preventDefault();
    setProblems({});
    setCreated(null);
    const input = {
      ...form,
      specialty: isDoctor ? form.specialty : null,
      phoneNumber: form.phoneNumber.trim() || null,
    };
    try {
      const { data } = await createUser({ variables: { input } });
      const result = data.createUser;
      if (result.__typename === "UserPayload") {
        setCreated(result.user);
        setForm({ ...BLANK, role: form.role });
      } else {
        setProblems(problemsOf(result, FIELDS));
      }
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  return (
    <section>
      <PageHeader title="New account">
        <a className="btn" href="#/users">
          Back to users
        </a>
      </PageHeader>
      {created && <Created user={created} />}
      <Card title="Account details">
        <form onSubmit={submit} noValidate>
          <fieldset className="choice">
            <legend>Role</legend>
            {["DOCTOR", "ADMIN"].map((role) => (
              <label key={role} className="checkbox">
                <input
                  type="radio"
                  name="role"
                  value={role}
                  checked={form.role === role}
                  onChange={set("role")}
                />
                {ROLE_NAMES[role]}
              </label>
            ))}
            {problems.role && (
              <span role="alert" className="field-error">
                {problems.role}
              </span>
            )}
          </fieldset>
          <div className="form-row">
            <Field label="First name" {...field("firstName")} autoComplete="off" required />
            <Field label="Last name" {...field("lastName")} autoComplete="off" required />
          </div>
          <Field label="Email" type="email" {...field("email")} autoComplete="off" required />
          <Field
            label="Initial password (at least 10 characters)"
            type="password"
            {...field("password")}
            autoComplete="new-password"
            required
          />
          {isDoctor && <Field label="Specialty" {...field("specialty")} required />}
          <Field
            label="Phone number (optional)"
            type="tel"
            {...field("phoneNumber")}
            placeholder="+14155550123"
          />
          {isDoctor && <Bio {...field("bio")} />}
          {problems[""] && <p role="alert">{problems[""]}</p>}
          <div className="actions">
            <button type="submit" className="primary" disabled={loading}>
              {loading ? "Creating…" : `Create ${ROLE_NAMES[form.role].toLowerCase()} account`}
            </button>
          </div>
        </form>
      </Card>
    </section>
  );
}

/** What was made, and (while the address is not confirmed) that its owner got a link. */
function Created({ user }) {
  const notice = useRef(null);
  useEffect(() => {
    notice.current?.scrollIntoView({ block: "nearest" }); // (newer browsers return a promise: not a cleanup)
  }, [user]);
  return (
    <div className="notice ok" role="status" ref={notice}>
      Created <a href={`#/users/${user.id}`}>{user.fullName}</a> ({ROLE_NAMES[user.role].toLowerCase()}).
      {user.emailVerified === false && ` We sent ${user.email} a link to confirm the address.`}
    </div>
  );
}

function Bio({ value, onChange, error }) {
  const errorId = useId();
  return (
    <label>
      About (optional, shown to patients)
      <textarea
        value={value}
        onChange={onChange}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? errorId : undefined}
      />
      {error && (
        <span role="alert" id={errorId} className="field-error">
          {error}
        </span>
      )}
    </label>
  );
}
