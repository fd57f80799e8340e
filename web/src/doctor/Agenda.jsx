// The doctor's agenda (`#/appointments`): a day or a week of appointments placed by time,
// with the patient, the reason and the status, updated live; the next few visits below.
// On a phone the week becomes a list by day (styles.css, "doctor" section).
import { useQuery } from "@apollo/client/react";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { useResumable } from "../hooks.js";
import { latestChange } from "../live.js";
import { APPOINTMENT_CHANGED } from "../operations.js";
import { EmptyState, ErrorState, Loading, PageHeader, Status } from "../ui.jsx";
import { addDays, clock, dayName, longDayName, moment, sameDay, startOfDay, startOfWeek, viewerZone, zoneDiffers } from "./dates.js";
import { DOCTOR_AGENDA } from "./operations.js";

const SAVED = "healthcare.agenda"; // view and day, kept while the tab lives

export function Agenda({ user }) {
  const [{ view, day }, setPlace] = useState(savedPlace);
  const place = (next) => {
    setPlace(next);
    sessionStorage.setItem(SAVED, JSON.stringify({ view: next.view, day: next.day.toISOString() }));
  };
  const first = view === "week" ? startOfWeek(day) : day;
  const dayCount = view === "week" ? 7 : 1;
  const days = Array.from({ length: dayCount }, (_, i) => addDays(first, i));
  const end = addDays(first, dayCount);
  const now = useMemo(() => new Date().toISOString(), []);

  const result = useQuery(DOCTOR_AGENDA, {
    variables: { doctorId: user.id, from: first.toISOString(), before: end.toISOString(), now },
    fetchPolicy: "cache-and-network",
  });
  const data = result.data;
  useLiveAgenda(data ?? result.previousData, result.refetch);

  const step = (direction) => place({ view, day: addDays(day, direction * dayCount) });
  const unit = view === "week" ? "week" : "day";
  const timeZone = data?.doctorSchedule?.timeZone;
  const otherZone = zoneDiffers(timeZone) ? timeZone : null;
  const inRange = (data?.appointments.nodes ?? []).filter(
    (a) => new Date(a.startsAt) >= first && new Date(a.startsAt) < end,
  );

  return (
    <section className="agenda">
      <PageHeader title="Agenda">
        <div className="segmented" role="group" aria-label="View">
          {["day", "week"].map((name) => (
            <button key={name} type="button" aria-pressed={view === name} onClick={() => place({ view: name, day })}>
              {name === "day" ? "Day" : "Week"}
            </button>
          ))}
        </div>
        <button type="button" onClick={() => step(-1)}>
          Previous {unit}
        </button>
        <button type="button" onClick={() => place({ view, day: startOfDay(new Date()) })}>
          Today
        </button>
        <button type="button" onClick={() => step(1)}>
          Next {unit}
        </button>
      </PageHeader>
      <h2 className="agenda-range" aria-live="polite">
        {view === "week" ? `${dayName(first)} – ${dayName(addDays(end, -1))} ${first.getFullYear()}` : longDayName(first)}
      </h2>
      {otherZone && (
        <p className="notice zone-note">
          Times are in your time zone ({viewerZone()}), with your schedule&apos;s ({otherZone}) beside them: it is{" "}
          {clock(new Date().toISOString(), otherZone)} there now.
        </p>
      )}
      {result.error && !data ? (
        <ErrorState error={result.error} retry={result.refetch} />
      ) : !data ? (
        <Loading what="Loading the agenda" />
      ) : inRange.length === 0 ? (
        <EmptyState>
          Nothing booked {view === "week" ? "this week" : "on this day"}.{" "}
          <button type="button" className="link" onClick={() => step(1)}>
            Next {unit}
          </button>
        </EmptyState>
      ) : (
        <>
          <TimeGrid
            days={days}
            appointments={inRange}
            otherZone={otherZone}
            onOpenDay={view === "week" ? (d) => place({ view: "day", day: d }) : null}
          />
          {data.appointments.pageInfo.hasNextPage && (
            <p className="hint">Only the first 100 appointments are shown; open a single day to see them all.</p>
          )}
        </>
      )}
      {data && <ComingUp appointments={data.comingUp.nodes} otherZone={otherZone} />}
    </section>
  );
}

