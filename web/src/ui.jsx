// The app's building blocks (styled in styles.css): a page's header, a card, and the three
// states every screen that loads data has: loading, failed, empty.
import { failureMessage } from "./forms.jsx";

/** A screen's title (the page's one h1) and, on the right, its actions. */
export function PageHeader({ title, children }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      {children && <div className="actions">{children}</div>}
    </div>
  );
}

/** A titled panel. `title` is an h2, so a screen's sections are navigable by heading. */
export function Card({ title, children, className = "", ...props }) {
  return (
    <section className={`card ${className}`} {...props}>
      {title && <h2>{title}</h2>}
      {children}
    </section>
  );
}

/** Announced to screen readers while a query is in flight with nothing to show yet. */
export function Loading({ what = "Loading" }) {
  return (
    <p className="state" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

/** A query that failed (no answer, or a top-level error): what happened, and a retry. */
export function ErrorState({ error, retry }) {
  return (
    <div className="state error" role="alert">
      <p>{failureMessage(error)}</p>
      {retry && (
        <button type="button" onClick={() => retry()}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Nothing to list: say so, and (optionally) what to do about it. */
export function EmptyState({ children }) {
  return <div className="state">{children}</div>;
}

/**
 * The three states of a query's data in one place:
 * `<QueryState result={useQuery(...)} empty={...}>{(data) => ...}</QueryState>`.
 * `isEmpty(data)` says when to show `empty` instead of the children.
 */
export function QueryState({ result, loading = "Loading", empty = null, isEmpty = () => false, children }) {
  const { data, error, refetch } = result;
  if (error && !data) return <ErrorState error={error} retry={refetch} />;
  if (!data) return <Loading what={loading} />;
  if (empty && isEmpty(data)) return <EmptyState>{empty}</EmptyState>;
  return children(data);
}

/** An appointment's status as a coloured label ("no show", "completed", ...). */
export function Status({ status }) {
  const name = status.toLowerCase().replace("_", "-");
  return <span className={`status ${name}`}>{name.replace("-", " ")}</span>;
}

/** A person's picture, or their initials in a circle. */
export function Avatar({ user, size = "" }) {
  if (user.profilePictureUrl) {
    return <img className={`avatar ${size}`} src={user.profilePictureUrl} alt="" />;
  }
  const initials = `${user.firstName?.[0] ?? ""}${user.lastName?.[0] ?? ""}` || "?";
  return (
    <span className={`avatar ${size}`} aria-hidden="true">
      {initials}
    </span>
  );
}
