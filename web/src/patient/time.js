// Dates and time zones for the patient screens: the viewer's own zone, a doctor's, and
// whether they show a different clock at a given moment (then both are stated).

/** The viewer's IANA time zone, like "Europe/Paris". */
export function viewerZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** "09:30" in `timeZone` (the viewer's when none). */
export function clock(iso, timeZone) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZone });
}

/** "Tue 8 Dec" in `timeZone` (the viewer's when none). */
export function dayLabel(iso, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", timeZone })
      .formatToParts(new Date(iso))
      .map((part) => [part.type, part.value]),
  );
  return `${parts.weekday} ${parts.day} ${parts.month}`;
}

/** "Tue 8 Dec 09:30": a slot's accessible name, and how a moment is written out. */
export function slotLabel(iso, timeZone) {
  return `${dayLabel(iso, timeZone)} ${clock(iso, timeZone)}`;
}

/** Whether a clock in `timeZone` reads differently from the viewer's at `iso`. */
export function zoneDiffers(timeZone, iso = new Date().toISOString()) {
  if (!timeZone) return false;
  return slotLabel(iso, timeZone) !== slotLabel(iso);
}

/** "Tue 8 Dec 09:30", plus "(10:30 in Europe/Paris)" when the doctor's clock differs. */
export function bothZones(iso, doctorZone) {
  const mine = slotLabel(iso);
  if (!zoneDiffers(doctorZone, iso)) return mine;
  return `${mine} your time (${slotLabel(iso, doctorZone)} in ${doctorZone})`;
}

/** YYYY-MM-DD of a local Date. */
export function isoDate(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Midnight (local) `days` after `date`'s day. */
export function addDays(date, days) {
  const next = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  next.setDate(next.getDate() + days);
  return next;
}
