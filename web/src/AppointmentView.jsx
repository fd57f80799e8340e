// One appointment: what, when (both time zones when they differ), with whom, its status;
// cancel (with a reason) or move it while it is scheduled and upcoming; message the other
// party; its video visit; and its consultation (Consultation.jsx).
import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { ConsultationSection } from "./Consultation.jsx";
import { VisitActions } from "./doctor/VisitActions.jsx";
import { failureMessage, problemsOf } from "./forms.jsx";
import { notificationEvents } from "./hooks.js";
import { APPOINTMENT_DETAIL, START_CONVERSATION } from "./operations.js";
import {
  APPOINTMENT_PEOPLE,
  CANCEL_APPOINTMENT,
  DOCTOR_TIME_ZONE,
  RESCHEDULE_APPOINTMENT,
} from "./patient/operations.js";
import { bothZones } from "./patient/time.js";
import { WeekCalendar } from "./patient/WeekCalendar.jsx";
import { When } from "./patient/When.jsx";
import { Avatar, Card, EmptyState, ErrorState, Loading, PageHeader, Status } from "./ui.jsx";
import { VideoVisit, callEvents } from "./VideoCall.jsx";

export function AppointmentView({ id, user, navigate }) {
  const { data, error, refetch } = useQuery(APPOINTMENT_DETAIL, {
    variables: { id },
    fetchPolicy: "cache-and-network",
  });
  const people = useQuery(APPOINTMENT_PEOPLE, { variables: { id }, fetchPolicy: "cache-and-network" });
  // Notes written, visit moved or cancelled while this is open: show the change.
  useEffect(() => {
    const onNotification = (event) => event.detail.appointmentId === id && refetch();
    notificationEvents.addEventListener("notification", onNotification);
    return () => notificationEvents.removeEventListener("notification", onNotification);
  }, [id, refetch]);
  // A call of it rang, was answered or ended: its call and history.
  useEffect(() => {
    const onCall = (event) => event.detail.appointmentId === id && refetch();
    callEvents.addEventListener("call", onCall);
    return () => callEvents.removeEventListener("call", onCall);
  }, [id, refetch]);
  const [startConversation] = useMutation(START_CONVERSATION);
  const [panel, setPanel] = useState(null); // "cancel" | "reschedule" | null
  const [said, setSaid] = useState(null);

  if (error && !data) return <ErrorState error={error} retry={refetch} />;
  if (!data) return <Loading what="Loading the appointment" />;
  const appointment = data.appointment;
  // One you may not see gets the same answer as none at all.
  if (!appointment) return <EmptyState>No such appointment.</EmptyState>;
  const faces = people.data?.appointment;

  const isDoctor = user.id === appointment.doctor.id;
  const other = isDoctor ? (faces?.patient ?? appointment.patient) : (faces?.doctor ?? appointment.doctor);
  // As the API allows: a scheduled visit still ahead, not yet documented.
  const changeable =
    appointment.status === "SCHEDULED" && Date.parse(appointment.startsAt) > Date.now() && !appointment.consultation;

  async function message() {
    const { data: result } = await startConversation({ variables: { withUserId: other.id } });
    const outcome = result.startConversation;
    if (outcome.__typename === "ConversationPayload") navigate(`chat/${outcome.conversation.id}`);
  }

  function done(text) {
    setPanel(null);
    setSaid(text);
    refetch(); // its video call window and history move with it
  }

  return (
    <section>
      <PageHeader title="Appointment" />
      {said && (
        <p className="notice ok" role="status">
          {said}
        </p>
      )}
      <Card className="appointment-summary" aria-label="Details">
        <div className="person">
          <Avatar user={other} size="large" />
          <div>
            <p className="person-name">{other.fullName}</p>
            <p className="hint">{isDoctor ? "Patient" : other.specialty}</p>
          </div>
        </div>
        <dl>
          <dt>When</dt>
          <dd>
            <When iso={appointment.startsAt} doctorId={appointment.doctor.id} />
          </dd>
          <dt>{isDoctor ? "Patient" : "Doctor"}</dt>
          <dd>{other.fullName}</dd>
          <dt>Reason</dt>
          <dd>{appointment.reason}</dd>
          <dt>Status</dt>
          <dd>
            <Status status={appointment.status} />
          </dd>
          {appointment.cancellationReason && (
            <>
              <dt>Cancelled because</dt>
              <dd>{appointment.cancellationReason}</dd>
            </>
          )}
        </dl>
        <div className="actions">
          <button type="button" onClick={message}>
            Message {other.fullName}
          </button>
          {changeable && (
            <>
              <button
                type="button"
                aria-expanded={panel === "reschedule"}
                onClick={() => setPanel(panel === "reschedule" ? null : "reschedule")}
              >
                Reschedule
              </button>
              <button
                type="button"
                aria-expanded={panel === "cancel"}
                onClick={() => setPanel(panel === "cancel" ? null : "cancel")}
              >
                Cancel appointment
              </button>
            </>
          )}
        </div>
      </Card>
      {changeable && panel === "cancel" && (
        <CancelForm appointment={appointment} onClose={() => setPanel(null)} onDone={done} />
      )}
      {changeable && panel === "reschedule" && (
        <RescheduleForm appointment={appointment} onClose={() => setPanel(null)} onDone={done} />
      )}
      <VideoVisit appointment={appointment} otherName={other.fullName} onWindowChange={refetch} />
      <VisitActions appointment={appointment} user={user} />
      <ConsultationSection appointment={appointment} isDoctor={isDoctor} onChange={refetch} />
    </section>
  );
}

