// `#/users`: every account, searched and filtered, paged; `#/users/new` creates one and
// `#/users/<id>` manages one (role, active). Administrators only.
import { useState } from "react";
import { Avatar, PageHeader, QueryState } from "../ui.jsx";
import { CreateUser } from "./CreateUser.jsx";
import { booleanFilter, optionsOf } from "./labels.js";
import { ADMIN_USERS } from "./operations.js";
import { LoadMore, useDebounced, usePagedQuery } from "./paging.jsx";
import { ActiveLabel, RoleLabel, SelectFilter } from "./parts.jsx";
import { UserAccount } from "./UserAccount.jsx";

const ROLE_OPTIONS = optionsOf({ PATIENT: "Patients", DOCTOR: "Doctors", ADMIN: "Administrators" }, "All roles");
const STATUS_OPTIONS = [
  ["", "Any status"],
  ["true", "Active"],
  ["false", "Inactive"],
];

/** The Users screens, by route: the list, the new-account form, or one account. */
export function AdminUsers({ id, user }) {
  if (id === "new") return <CreateUser />;
  if (id) return <UserAccount key={id} id={id} viewer={user} />;
  return <UserList />;
}

function UserList() {
  const [search, setSearch] = useState("");
  const [role, setRole] = useState("");
  const [active, setActive] = useState("");
  const searchTerm = useDebounced(search.trim());
  const paged = usePagedQuery(ADMIN_USERS, "users", {
    search: searchTerm || null,
    role: role || null,
    active: booleanFilter(active),
  });
  const filtered = Boolean(searchTerm || role || active);

  function clearFilters() {
    setSearch("");
    setRole("");
    setActive("");
  }

  return (
    <section>
      <PageHeader title="Users">
        <a className="btn primary" href="#/users/new">
          New account
        </a>
      </PageHeader>
      <form className="card form-row filters" role="search" aria-label="Users" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder="Name or email"
            maxLength={100}
          />
        </label>
        <SelectFilter label="Role" value={role} onChange={setRole} options={ROLE_OPTIONS} />
        <SelectFilter label="Status" value={active} onChange={setActive} options={STATUS_OPTIONS} />
      </form>
      <QueryState
        result={paged.result}
        loading="Loading accounts"
        isEmpty={(data) => data.users.nodes.length === 0}
        empty={
          filtered ? (
            <>
              <p>No account matches these filters.</p>
              <button type="button" onClick={clearFilters}>
                Clear filters
              </button>
            </>
          ) : (
            <p>No accounts yet.</p>
          )
        }
      >
        {(data) => (
          <>
            <ul
              className={paged.refreshing ? "rows users refreshing" : "rows users"}
              aria-label="Accounts"
              aria-busy={paged.refreshing}
            >
              {data.users.nodes.map((account) => (
                <UserRow key={account.id} account={account} />
              ))}
            </ul>
            <LoadMore paged={paged} what="accounts" />
          </>
        )}
      </QueryState>
    </section>
  );
}

function UserRow({ account }) {
  return (
    <li>
      <Avatar user={account} />
      <div className="grow">
        <a href={`#/users/${account.id}`} className="user-name">
          {account.fullName}
        </a>
        <div className="hint email">
          {account.email}
          {account.emailVerified === false && " · not confirmed yet"}
        </div>
      </div>
      <RoleLabel user={account} />
      <ActiveLabel active={account.isActive} />
    </li>
  );
}