function savedPlace() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SAVED));
    if (saved && ["day", "week"].includes(saved.view)) return { view: saved.view, day: startOfDay(new Date(saved.day)) };
  } catch {
    // nothing saved, or something unreadable: start from today
  }
  return { view: "week", day: startOfDay(new Date()) };
}

/**
 * Bookings, moves, cancellations and outcomes as they happen (resuming from the newest
 * `updatedAt` seen after the socket drops). A change to a listed appointment updates the
 * cache by itself; the lists are read again too (once per burst), since a change may move
 * an appointment into or out of them.
 */
function useLiveAgenda(data, refetch) {
  const everLoaded = useRef(false);
  if (data) everLoaded.current = true;
  const timer = useRef(null);
  useEffect(() => () => clearTimeout(timer.current), []);
  const seen = [...(data?.appointments.nodes ?? []), ...(data?.comingUp.nodes ?? [])];
  useResumable(
    APPOINTMENT_CHANGED,
    {
      skip: !everLoaded.current,
      cursor: seen.reduce(latestChange, null),
      variables: (changedSince) => ({ changedSince }),
      advance: (cursor, d) => latestChange(cursor, d.appointmentChanged),
      onData: () => {
        clearTimeout(timer.current);
        timer.current = setTimeout(() => refetch(), 250);
      },
    },
    [everLoaded.current],
  );
}

const FIRST_HOUR = 8;
const LAST_HOUR = 18;

/** Days side by side (one for the day view), each appointment at its time and length. */
function TimeGrid({ days, appointments, otherZone, onOpenDay }) {
  const byDay = days.map((d) => ({ day: d, items: appointments.filter((a) => sameDay(new Date(a.startsAt), d)) }));
  // From 08:00 to 18:00, stretched to whatever is booked earlier or later.
  let from = FIRST_HOUR * 60;
  let to = LAST_HOUR * 60;
  for (const { day, items } of byDay) {
    for (const a of items) {
      from = Math.min(from, (new Date(a.startsAt) - day) / 60_000);
      to = Math.max(to, (new Date(a.endsAt) - day) / 60_000);
    }
  }
  const firstHour = Math.max(0, Math.floor(from / 60));
  const lastHour = Math.min(24, Math.ceil(to / 60));
  const hours = Array.from({ length: lastHour - firstHour }, (_, i) => firstHour + i);
  const today = new Date();

  // A wide screen scrolls the grid inside itself: start it at the first appointment.
  const gridRef = useRef(null);
  const shown = `${days[0].getTime()}/${days.length}`;
  useLayoutEffect(() => {
    const grid = gridRef.current;
    if (!grid || grid.scrollHeight <= grid.clientHeight) return;
    const tops = [...grid.querySelectorAll(".agenda-item")].map((item) => item.getBoundingClientRect().top);
    if (tops.length === 0) return;
    const header = grid.querySelector(".agenda-day h3")?.offsetHeight ?? 0;
    grid.scrollTop += Math.min(...tops) - grid.getBoundingClientRect().top - header - 16;
  }, [shown]);

  return (
    <div
      ref={gridRef}
      className={`agenda-grid days-${days.length}`}
      style={{ "--hours": lastHour - firstHour }}
    >
      <div className="agenda-hours" aria-hidden="true">
        {hours.map((h) => (
          <span key={h}>{hourLabel(h)}</span>
        ))}
      </div>
      {byDay.map(({ day, items }) => {
        const headingId = `agenda-day-${day.getTime()}`;
        return (
          <section key={day.getTime()} className={`agenda-day${sameDay(day, today) ? " today" : ""}`} aria-labelledby={headingId}>
            <h3 id={headingId}>
              {onOpenDay ? (
                <button type="button" className="link" onClick={() => onOpenDay(day)} aria-label={`${longDayName(day)}: show the day`}>
                  {dayName(day)}
                </button>
              ) : (
                longDayName(day)
              )}
            </h3>
            {items.length === 0 ? (
              <p className="agenda-none">No appointments</p>
            ) : (
              <ol className="agenda-items">
                {placeInLanes(items, day).map(({ appointment, top, span, lane, lanes }) => (
                  <li
                    key={appointment.id}
                    className={`agenda-item ${appointment.status.toLowerCase().replace("_", "-")}`}
                    style={{
                      "--top": (top - firstHour * 60) / 60,
                      "--span": span / 60,
                      "--lane": lane,
                      "--lanes": lanes,
                    }}
                  >
                    <AgendaEntry appointment={appointment} otherZone={otherZone} />
                  </li>
                ))}
              </ol>
            )}
          </section>
        );
      })}
    </div>
  );
}

