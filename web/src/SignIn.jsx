import { useState } from "react";
import { signIn } from "./session.js";

const DEMO = ["alice@demo.clinic", "bob@demo.clinic", "dr.house@demo.clinic", "dr.grey@demo.clinic"];

export function SignIn() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    try {
      setError(await signIn(email, password));
    } catch {
      setError("The server cannot be reached. Try again in a moment.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <h1>Sign in</h1>
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
        {error && <p role="alert">{error}</p>}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p className="hint">
        Demo accounts (development only), password <code>demo-password-1</code>: {DEMO.join(", ")}.
      </p>
    </main>
  );
}
