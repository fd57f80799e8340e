// A patient's appointments, upcoming and past, live without reloading (doctors see their
// agenda instead: doctor/Agenda.jsx).
import { useQuery } from "@apollo/client/react";
import { useMemo, useRef } from "react";
import { useResumable } from "./hooks.js";
import { latestChange } from "./live.js";
import { APPOINTMENT_CHANGED } from "./operations.js";
import { MY_APPOINTMENTS } from "./patient/operations.js";
import { When } from "./patient/When.jsx";
import { Avatar, Card, EmptyState, PageHeader, QueryState, Status } from "./ui.jsx";

const YEAR_MS = 365 * 86_400_000;

export function Appointments() {
  return <MyAppointments />;
}

/**
 * The query, kept live: changes to listed appointments update the cache (and so the list)
 * by themselves; a new one needs the list again. Resumes from the newest `updatedAt` seen.
 */
function useLiveAppointments(query, from) {
  const result = useQuery(query, { variables: { from }, fetchPolicy: "cache-and-network" });
  const { data, refetch } = result;
  const rows = data?.appointments.nodes ?? [];
  const known = useRef(new Set());
  known.current = new Set(rows.map((a) => a.id));
  useResumable(
    APPOINTMENT_CHANGED,
    {
      skip: !data,
      cursor: rows.reduce(latestChange, null),
      variables: (changedSince) => ({ changedSince }),
      advance: (cursor, d) => latestChange(cursor, d.appointmentChanged),
      onData: (d) => {
        if (!known.current.has(d.appointmentChanged.id)) refetch();
      },
    },
    [Boolean(data)],
  );
  return result;
}

function MyAppointments() {
  const from = useMemo(() => new Date(Date.now() - YEAR_MS).toISOString(), []);
  const result = useLiveAppointments(MY_APPOINTMENTS, from);
  return (
    <section>
      <PageHeader title="My appointments">
        <a className="btn primary" href="#/book">
          Book an appointment
        </a>
      </PageHeader>
      <QueryState
        result={result}
        loading="Loading your appointments"
        empty={
          <p>
            Nothing booked yet. <a href="#/book">Find a doctor</a>.
          </p>
        }
        isEmpty={(data) => data.appointments.nodes.length === 0}
      >
        {(data) => <Split appointments={data.appointments.nodes} />}
      </QueryState>
    </section>
  );
}

/** Upcoming (scheduled, not over yet), soonest first; the rest, newest first. */
function Split({ appointments }) {
  const now = Date.now();
  const upcoming = appointments.filter((a) => a.status === "SCHEDULED" && Date.parse(a.endsAt) > now);
  const past = appointments.filter((a) => !upcoming.includes(a)).reverse();
  return (
    <>
      <Card title="Upcoming">
        {upcoming.length === 0 ? (
          <EmptyState>
            Nothing coming up. <a href="#/book">Book an appointment</a>.
          </EmptyState>
        ) : (
          <AppointmentRows label="Upcoming appointments" appointments={upcoming} />
        )}
      </Card>
      <Card title="Past and cancelled">
        {past.length === 0 ? (
          <EmptyState>No past appointments in the last year.</EmptyState>
        ) : (
          <AppointmentRows label="Past appointments" appointments={past} />
        )}
      </Card>
    </>
  );
}

function AppointmentRows({ label, appointments }) {
  return (
    <ul className="rows appointment-rows" aria-label={label}>
      {appointments.map((a) => (
        <li key={a.id}>
          <Avatar user={a.doctor} />
          <div className="grow">
            <a href={`#/appointments/${a.id}`}>
              <When iso={a.startsAt} doctorId={a.doctor.id} />
            </a>
            <div>
              {a.doctor.fullName} <span className="hint">· {a.doctor.specialty}</span>
            </div>
            {a.reason && <div className="hint reason">{a.reason}</div>}
          </div>
          <Status status={a.status} />
        </li>
      ))}
    </ul>
  );
}
