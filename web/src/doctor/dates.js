// Dates for the doctor screens: local days and weeks (Monday first), clock times in the
// viewer's zone or the schedule's, and whether the two zones read differently.

/** The viewer's IANA time zone, like "Europe/Paris". */
export function viewerZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Local midnight of `date`'s day. */
export function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

/** Local midnight `days` after `date`'s day. */
export function addDays(date, days) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() + days);
}

/** Local midnight of the Monday of `date`'s week. */
export function startOfWeek(date) {
  const weekday = (date.getDay() + 6) % 7; // 0 = Monday
  return addDays(date, -weekday);
}

export function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "09:30" in `timeZone` (the viewer's when none). */
export function clock(iso, timeZone) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZone });
}

/** "Mon 7 Dec" of a local Date. */
export function dayName(date) {
  return date.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" });
}

/** "Monday 7 December 2026" of a local Date. */
export function longDayName(date) {
  return date.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

/** "Mon 7 Dec, 09:30" in `timeZone` (the viewer's when none). */
export function moment(iso, timeZone) {
  return new Date(iso).toLocaleString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
  });
}

/** Whether a clock in `timeZone` reads differently from the viewer's at `iso` (now). */
export function zoneDiffers(timeZone, iso = new Date().toISOString()) {
  if (!timeZone) return false;
  return moment(iso, timeZone) !== moment(iso);
}

/** Minutes since local midnight of `day` (may be negative or past 1440). */
export function minutesInto(day, iso) {
  return (new Date(iso) - day) / 60_000;
}

/** `new Date(...)` of an <input type="datetime-local"> value (viewer's zone) as ISO, or null. */
export function localInputToIso(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
