import { useState } from "react";
import { signIn } from "./session.js";

const DEMO = ["alice@demo.clinic", "bob@demo.clinic", "dr.house@demo.clinic", "dr.grey@demo.clinic"];

/** The sign-in page: the form, and the way to an account or a new password. */
export function SignIn() {
  return (
    <section>
      <h1>Sign in</h1>
      <SignInForm />
      <p className="signed-out-links">
        <a href="#/forgot-password">Forgot password?</a> · <a href="#/sign-up">Create account</a>
      </p>
      <p className="hint">
        Demo accounts (development only), password <code>demo-password-1</code>: {DEMO.join(", ")}.
      </p>
    </section>
  );
}

/** Email and password; `onSignedIn` runs once the session is stored. */
export function SignInForm({ email: initialEmail = "", onSignedIn }) {
  const [email, setEmail] = useState(initialEmail);
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    try {
      const problem = await signIn(email, password);
      setError(problem);
      if (!problem) onSignedIn?.();
    } catch {
      setError("The server cannot be reached. Try again in a moment.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit}>
      <label>
        Email
        <input
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          required
          autoComplete="username"
        />
      </label>
      <label>
        Password
        <input
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          autoComplete="current-password"
        />
      </label>
      {error && <p role="alert" className="notice error">{error}</p>}
      <button type="submit" className="primary" disabled={busy}>
        Sign in
      </button>
    </form>
  );
}
