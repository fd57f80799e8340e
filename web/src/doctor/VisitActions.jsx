// On an appointment page, for its doctor: record how the visit went ("Mark completed",
// "Mark no-show"). The API allows both only on a scheduled visit that has started, so
// before then this says when they become possible.
import { useMutation } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { failureMessage } from "../forms.jsx";
import { ConfirmButton } from "./Confirm.jsx";
import { moment } from "./dates.js";
import { COMPLETE_APPOINTMENT, MARK_NO_SHOW } from "./operations.js";

export function VisitActions({ appointment, user }) {
  const started = useHasStarted(appointment.startsAt);
  const [complete] = useMutation(COMPLETE_APPOINTMENT);
  const [markNoShow] = useMutation(MARK_NO_SHOW);
  const [problem, setProblem] = useState(null);
  const [done, setDone] = useState(null);

  if (!user || user.id !== appointment.doctor?.id) return null;
  if (appointment.status !== "SCHEDULED") {
    return done ? (
      <p className="notice ok" role="status">
        {done}
      </p>
    ) : null;
  }

  async function run(mutate, field, doneMessage) {
    setProblem(null);
    try {
      const { data } = await mutate({ variables: { id: appointment.id } });
      const result = data[field];
      if (result.__typename === "AppointmentPayload") setDone(doneMessage);
      else setProblem(result.message);
    } catch (error) {
      setProblem(failureMessage(error));
    }
  }

  return (
    <section className="card visit-actions" aria-labelledby="visit-actions-title">
      <h2 id="visit-actions-title">Visit outcome</h2>
      {started ? (
        <div className="actions">
          <ConfirmButton
            label="Mark completed"
            question="Mark this visit completed? The patient is told, and it cannot be undone."
            confirmLabel="Yes, mark completed"
            onConfirm={() => run(complete, "completeAppointment", "Marked completed.")}
          />
          <ConfirmButton
            label="Mark no-show"
            question="Mark that the patient did not come? The patient is told, and it cannot be undone."
            confirmLabel="Yes, mark no-show"
            tone="danger"
            onConfirm={() => run(markNoShow, "markAppointmentNoShow", "Marked as a no-show.")}
          />
        </div>
      ) : (
        <p className="hint">
          Once the visit has started ({moment(appointment.startsAt)}), you can mark it completed or a
          no-show here.
        </p>
      )}
      {problem && <p role="alert">{problem}</p>}
    </section>
  );
}

/** Whether `iso` has passed; turns true by itself when it does. */
function useHasStarted(iso) {
  const [now, setNow] = useState(() => Date.now());
  const startsAt = Date.parse(iso);
  useEffect(() => {
    if (startsAt <= now) return undefined;
    // setTimeout takes at most ~24.8 days; check again then if it is further away.
    const timer = setTimeout(() => setNow(Date.now()), Math.min(startsAt - now + 500, 2 ** 31 - 1));
    return () => clearTimeout(timer);
  }, [startsAt, now]);
  return startsAt <= now;
}
