import { useMutation, useQuery } from "@apollo/client/react";
import { useMemo, useState } from "react";
import { ResendVerification } from "./EmailVerification.jsx";
import { day, localDate, time, when } from "./format.js";
import { BOOK, DOCTORS, SLOTS } from "./operations.js";

const DAYS_AHEAD = 13; // availableSlots takes at most 31 days
const DAYS_SHOWN = 5;

export function Book({ navigate }) {
  const doctors = useQuery(DOCTORS);
  const [doctorId, setDoctorId] = useState("");
  const [slot, setSlot] = useState(null);
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState(null);
  const [unverified, setUnverified] = useState(false);
  const range = useMemo(() => ({ fromDate: localDate(0), toDate: localDate(DAYS_AHEAD) }), []);
  const slots = useQuery(SLOTS, {
    variables: { doctorId, ...range },
    skip: !doctorId,
    fetchPolicy: "network-only",
  });
  const [book, { loading }] = useMutation(BOOK);

  const byDay = useMemo(() => {
    const groups = new Map();
    for (const s of slots.data?.availableSlots ?? []) {
      const key = day(s.startsAt);
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    return [...groups].slice(0, DAYS_SHOWN);
  }, [slots.data]);

  async function submit(event) {
    event.preventDefault();
    setProblem(null);
    setUnverified(false);
    const { data } = await book({ variables: { input: { doctorId, startsAt: slot, reason } } });
    const result = data.bookAppointment;
    if (result.__typename === "AppointmentPayload") {
      navigate(`appointments/${result.appointment.id}`);
      return;
    }
    // SlotUnavailable, NotFound, ValidationFailed, EmailNotVerified: all implement Error
    // { code message }. Unverified patients cannot book until they open the emailed link.
    setUnverified(result.__typename === "EmailNotVerified");
    const fields = result.fieldErrors?.map((f) => `${f.field}: ${f.message}`).join("; ");
    setProblem(fields ? `${result.message} (${fields})` : result.message);
    if (result.code === "SLOT_UNAVAILABLE") {
      setSlot(null);
      slots.refetch();
    }
  }

  return (
    <section>
      <h1>Book an appointment</h1>
      <form onSubmit={submit}>
        <label>
          Doctor
          <select
            value={doctorId}
            onChange={(e) => {
              setDoctorId(e.target.value);
              setSlot(null);
            }}
          >
            <option value="">Choose a doctor…</option>
            {doctors.data?.doctors.nodes.map((d) => (
              <option key={d.id} value={d.id}>
                {d.fullName} — {d.specialty}
              </option>
            ))}
          </select>
        </label>
        {doctorId && (
          <fieldset className="slots">
            <legend>Free times (your time zone)</legend>
            {slots.loading && <p>Loading…</p>}
            {slots.data && byDay.length === 0 && <p>No free time in the next two weeks.</p>}
            {byDay.map(([label, daySlots]) => (
              <div key={label} className="day">
                <span>{label}</span>
                {daySlots.map((s) => (
                  <button
                    type="button"
                    key={s.startsAt}
                    aria-pressed={slot === s.startsAt}
                    aria-label={`${label} ${time(s.startsAt)}`}
                    onClick={() => setSlot(s.startsAt)}
                  >
                    {time(s.startsAt)}
                  </button>
                ))}
              </div>
            ))}
          </fieldset>
        )}
        <label>
          Reason
          <textarea value={reason} onChange={(e) => setReason(e.target.value)} maxLength={1000} required />
        </label>
        {problem && <p role="alert">{problem}</p>}
        {unverified && (
          <p>
            <ResendVerification />
          </p>
        )}
        <button type="submit" disabled={!slot || loading}>
          {slot ? `Book ${when(slot)}` : "Pick a time"}
        </button>
      </form>
    </section>
  );
}
