import { useMutation } from "@apollo/client/react";
import { useState } from "react";
import { when } from "./format.js";
import { CREATE_CONSULTATION, SIGN_CONSULTATION } from "./operations.js";

/** An appointment's consultation: read by its patient, written and signed by its doctor. */
export function ConsultationSection({ appointment, isDoctor, onChange }) {
  return (
    <>
      <h2>Consultation</h2>
      {appointment.consultation ? (
        <Consultation consultation={appointment.consultation} canSign={isDoctor} />
      ) : isDoctor && appointment.status !== "CANCELLED" ? (
        <WriteConsultation appointmentId={appointment.id} onDone={onChange} />
      ) : (
        <p>Not written yet.</p>
      )}
    </>
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