/** The confirm step of cancelling: a reason is required. */
function CancelForm({ appointment, onClose, onDone }) {
  const [reason, setReason] = useState("");
  const [problems, setProblems] = useState({});
  const [cancel, { loading }] = useMutation(CANCEL_APPOINTMENT);

  async function submit(event) {
    event.preventDefault();
    setProblems({});
    try {
      const { data } = await cancel({ variables: { id: appointment.id, reason } });
      const result = data.cancelAppointment;
      if (result.__typename === "AppointmentPayload") onDone("The appointment is cancelled.");
      else setProblems(problemsOf(result, ["reason"]));
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  return (
    <Card title="Cancel this appointment?">
      <form onSubmit={submit}>
        <label>
          Reason for cancelling
          <textarea
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            required
            maxLength={1000}
            autoFocus
            aria-invalid={problems.reason ? true : undefined}
            aria-describedby={problems.reason ? "cancel-reason-error" : undefined}
          />
          {problems.reason && (
            <span role="alert" id="cancel-reason-error" className="field-error">
              {problems.reason}
            </span>
          )}
        </label>
        {problems[""] && (
          <p role="alert" className="notice error">
            {problems[""]}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="danger" disabled={loading || !reason.trim()}>
            Confirm cancellation
          </button>
          <button type="button" onClick={onClose}>
            Keep appointment
          </button>
        </div>
      </form>
    </Card>
  );
}

/** Another free slot of the same doctor, picked in the week calendar. */
function RescheduleForm({ appointment, onClose, onDone }) {
  const [slot, setSlot] = useState(null);
  const [problem, setProblem] = useState(null);
  const [taken, setTaken] = useState(() => new Set());
  const [reloadKey, setReloadKey] = useState(0);
  const [reschedule, { loading }] = useMutation(RESCHEDULE_APPOINTMENT);
  const doctor = appointment.doctor;
  const zone = useQuery(DOCTOR_TIME_ZONE, { variables: { doctorId: doctor.id } });
  const doctorZone = zone.data?.doctorSchedule?.timeZone;

  async function submit(event) {
    event.preventDefault();
    setProblem(null);
    try {
      const { data } = await reschedule({ variables: { id: appointment.id, startsAt: slot } });
      const result = data.rescheduleAppointment;
      if (result.__typename === "AppointmentPayload") {
        onDone(`Moved to ${bothZones(result.appointment.startsAt, doctorZone)}.`);
        return;
      }
      setProblem(problemsOf(result)[""] ?? result.message);
      if (result.__typename === "SlotUnavailable") {
        setTaken(new Set([...taken, slot]));
        setSlot(null);
        setReloadKey(reloadKey + 1);
      }
    } catch (error) {
      setProblem(failureMessage(error));
    }
  }

  return (
    <Card title={`Move to another time with ${doctor.fullName}`}>
      <form onSubmit={submit}>
        <WeekCalendar doctor={doctor} selected={slot} onSelect={setSlot} hidden={taken} reloadKey={reloadKey} />
        {problem && (
          <p role="alert" className="notice error">
            {problem}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={!slot || loading}>
            {slot ? `Move to ${bothZones(slot, doctorZone)}` : "Move"}
          </button>
          <button type="button" onClick={onClose}>
            Keep current time
          </button>
        </div>
      </form>
    </Card>
  );
}
