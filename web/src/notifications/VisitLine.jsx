// Under a notification about a visit: when it is (your time, and the doctor's where that
// differs) and with whom, e.g. "Tue 8 Dec, 09:30 with Dr Gregory House".
import { useQuery } from "@apollo/client/react";
import { when } from "../format.js";
import { Status } from "../ui.jsx";
import { DOCTOR_TIME_ZONE, NOTIFIED_VISIT } from "./operations.js";

const VISIT_TIME = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };

/** "Tue 8 Dec, 09:30 in Europe/London" when the doctor's clock says otherwise than yours; else null. */
export function inTheirZone(iso, timeZone) {
  if (!timeZone) return null;
  const instant = new Date(iso);
  let theirs;
  try {
    theirs = instant.toLocaleString(undefined, { ...VISIT_TIME, timeZone });
  } catch {
    return null; // a zone this browser does not know
  }
  if (theirs === instant.toLocaleString(undefined, VISIT_TIME)) return null;
  return `${theirs} in ${timeZone}`;
}

function withWhom(visit, user) {
  if (user?.id === visit.patient.id) return `Dr ${visit.doctor.fullName}`;
  if (user?.id === visit.doctor.id) return visit.patient.fullName;
  return `${visit.patient.fullName} and Dr ${visit.doctor.fullName}`;
}

/** Nothing while it loads, or if the visit is one you may no longer see. */
export function VisitLine({ appointmentId, user }) {
  const { data } = useQuery(NOTIFIED_VISIT, { variables: { id: appointmentId }, fetchPolicy: "cache-first" });
  const visit = data?.appointment;
  const { data: schedule } = useQuery(DOCTOR_TIME_ZONE, {
    variables: { doctorId: visit?.doctor.id },
    skip: !visit,
    fetchPolicy: "cache-first",
  });
  if (!visit) return null;
  const theirs = inTheirZone(visit.startsAt, schedule?.doctorSchedule?.timeZone);
  return (
    <span className="visit-line">
      <span className="visit-when">
        {when(visit.startsAt)}
        {theirs && ` (${theirs})`} with {withWhom(visit, user)}
      </span>
      {visit.status !== "SCHEDULED" && <Status status={visit.status} />}
    </span>
  );
}
