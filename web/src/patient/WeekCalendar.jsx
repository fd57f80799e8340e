// A doctor's free slots, a week at a time: a column per day on a wide screen, a list
// grouped by day on a phone (styles.css, "patient"). Used to book and to reschedule.
import { useQuery } from "@apollo/client/react";
import { useEffect, useMemo, useState } from "react";
import { ErrorState, Loading } from "../ui.jsx";
import { DOCTOR_TIME_ZONE, WEEK_SLOTS } from "./operations.js";
import { addDays, clock, dayLabel, isoDate, slotLabel, viewerZone, zoneDiffers } from "./time.js";

const WEEKS_AHEAD = 12;

/**
 * `selected`: the chosen slot's startsAt; `onSelect(startsAt)`. `hidden`: slots known to
 * be gone (refused as taken) that the server may still offer for a moment; a change of
 * `reloadKey` reads the slots again.
 */
export function WeekCalendar({ doctor, selected, onSelect, hidden = new Set(), reloadKey = 0 }) {
  const [week, setWeek] = useState(0);
  const start = useMemo(() => addDays(new Date(), 7 * week), [week]);
  const days = useMemo(() => Array.from({ length: 7 }, (_, i) => addDays(start, i)), [start]);
  // The API takes the doctor's local dates: a day either side covers any time zone.
  const slots = useQuery(WEEK_SLOTS, {
    variables: { doctorId: doctor.id, fromDate: isoDate(addDays(start, -1)), toDate: isoDate(addDays(start, 7)) },
    fetchPolicy: "network-only",
    notifyOnNetworkStatusChange: true,
  });
  const zone = useQuery(DOCTOR_TIME_ZONE, { variables: { doctorId: doctor.id } });
  const doctorZone = zone.data?.doctorSchedule?.timeZone;
  const { refetch } = slots;
  useEffect(() => {
    if (reloadKey) refetch();
  }, [reloadKey, refetch]);

  const byDay = useMemo(() => {
    const groups = new Map(days.map((d) => [isoDate(d), []]));
    for (const slot of slots.data?.availableSlots ?? []) {
      if (hidden.has(slot.startsAt)) continue;
      groups.get(isoDate(new Date(slot.startsAt)))?.push(slot);
    }
    return groups;
  }, [slots.data, days, hidden]);
  const count = [...byDay.values()].reduce((sum, list) => sum + list.length, 0);
  const rangeLabel = `${dayLabel(days[0].toISOString())} – ${dayLabel(days[6].toISOString())}`;

  return (
    <div className="week-calendar">
      <div className="week-nav">
        <button type="button" onClick={() => setWeek(week - 1)} disabled={week === 0}>
          ← Previous week
        </button>
        <p className="week-range" aria-live="polite">
          {rangeLabel}
        </p>
        <button type="button" onClick={() => setWeek(week + 1)} disabled={week >= WEEKS_AHEAD}>
          Next week →
        </button>
      </div>
      <p className="hint">
        Times are in your time zone ({viewerZone()}).
        {zoneDiffers(doctorZone) && ` ${doctor.fullName} works in ${doctorZone}: each time there is shown too.`}
      </p>
      {slots.error && !slots.data ? (
        <ErrorState error={slots.error} retry={refetch} />
      ) : !slots.data || (slots.loading && count === 0) ? (
        <Loading what="Loading free times" />
      ) : count === 0 ? (
        <div className="state">No free times this week. Try the next week.</div>
      ) : (
        <div className="week-days">
          {[...byDay].map(([date, list]) => (
            <section key={date} className="week-day" aria-label={dayLabel(`${date}T12:00:00`)}>
              <h3>{dayLabel(`${date}T12:00:00`)}</h3>
              {list.length === 0 ? (
                <p className="hint">No free times</p>
              ) : (
                <div className="week-slots">
                  {list.map((slot) => (
                    <button
                      type="button"
                      key={slot.startsAt}
                      className="slot"
                      value={slot.startsAt}
                      aria-pressed={selected === slot.startsAt}
                      aria-label={slotLabel(slot.startsAt)}
                      onClick={() => onSelect(slot.startsAt)}
                    >
                      {clock(slot.startsAt)}
                      {zoneDiffers(doctorZone, slot.startsAt) && (
                        <small aria-hidden="true">{clock(slot.startsAt, doctorZone)} there</small>
                      )}
                    </button>
                  ))}
                </div>
              )}
            </section>
          ))}
        </div>
      )}
    </div>
  );
}
