// `#/schedule` (doctors): working hours (time zone, slot length, blocks per weekday) and
// time off (list, add, remove). Patients can book only inside the hours, outside time off.
import { useMutation, useQuery } from "@apollo/client/react";
import { useId, useState } from "react";
import { Field, failureMessage, problemsOf } from "../forms.jsx";
import { Card, PageHeader, QueryState } from "../ui.jsx";
import { ConfirmButton } from "./Confirm.jsx";
import { localInputToIso, moment, viewerZone, zoneDiffers } from "./dates.js";
import { ADD_TIME_OFF, MY_SCHEDULE, REMOVE_TIME_OFF, SET_DOCTOR_SCHEDULE } from "./operations.js";

const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

export function Schedule({ user }) {
  const result = useQuery(MY_SCHEDULE, { variables: { doctorId: user.id }, fetchPolicy: "cache-and-network" });
  // Kept here: the form starts afresh from what the API answers after a save.
  const [saved, setSaved] = useState(false);
  return (
    <section>
      <PageHeader title="Schedule" />
      <QueryState result={result} loading="Loading your schedule">
        {(data) => (
          <>
            <WorkingHoursForm
              key={data.doctorSchedule ? "set" : "none"}
              schedule={data.doctorSchedule}
              saved={saved}
              setSaved={setSaved}
              onSaved={result.refetch}
            />
            <TimeOffCard timeOff={data.timeOff} timeZone={data.doctorSchedule?.timeZone} onChange={result.refetch} />
          </>
        )}
      </QueryState>
    </section>
  );
}

// ---- working hours -------------------------------------------------------------------------

let nextRowKey = 0;
const row = (weekday, start, end) => ({ key: ++nextRowKey, weekday, start, end });
// <input type="time"> has no 24:00: an end of 00:00 stands for midnight at the end of the day.
const fromApiEnd = (end) => (end === "24:00" ? "00:00" : end);
const toApiEnd = (end) => (end === "00:00" ? "24:00" : end);

