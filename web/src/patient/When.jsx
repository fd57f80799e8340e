// A moment in the viewer's time zone, and in the doctor's too when their clock differs.
import { useQuery } from "@apollo/client/react";
import { DOCTOR_TIME_ZONE } from "./operations.js";
import { bothZones } from "./time.js";

/** "Tue 8 Dec 09:30", or "Tue 8 Dec 01:30 your time (Tue 8 Dec 09:30 in Europe/London)". */
export function When({ iso, doctorId }) {
  const zone = useQuery(DOCTOR_TIME_ZONE, { variables: { doctorId }, skip: !doctorId });
  return <time dateTime={iso}>{bothZones(iso, zone.data?.doctorSchedule?.timeZone)}</time>;
}
