// `#/audit`: who read or changed health data, and who was refused, newest first; filtered
// by action, entity, actor, patient, outcome and time. `#/audit/actor/<id>` and
// `#/audit/patient/<id>` open it filtered (links from a user's page). Administrators only.
import { useId, useState } from "react";
import { when } from "../format.js";
import { PageHeader, QueryState } from "../ui.jsx";
import { ACTION_NAMES, ENTITY_NAMES, ROLE_NAMES, booleanFilter, optionsOf } from "./labels.js";
import { AUDIT_EVENTS } from "./operations.js";
import { LoadMore, usePagedQuery } from "./paging.jsx";
import { SelectFilter } from "./parts.jsx";
import { UserPicker } from "./UserPicker.jsx";

const ACTION_OPTIONS = optionsOf(ACTION_NAMES, "Any action");
const ENTITY_OPTIONS = optionsOf(ENTITY_NAMES, "Any entity");
const OUTCOME_OPTIONS = [
  ["", "Allowed and denied"],
  ["true", "Allowed"],
  ["false", "Denied"],
];

/** `token`: "actor/<id>" or "patient/<id>" from the route, a filter to start with. */
export function AuditTrail({ token = "" }) {
  const [kind, startId] = token.split("/");
  const [action, setAction] = useState("");
  const [entity, setEntity] = useState("");
  const [outcome, setOutcome] = useState("");
  const [actorId, setActorId] = useState(kind === "actor" ? startId : null);
  const [patientId, setPatientId] = useState(kind === "patient" ? startId : null);
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const paged = usePagedQuery(AUDIT_EVENTS, "auditEvents", {
    action: action || null,
    entity: entity || null,
    allowed: booleanFilter(outcome),
    actorId,
    patientId,
    since: instant(since),
    until: instant(until),
  });
  const filterCount = [action, entity, outcome, actorId, patientId, since, until].filter(Boolean).length;
  const filtered = filterCount > 0;
  const [filtersShown, setFiltersShown] = useState(false); // on a phone; always shown wider
  const filtersId = useId();

  function clearFilters() {
    setAction("");
    setEntity("");
    setOutcome("");
    setActorId(null);
    setPatientId(null);
    setSince("");
    setUntil("");
  }

  return (
    <section>
      <PageHeader title="Audit trail">
        <button
          type="button"
          className="filters-toggle"
          aria-expanded={filtersShown}
          aria-controls={filtersId}
          onClick={() => setFiltersShown(!filtersShown)}
        >
          Filters{filtered ? ` (${filterCount})` : ""}
        </button>
      </PageHeader>
      <p className="hint">
        Every read or change of health data, and every refused attempt, newest first. Times are in your time zone (
        {timeZone()}).
      </p>
      <form
        id={filtersId}
        className={filtersShown ? "card filters collapsible open" : "card filters collapsible"}
        aria-label="Audit trail filters"
        onSubmit={(e) => e.preventDefault()}
      >
        <div className="form-row">
          <SelectFilter label="Action" value={action} onChange={setAction} options={ACTION_OPTIONS} />
          <SelectFilter label="Entity" value={entity} onChange={setEntity} options={ENTITY_OPTIONS} />
          <SelectFilter label="Outcome" value={outcome} onChange={setOutcome} options={OUTCOME_OPTIONS} />
        </div>
        <div className="form-row">
          <UserPicker label="Actor" value={actorId} onChange={setActorId} />
          <UserPicker label="Patient" value={patientId} onChange={setPatientId} role="PATIENT" />
        </div>
        <div className="form-row">
          <label>
            From
            <input type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
          </label>
          <label>
            Until
            <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
          </label>
        </div>
        {filtered && (
          <div className="actions">
            <button type="button" onClick={clearFilters}>
              Clear filters
            </button>
          </div>
        )}
      </form>
      <QueryState
        result={paged.result}
        loading="Loading the audit trail"
        isEmpty={(data) => data.auditEvents.nodes.length === 0}
        empty={<p>{filtered ? "No event matches these filters." : "Nothing has been recorded yet."}</p>}
      >
        {(data) => (
          <>
            <ul
              className={paged.refreshing ? "rows audit refreshing" : "rows audit"}
              aria-label="Audit events"
              aria-busy={paged.refreshing}
            >
              {data.auditEvents.nodes.map((event) => (
                <AuditRow key={event.id} event={event} />
              ))}
            </ul>
            <LoadMore paged={paged} what="events" />
          </>
        )}
      </QueryState>
    </section>
  );
}

function AuditRow({ event }) {
  return (
    <li>
      <div className="grow">
        <div className="audit-head">
          <strong className="what">
            {ACTION_NAMES[event.action]} · {ENTITY_NAMES[event.entity]}
          </strong>
          <span className={event.allowed ? "status allowed" : "status denied"}>
            {event.allowed ? "Allowed" : "Denied"}
          </span>
        </div>
        <div>
          <time dateTime={event.createdAt}>{when(event.createdAt)}</time> · by <Actor event={event} />
          <Patient event={event} />
        </div>
        {(event.fields.length > 0 || event.clientAddress) && (
          <div className="hint">
            {event.fields.length > 0 && <>Fields: {event.fields.join(", ")}</>}
            {event.fields.length > 0 && event.clientAddress && " · "}
            {event.clientAddress && <>from {event.clientAddress}</>}
          </div>
        )}
      </div>
    </li>
  );
}

function Actor({ event }) {
  if (!event.actorId) return <span className="actor">nobody signed in</span>;
  const role = ROLE_NAMES[event.actorRole];
  return (
    <span className="actor">
      <a href={`#/users/${event.actorId}`}>{event.actorName ?? "an account"}</a>
      {role && ` (${role.toLowerCase()})`}
    </span>
  );
}

/** Whose record it was: a link to the patient's account (by id: looking their name up
 * would itself be a read of their profile, on this very trail). */
function Patient({ event }) {
  if (!event.patientId) return null;
  if (event.patientId === event.actorId) return <> · their own record</>;
  return (
    <>
      {" "}
      · record of{" "}
      <a href={`#/users/${event.patientId}`} className="patient">
        patient {event.patientId.slice(0, 8)}
      </a>
    </>
  );
}

/** A datetime-local value (the viewer's local time) as an instant, or null when blank. */
function instant(local) {
  if (!local) return null;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
