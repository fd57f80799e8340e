import { useQuery } from "@apollo/client/react";
import { useMemo, useRef } from "react";
import { when } from "./format.js";
import { useResumable } from "./hooks.js";
import { latestChange } from "./live.js";
import { APPOINTMENT_CHANGED, APPOINTMENTS } from "./operations.js";

/** A patient's appointments, or a doctor's agenda: live, without reloading. */
export function Appointments({ user, navigate }) {
  const from = useMemo(() => new Date(Date.now() - 30 * 86_400_000).toISOString(), []);
  const { data, refetch } = useQuery(APPOINTMENTS, {
    variables: { from },
    fetchPolicy: "cache-and-network",
  });
  const rows = data?.appointments.nodes ?? [];
  const known = useRef(new Set());
  known.current = new Set(rows.map((a) => a.id));

  // Changes to listed appointments update the cache (and so this list) by themselves;
  // a new one needs the list again. Resumes from the newest `updatedAt` seen.
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

  const isDoctor = user.role === "DOCTOR";
  return (
    <section>
      <h1>{isDoctor ? "Agenda" : "My appointments"}</h1>
      {data && rows.length === 0 && <p>Nothing booked.</p>}
      <table aria-label={isDoctor ? "Agenda" : "Appointments"}>
        <thead>
          <tr>
            <th>When</th>
            <th>{isDoctor ? "Patient" : "Doctor"}</th>
            <th>Reason</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((a) => (
            <tr
              key={a.id}
              onClick={() => navigate(`appointments/${a.id}`)}
              className={a.status.toLowerCase()}
            >
              <td>
                <a href={`#/appointments/${a.id}`}>{when(a.startsAt)}</a>
              </td>
              <td>{isDoctor ? a.patient.fullName : a.doctor.fullName}</td>
              <td>{a.reason}</td>
              <td>{a.status.toLowerCase().replace("_", " ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
