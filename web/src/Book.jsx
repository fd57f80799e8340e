// Finding a doctor and booking: filter by specialty, choose a doctor from their cards
// (photo, name, specialty, bio), pick a free slot in their week calendar, give a reason, book.
import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useMemo, useRef, useState } from "react";
import { ResendVerification } from "./EmailVerification.jsx";
import { failureMessage, problemsOf } from "./forms.jsx";
import { BOOK_APPOINTMENT, DOCTOR_TIME_ZONE, FIND_DOCTORS } from "./patient/operations.js";
import { bothZones } from "./patient/time.js";
import { WeekCalendar } from "./patient/WeekCalendar.jsx";
import { Avatar, Card, PageHeader, QueryState } from "./ui.jsx";

export function Book({ navigate }) {
  const [specialty, setSpecialty] = useState("");
  const [doctor, setDoctor] = useState(null);
  const calendarHeading = useRef(null);

  function choose(next) {
    setDoctor(next);
    // Keyboard and screen-reader users land where the next step is.
    requestAnimationFrame(() => calendarHeading.current?.focus());
  }

  return (
    <section>
      <PageHeader title="Book an appointment" />
      <Card title="Find a doctor">
        <SpecialtyFilter value={specialty} onChange={setSpecialty} />
        <DoctorCards specialty={specialty} chosen={doctor} onChoose={choose} />
      </Card>
      {doctor && (
        <Card className="booking" aria-labelledby="free-times-heading">
          <h2 id="free-times-heading" tabIndex={-1} ref={calendarHeading}>
            Free times with {doctor.fullName}
          </h2>
          <BookingForm key={doctor.id} doctor={doctor} navigate={navigate} />
        </Card>
      )}
    </section>
  );
}

/** The specialties of every doctor, as a filter ("Any specialty" first). */
function SpecialtyFilter({ value, onChange }) {
  const all = useQuery(FIND_DOCTORS, { variables: { specialty: null } });
  const specialties = useMemo(
    () => [...new Set((all.data?.doctors.nodes ?? []).map((d) => d.specialty).filter(Boolean))].sort(),
    [all.data],
  );
  return (
    <label>
      Specialty
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Any specialty</option>
        {specialties.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}

function DoctorCards({ specialty, chosen, onChoose }) {
  const result = useQuery(FIND_DOCTORS, { variables: { specialty: specialty || null } });
  return (
    <QueryState
      result={result}
      loading="Loading doctors"
      empty="No doctor of this specialty at the moment."
      isEmpty={(data) => data.doctors.nodes.length === 0}
    >
      {(data) => (
        <ul className="doctor-cards" aria-label="Doctors">
          {data.doctors.nodes.map((d) => (
            <li key={d.id} className={chosen?.id === d.id ? "chosen" : ""}>
              <Avatar user={d} size="large" />
              <div className="grow">
                <h3>{d.fullName}</h3>
                <p className="specialty">{d.specialty}</p>
                {d.bio && <p className="bio">{d.bio}</p>}
              </div>
              <button
                type="button"
                className={chosen?.id === d.id ? "primary" : ""}
                aria-pressed={chosen?.id === d.id}
                onClick={() => onChoose(d)}
              >
                Choose {d.fullName}
              </button>
            </li>
          ))}
        </ul>
      )}
    </QueryState>
  );
}

/** The week calendar, a reason, and "Book". A slot refused as taken leaves the calendar at once. */
function BookingForm({ doctor, navigate }) {
  const [slot, setSlot] = useState(null);
  const [reason, setReason] = useState("");
  const [problems, setProblems] = useState({});
  const [unverified, setUnverified] = useState(false);
  const [taken, setTaken] = useState(() => new Set());
  const [reloadKey, setReloadKey] = useState(0);
  const [book, { loading }] = useMutation(BOOK_APPOINTMENT);
  const zone = useQuery(DOCTOR_TIME_ZONE, { variables: { doctorId: doctor.id } });
  const doctorZone = zone.data?.doctorSchedule?.timeZone;
  const alertRef = useRef(null);
  useEffect(() => {
    if (problems[""]) alertRef.current?.focus();
  }, [problems]);

  async function submit(event) {
    event.preventDefault();
    setProblems({});
    setUnverified(false);
    try {
      const { data } = await book({ variables: { input: { doctorId: doctor.id, startsAt: slot, reason } } });
      const result = data.bookAppointment;
      if (result.__typename === "AppointmentPayload") {
        navigate(`appointments/${result.appointment.id}`);
        return;
      }
      // EmailNotVerified: patients cannot book until they open the emailed link.
      setUnverified(result.__typename === "EmailNotVerified");
      setProblems(problemsOf(result, ["reason"]));
      if (result.__typename === "SlotUnavailable") {
        setTaken(new Set([...taken, slot]));
        setSlot(null);
        setReloadKey(reloadKey + 1);
      }
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  return (
    <form onSubmit={submit}>
      <WeekCalendar doctor={doctor} selected={slot} onSelect={setSlot} hidden={taken} reloadKey={reloadKey} />
      <label>
        Reason
        <textarea
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          maxLength={1000}
          required
          aria-invalid={problems.reason ? true : undefined}
          aria-describedby={problems.reason ? "reason-error" : undefined}
        />
        {problems.reason && (
          <span role="alert" id="reason-error" className="field-error">
            {problems.reason}
          </span>
        )}
      </label>
      {problems[""] && (
        <p role="alert" className="notice error" tabIndex={-1} ref={alertRef}>
          {problems[""]}
        </p>
      )}
      {unverified && <ResendVerification />}
      <p className="chosen-slot" aria-live="polite">
        {slot ? `Chosen: ${bothZones(slot, doctorZone)}` : "Pick a free time above."}
      </p>
      <div className="actions">
        <button type="submit" className="primary" disabled={!slot || loading}>
          {slot ? `Book ${bothZones(slot, doctorZone)}` : "Book"}
        </button>
      </div>
    </form>
  );
}
