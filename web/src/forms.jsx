// What the account and email forms share: inputs that show their own error, and the
// messages of a result union or of a request that failed.
import { CombinedGraphQLErrors } from "@apollo/client";
import { useId } from "react";

/** An input with its label, and its error (if any) read out with it. */
export function Field({ label, error, ...input }) {
  const errorId = useId();
  return (
    <label>
      {label}
      <input
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? errorId : undefined}
        {...input}
      />
      {error && (
        <span role="alert" id={errorId} className="field-error">
          {error}
        </span>
      )}
    </label>
  );
}

/**
 * A result union's problem, by field: ValidationFailed's fieldErrors under their fields,
 * anything else (or a field the form does not show) under `""`, the form as a whole.
 */
export function problemsOf(result, fields = []) {
  const problems = {};
  for (const { field, message } of result.fieldErrors ?? []) {
    const key = fields.includes(field) ? field : "";
    problems[key] = problems[key] ? `${problems[key]} ${message}` : message;
  }
  if (Object.keys(problems).length === 0) problems[""] = result.message;
  return problems;
}

/** A request that failed: a top-level error (RATE_LIMITED says when to try again), or no answer. */
export function failureMessage(error) {
  if (CombinedGraphQLErrors.is(error) && error.errors[0]?.message) return error.errors[0].message;
  return "The server cannot be reached. Try again in a moment.";
}
