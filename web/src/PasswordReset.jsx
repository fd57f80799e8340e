import { useMutation } from "@apollo/client/react";
import { useState } from "react";
import { Field, failureMessage, problemsOf } from "./forms.jsx";
import { REQUEST_PASSWORD_RESET, RESET_PASSWORD } from "./operations.js";
import { signOutLocally } from "./session.js";
import { SignInForm } from "./SignIn.jsx";

/** "Forgot password?": a link by email. The answer is the same whether the address has an account. */
export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [problems, setProblems] = useState({});
  const [sent, setSent] = useState(null);
  const [request, { loading }] = useMutation(REQUEST_PASSWORD_RESET);

  async function submit(event) {
    event.preventDefault();
    setProblems({});
    try {
      const { data } = await request({ variables: { email } });
      const result = data.requestPasswordReset;
      if (result.__typename === "EmailSent") setSent(result.message);
      else setProblems(problemsOf(result, ["email"]));
    } catch (error) {
      setProblems({ "": failureMessage(error) }); // RATE_LIMITED says when to try again
    }
  }

  return (
    <section>
      <h1>Forgot password?</h1>
      {sent ? (
        <p role="status" className="notice ok">{sent}</p>
      ) : (
        <form onSubmit={submit}>
          <p>We will email you a link to choose a new password.</p>
          <Field
            label="Email"
            type="email"
            autoComplete="username"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            error={problems.email}
            required
          />
          {problems[""] && <p role="alert" className="notice error">{problems[""]}</p>}
          <button type="submit" className="primary" disabled={loading}>
            Email me a link
          </button>
        </form>
      )}
      <p>
        <a href="#/">Back to sign in</a>
      </p>
    </section>
  );
}

/**
 * `#/reset-password/<token>`: a new password, twice. It ends every session, this tab's too,
 * so on success the sign-in form follows. `onSignedIn` leaves this page.
 */
export function ResetPassword({ token, onSignedIn }) {
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [problems, setProblems] = useState({});
  const [expired, setExpired] = useState(null);
  const [done, setDone] = useState(null);
  const [reset, { loading }] = useMutation(RESET_PASSWORD);

  async function submit(event) {
    event.preventDefault();
    if (password !== repeat) {
      setProblems({ repeat: "The two passwords differ." });
      return;
    }
    setProblems({});
    try {
      const { data } = await reset({ variables: { token, newPassword: password } });
      const result = data.resetPassword;
      if (result.__typename === "PasswordReset") {
        signOutLocally(); // the API has ended this tab's session too
        setDone(result.message);
      } else if (result.__typename === "InvalidEmailToken") setExpired(result.message);
      else setProblems(problemsOf(result, ["newPassword"]));
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  if (done) {
    return (
      <section>
        <h1>Password changed</h1>
        <p role="status" className="notice ok">{done}</p>
        <h2>Sign in with your new password</h2>
        <SignInForm onSignedIn={onSignedIn} />
      </section>
    );
  }
  if (expired) {
    return (
      <section>
        <h1>Choose a new password</h1>
        <p role="alert" className="notice error">{expired}</p>
        <p>
          <a href="#/forgot-password">Ask for a new link</a>
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>Choose a new password</h1>
      <form onSubmit={submit}>
        <Field
          label="New password (at least 10 characters)"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={problems.newPassword}
          required
        />
        <Field
          label="Repeat new password"
          type="password"
          autoComplete="new-password"
          value={repeat}
          onChange={(e) => setRepeat(e.target.value)}
          error={problems.repeat}
          required
        />
        {problems[""] && <p role="alert" className="notice error">{problems[""]}</p>}
        <button type="submit" className="primary" disabled={loading}>
          Change password
        </button>
      </form>
      <p>Every device signed in to your account will be signed out.</p>
    </section>
  );
}