function WorkingHoursForm({ schedule, saved, setSaved, onSaved }) {
  const [timeZone, setTimeZone] = useState(schedule?.timeZone ?? viewerZone());
  const [slotMinutes, setSlotMinutes] = useState(String(schedule?.slotMinutes ?? 30));
  const [rows, setRows] = useState(() =>
    (schedule?.hours ?? []).map((h) => row(h.weekday, h.start, fromApiEnd(h.end))),
  );
  const [problems, setProblems] = useState({});
  const [save, { loading }] = useMutation(SET_DOCTOR_SCHEDULE);
  // The order sent: by weekday, then as listed; the API names errors by this index.
  const ordered = WEEKDAYS.flatMap((_, weekday) => rows.filter((r) => r.weekday === weekday));

  function change(key, field, value) {
    setSaved(false);
    setRows(rows.map((r) => (r.key === key ? { ...r, [field]: value } : r)));
  }
  function add(weekday) {
    setSaved(false);
    const last = rows.filter((r) => r.weekday === weekday).at(-1);
    setRows([...rows, last ? row(weekday, last.end, last.end < "17:00" ? "17:00" : "00:00") : row(weekday, "09:00", "17:00")]);
  }
  function remove(key) {
    setSaved(false);
    setRows(rows.filter((r) => r.key !== key));
  }

  async function submit(event) {
    event.preventDefault();
    setSaved(false);
    const hours = ordered.map((r) => ({ weekday: r.weekday, start: r.start, end: toApiEnd(r.end) }));
    const fields = ["timeZone", "slotMinutes", "hours", ...hours.flatMap((_, i) => [`hours[${i}].start`, `hours[${i}].end`, `hours[${i}].weekday`])];
    try {
      const { data } = await save({ variables: { input: { timeZone, slotMinutes: Number(slotMinutes), hours } } });
      const result = data.setDoctorSchedule;
      if (result.__typename === "SchedulePayload") {
        setProblems({});
        setSaved(true);
        await onSaved();
      } else setProblems(problemsOf(result, fields));
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  const rowProblem = (r, field) => problems[`hours[${ordered.indexOf(r)}].${field}`];
  const zones = zoneNames(timeZone);
  return (
    <Card title="Working hours">
      {!schedule && (
        <p className="notice">You have no working hours yet: patients can book you once you set them.</p>
      )}
      <form onSubmit={submit} noValidate>
        <div className="form-row">
          <SelectField
            label="Time zone"
            value={timeZone}
            error={problems.timeZone}
            onChange={(e) => {
              setSaved(false);
              setTimeZone(e.target.value);
            }}
          >
            {zones.map((z) => (
              <option key={z}>{z}</option>
            ))}
          </SelectField>
          <Field
            label="Slot length (minutes)"
            type="number"
            min={10}
            max={120}
            step={5}
            value={slotMinutes}
            error={problems.slotMinutes}
            onChange={(e) => {
              setSaved(false);
              setSlotMinutes(e.target.value);
            }}
          />
        </div>
        <p className="hint">
          Hours are wall-clock times in that time zone. An end of 00:00 means midnight at the end of the day.
        </p>
        {problems.hours && <p role="alert">{problems.hours}</p>}
        <div className="weekdays">
          {WEEKDAYS.map((name, weekday) => {
            const dayRows = rows.filter((r) => r.weekday === weekday);
            return (
              <fieldset key={name} className="weekday">
                <legend>{name}</legend>
                {dayRows.length === 0 && <p className="hint">Not working</p>}
                {dayRows.map((r) => (
                  <div className="form-row hours-row" key={r.key}>
                    <Field
                      label="Start"
                      type="time"
                      value={r.start}
                      error={rowProblem(r, "start") ?? rowProblem(r, "weekday")}
                      onChange={(e) => change(r.key, "start", e.target.value)}
                    />
                    <Field
                      label="End"
                      type="time"
                      value={r.end}
                      error={rowProblem(r, "end")}
                      onChange={(e) => change(r.key, "end", e.target.value)}
                    />
                    <button type="button" aria-label={`Remove ${name} ${r.start} to ${r.end}`} onClick={() => remove(r.key)}>
                      Remove
                    </button>
                  </div>
                ))}
                <button type="button" aria-label={`Add hours on ${name}`} onClick={() => add(weekday)}>
                  Add hours
                </button>
              </fieldset>
            );
          })}
        </div>
        {problems[""] && <p role="alert">{problems[""]}</p>}
        <div className="actions">
          <button type="submit" className="primary" disabled={loading}>
            Save working hours
          </button>
          {saved && (
            <span className="notice ok" role="status">
              Working hours saved.
            </span>
          )}
        </div>
      </form>
    </Card>
  );
}

/** Every IANA zone the browser knows (with `current` even if it does not). */
function zoneNames(current) {
  const names = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return [...new Set([current, "UTC", ...names])].sort();
}

/** A <select> with its label and its error, like forms.jsx's Field. */
function SelectField({ label, error, children, ...select }) {
  const errorId = useId();
  return (
    <label>
      {label}
      <select aria-invalid={error ? true : undefined} aria-describedby={error ? errorId : undefined} {...select}>
        {children}
      </select>
      {error && (
        <span role="alert" id={errorId} className="field-error">
          {error}
        </span>
      )}
    </label>
  );
}

// ---- time off ----------------------------------------------------------------------------------

function TimeOffCard({ timeOff, timeZone, onChange }) {
  const [removeTimeOff] = useMutation(REMOVE_TIME_OFF);
  const [problem, setProblem] = useState(null);
  const otherZone = zoneDiffers(timeZone) ? timeZone : null;

  async function remove(id) {
    setProblem(null);
    try {
      const { data } = await removeTimeOff({ variables: { id } });
      if (!data.removeTimeOff) setProblem("That time off was already removed.");
      await onChange();
    } catch (error) {
      setProblem(failureMessage(error));
    }
  }

  return (
    <Card title="Time off">
      {timeOff.length === 0 ? (
        <p className="state">No time off planned.</p>
      ) : (
        <ul className="rows" aria-label="Time off">
          {timeOff.map((t) => (
            <li key={t.id}>
              <span className="grow">
                <strong>
                  {moment(t.startsAt)} – {moment(t.endsAt)}
                </strong>
                {otherZone && (
                  <small className="hint">
                    {" "}
                    ({moment(t.startsAt, otherZone)} – {moment(t.endsAt, otherZone)} {otherZone})
                  </small>
                )}
                <br />
                {t.reason || <span className="hint">No reason given</span>}
              </span>
              <ConfirmButton
                label="Remove"
                question="Remove this time off? Patients can book these times again."
                confirmLabel="Yes, remove"
                tone="danger"
                onConfirm={() => remove(t.id)}
              />
            </li>
          ))}
        </ul>
      )}
      {problem && <p role="alert">{problem}</p>}
      <AddTimeOff onAdded={onChange} />
    </Card>
  );
}

function AddTimeOff({ onAdded }) {
  const empty = { startsAt: "", endsAt: "", reason: "" };
  const [input, setInput] = useState(empty);
  const [problems, setProblems] = useState({});
  const [added, setAdded] = useState(false);
  const [add, { loading }] = useMutation(ADD_TIME_OFF);
  const set = (name) => (e) => {
    setAdded(false);
    setInput({ ...input, [name]: e.target.value });
  };

  async function submit(event) {
    event.preventDefault();
    setAdded(false);
    const startsAt = localInputToIso(input.startsAt);
    const endsAt = localInputToIso(input.endsAt);
    const missing = {};
    if (!startsAt) missing.startsAt = "Choose when it starts.";
    if (!endsAt) missing.endsAt = "Choose when it ends.";
    if (Object.keys(missing).length) {
      setProblems(missing);
      return;
    }
    try {
      const { data } = await add({ variables: { input: { startsAt, endsAt, reason: input.reason } } });
      const result = data.addTimeOff;
      if (result.__typename === "TimeOffPayload") {
        setProblems({});
        setInput(empty);
        setAdded(true);
        await onAdded();
      } else setProblems(problemsOf(result, ["startsAt", "endsAt", "reason"]));
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate className="add-time-off">
      <h3>Add time off</h3>
      <p className="hint">In your time zone ({viewerZone()}). Visits already booked in it stay: cancel them if needed.</p>
      <div className="form-row">
        <Field label="From" type="datetime-local" value={input.startsAt} error={problems.startsAt} onChange={set("startsAt")} />
        <Field label="To" type="datetime-local" value={input.endsAt} error={problems.endsAt} onChange={set("endsAt")} />
      </div>
      <Field label="Reason (optional)" value={input.reason} maxLength={200} error={problems.reason} onChange={set("reason")} />
      {problems[""] && <p role="alert">{problems[""]}</p>}
      <div className="actions">
        <button type="submit" className="primary" disabled={loading}>
          Add time off
        </button>
        {added && (
          <span className="notice ok" role="status">
            Time off added.
          </span>
        )}
      </div>
    </form>
  );
}