/** "09:00" or "9:00 AM": the hour as the viewer's locale writes times (like the entries). */
function hourLabel(hour) {
  return new Date(2000, 0, 1, hour).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function AgendaEntry({ appointment: a, otherZone }) {
  // The start and the patient first: a short visit shows only that line until focused.
  return (
    <a href={`#/appointments/${a.id}`}>
      <span className="agenda-first-line">
        <time dateTime={a.startsAt}>{clock(a.startsAt)}</time> <strong className="agenda-patient">{a.patient.fullName}</strong>
      </span>{" "}
      <span className="agenda-reason">{a.reason}</span>{" "}
      <span className="agenda-more">
        <Status status={a.status} /> until {clock(a.endsAt)}
        {otherZone && (
          <small>
            {" "}
            ({clock(a.startsAt, otherZone)}–{clock(a.endsAt, otherZone)} {otherZone})
          </small>
        )}
      </span>
    </a>
  );
}

/**
 * Each appointment's place: minutes from the day's midnight, its length, and side-by-side
 * lanes where times overlap (a cancelled visit and the one booked in its place).
 */
function placeInLanes(items, day) {
  const sorted = [...items].sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt));
  const placed = [];
  let cluster = [];
  let laneEnds = [];
  let clusterEnd = -Infinity;
  const closeCluster = () => {
    for (const p of cluster) p.lanes = laneEnds.length;
    cluster = [];
    laneEnds = [];
  };
  for (const appointment of sorted) {
    const top = (new Date(appointment.startsAt) - day) / 60_000;
    const bottom = (new Date(appointment.endsAt) - day) / 60_000;
    if (top >= clusterEnd) {
      closeCluster();
      clusterEnd = -Infinity;
    }
    let lane = laneEnds.findIndex((laneEnd) => laneEnd <= top);
    if (lane === -1) lane = laneEnds.length;
    laneEnds[lane] = bottom;
    clusterEnd = Math.max(clusterEnd, bottom);
    const p = { appointment, top, span: Math.max(bottom - top, 15), lane, lanes: 1 };
    cluster.push(p);
    placed.push(p);
  }
  closeCluster();
  return placed;
}

/** The next scheduled visits from now, whatever the range shown. */
function ComingUp({ appointments, otherZone }) {
  const upcoming = appointments
    .filter((a) => a.status === "SCHEDULED" && Date.parse(a.endsAt) > Date.now())
    .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt));
  return (
    <section className="card coming-up" aria-labelledby="coming-up-title">
      <h2 id="coming-up-title">Coming up</h2>
      {upcoming.length === 0 ? (
        <p className="hint">Nothing booked ahead.</p>
      ) : (
        <ul className="rows" aria-label="Coming up">
          {upcoming.map((a) => (
            <li key={a.id}>
              <span className="grow">
                <a href={`#/appointments/${a.id}`}>
                  <time dateTime={a.startsAt}>{moment(a.startsAt)}</time>
                </a>
                {otherZone && (
                  <small className="hint">
                    {" "}
                    ({moment(a.startsAt, otherZone)} {otherZone})
                  </small>
                )}
                <br />
                <strong>{a.patient.fullName}</strong> — {a.reason}
              </span>
              <Status status={a.status} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
