// Pick an account by typing part of a name or email (the audit trail's actor and patient
// filters): up to six matches as buttons; the one picked shows with a way to clear it.
import { useQuery } from "@apollo/client/react";
import { useId, useState } from "react";
import { ROLE_NAMES } from "./labels.js";
import { ADMIN_USER, USER_CHOICES } from "./operations.js";
import { useDebounced } from "./paging.jsx";

/** `value`: the picked account's id or null; `onChange(id)`. `role` narrows the choices. */
export function UserPicker({ label, value, onChange, role = null }) {
  const [search, setSearch] = useState("");
  const term = useDebounced(search.trim());
  const listId = useId();
  const choices = useQuery(USER_CHOICES, { variables: { search: term, role }, skip: !term || Boolean(value) });

  if (value) return <Picked label={label} id={value} onClear={() => onChange(null)} />;

  function pick(id) {
    onChange(id);
    setSearch("");
  }

  const found = choices.data?.users.nodes ?? [];
  return (
    <div className="picker">
      <label>
        {label}
        <input
          type="search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          placeholder="Anyone: type a name or email"
          aria-controls={listId}
          maxLength={100}
        />
      </label>
      <div id={listId} aria-live="polite">
        {term && choices.error && <p role="alert">{choices.error.message}</p>}
        {term && choices.data && found.length === 0 && <p className="hint">No account matches “{term}”.</p>}
        {found.length > 0 && (
          <ul className="choices" aria-label={`Matching accounts for ${label}`}>
            {found.map((user) => (
              <li key={user.id}>
                <button type="button" onClick={() => pick(user.id)}>
                  {user.fullName}
                  <small>
                    {user.email} · {ROLE_NAMES[user.role]}
                  </small>
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}

/** The picked account, by name once known (a link from a user's page gives only the id). */
function Picked({ label, id, onClear }) {
  const { data, error } = useQuery(ADMIN_USER, { variables: { id }, fetchPolicy: "cache-first" });
  const name = data?.user ? data.user.fullName : error || data ? "an unknown account" : "…";
  return (
    <div className="picker picked">
      <span className="picker-label">{label}</span>
      <span className="picked-name">
        <strong>{name}</strong>
        <button type="button" onClick={onClear} aria-label={`Clear ${label.toLowerCase()}: ${name}`}>
          Clear
        </button>
      </span>
    </div>
  );
}
