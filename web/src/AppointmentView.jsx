import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect } from "react";
import { when } from "./format.js";
import { notificationEvents } from "./hooks.js";
import { ConsultationSection } from "./Consultation.jsx";
import { APPOINTMENT_DETAIL, START_CONVERSATION } from "./operations.js";
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
      <ConsultationSection appointment={appointment} isDoctor={isDoctor} onChange={refetch} />
    </section>
  );
}
