import { useMutation } from "@apollo/client/react";
import { useState } from "react";
import { Field, failureMessage, problemsOf } from "./forms.jsx";
import { REGISTER } from "./operations.js";

const FIELDS = ["firstName", "lastName", "email", "password"];

/** A patient account. The answer is the same for an address that has one: check your email. */
export function SignUp() {
  const [input, setInput] = useState({ firstName: "", lastName: "", email: "", password: "" });
  const [repeat, setRepeat] = useState("");
  const [problems, setProblems] = useState({});
  const [done, setDone] = useState(null);
  const [register, { loading }] = useMutation(REGISTER);
  const bind = (name) => ({
    value: input[name],
    onChange: (e) => setInput({ ...input, [name]: e.target.value }),
    error: problems[name],
    required: true,
  });

  async function submit(event) {
    event.preventDefault();
    if (input.password !== repeat) {
      setProblems({ repeat: "The two passwords differ." });
      return;
    }
    setProblems({});
    try {
      const { data } = await register({ variables: { input } });
      const result = data.register;
      if (result.__typename === "SignUpReceived") setDone(result.message);
      else setProblems(problemsOf(result, FIELDS));
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  if (done) {
    return (
      <section>
        <h1>Check your email</h1>
        <p role="status" className="notice ok">{done}</p>
        <p>
          <a href="#/">Sign in</a>
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>Create account</h1>
      <form onSubmit={submit}>
        <Field label="First name" autoComplete="given-name" {...bind("firstName")} />
        <Field label="Last name" autoComplete="family-name" {...bind("lastName")} />
        <Field label="Email" type="email" autoComplete="email" {...bind("email")} />
        <Field
          label="Password (at least 10 characters)"
          type="password"
          autoComplete="new-password"
          {...bind("password")}
        />
        <Field
          label="Repeat password"
          type="password"
          autoComplete="new-password"
          value={repeat}
          onChange={(e) => setRepeat(e.target.value)}
          error={problems.repeat}
          required
        />
        {problems[""] && <p role="alert" className="notice error">{problems[""]}</p>}
        <button type="submit" className="primary" disabled={loading}>
          Create account
        </button>
      </form>
      <p>
        Have an account? <a href="#/">Sign in</a>
      </p>
    </section>
  );
}
