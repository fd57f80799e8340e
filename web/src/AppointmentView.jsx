import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { when } from "./format.js";
import { notificationEvents } from "./hooks.js";
import {
  APPOINTMENT_DETAIL,
  CREATE_CONSULTATION,
  SIGN_CONSULTATION,
  START_CONVERSATION,
} from "./operations.js";
import { VideoVisit, callEvents } from "./VideoCall.jsx";

export function AppointmentView({ id, user, navigate }) {
  const { data, loading, refetch } = useQuery(APPOINTMENT_DETAIL, {
    variables: { id },
    fetchPolicy: "cache-and-network",
  });
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
  if (loading && !data) return <p>Loading…</p>;
  const appointment = data?.appointment;
  if (!appointment) return <p>No such appointment.</p>; // or one you may not see: same answer

  const isDoctor = user.id === appointment.doctor.id;
  const other = isDoctor ? appointment.patient : appointment.doctor;

  async function message() {
    const { data: result } = await startConversation({ variables: { withUserId: other.id } });
    const outcome = result.startConversation;
    if (outcome.__typename === "ConversationPayload") navigate(`chat/${outcome.conversation.id}`);
  }

  return (
    <section>
      <h1>Appointment</h1>
      <dl>
        <dt>When</dt>
        <dd>{when(appointment.startsAt)}</dd>
        <dt>{isDoctor ? "Patient" : "Doctor"}</dt>
        <dd>
          {other.fullName} {other.specialty && <small>({other.specialty})</small>}
        </dd>
        <dt>Reason</dt>
        <dd>{appointment.reason}</dd>
        <dt>Status</dt>
        <dd>{appointment.status.toLowerCase().replace("_", " ")}</dd>
      </dl>
      <button type="button" onClick={message}>
        Message {other.fullName}
      </button>
      <VideoVisit appointment={appointment} otherName={other.fullName} onWindowChange={refetch} />
      <h2>Consultation</h2>
      {appointment.consultation ? (
        <Consultation consultation={appointment.consultation} canSign={isDoctor} />
      ) : isDoctor && appointment.status !== "CANCELLED" ? (
        <WriteConsultation appointmentId={appointment.id} onDone={refetch} />
      ) : (
        <p>Not written yet.</p>
      )}
    </section>
  );
}

function Consultation({ consultation: c, canSign }) {
  const [sign, { loading }] = useMutation(SIGN_CONSULTATION);
  return (
    <article className="consultation">
      <p>{c.isSigned ? `Signed ${when(c.signedAt)}` : "Draft"}</p>
      <dl>
        <dt>History</dt>
        <dd>{c.medicalHistory || "—"}</dd>
        <dt>Examination</dt>
        <dd>{c.examinationFindings || "—"}</dd>
        <dt>Investigations</dt>
        <dd>{c.investigations || "—"}</dd>
        <dt>Plan</dt>
        <dd>{c.treatmentPlan || "—"}</dd>
        {c.reviewDate && (
          <>
            <dt>Review</dt>
            <dd>{c.reviewDate}</dd>
          </>
        )}
      </dl>
      {c.prescriptions.length > 0 && (
        <table aria-label="Prescriptions">
          <thead>
            <tr>
              <th>Medication</th>
              <th>Dose</th>
              <th>How</th>
              <th>For</th>
            </tr>
          </thead>
          <tbody>
            {c.prescriptions.map((p, i) => (
              <tr key={i}>
                <td>{p.medication}</td>
                <td>{p.dose}</td>
                <td>
                  {p.route}, {p.frequency}
                  {p.instructions && <small> — {p.instructions}</small>}
                </td>
                <td>{p.duration}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {c.addenda.map((a) => (
        <p key={a.createdAt} className="addendum">
          Addendum, {when(a.createdAt)}: {a.text}
        </p>
      ))}
      {canSign && !c.isSigned && (
        <button type="button" disabled={loading} onClick={() => sign({ variables: { id: c.id } })}>
          Sign
        </button>
      )}
    </article>
  );
}

function WriteConsultation({ appointmentId, onDone }) {
  const [input, setInput] = useState({ medicalHistory: "", examinationFindings: "", treatmentPlan: "" });
  const [problem, setProblem] = useState(null);
  const [create, { loading }] = useMutation(CREATE_CONSULTATION);
  const field = (name, label) => (
    <label>
      {label}
      <textarea value={input[name]} onChange={(e) => setInput({ ...input, [name]: e.target.value })} />
    </label>
  );

  async function submit(event) {
    event.preventDefault();
    const { data } = await create({ variables: { input: { appointmentId, ...input } } });
    const result = data.createConsultation;
    if (result.__typename === "ConsultationPayload") onDone();
    else setProblem(result.message);
  }

  return (
    <form onSubmit={submit}>
      {field("medicalHistory", "History")}
      {field("examinationFindings", "Examination")}
      {field("treatmentPlan", "Plan")}
      {problem && <p role="alert">{problem}</p>}
      <button type="submit" disabled={loading}>
        Save draft
      </button>
    </form>
  );
}
