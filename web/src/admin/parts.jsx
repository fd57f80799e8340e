// Small pieces the admin screens share: an account's role and active labels, a filter <select>.
import { ROLE_NAMES } from "./labels.js";

export function RoleLabel({ user }) {
  return (
    <span className={`status role ${user.role.toLowerCase()}`}>
      {ROLE_NAMES[user.role]}
      {user.specialty ? ` · ${user.specialty}` : ""}
    </span>
  );
}

export function ActiveLabel({ active }) {
  return <span className={active ? "status active" : "status inactive"}>{active ? "Active" : "Inactive"}</span>;
}

/** A labelled <select> of [value, name] options. */
export function SelectFilter({ label, value, onChange, options }) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map(([optionValue, name]) => (
          <option key={optionValue} value={optionValue}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}
