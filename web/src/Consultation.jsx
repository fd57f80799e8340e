// An appointment's consultation. Its doctor writes a draft (all clinical fields and
// structured prescriptions), edits it, signs it (final), then adds addenda; its patient
// reads the same content, never an edit control.
import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useId, useRef, useState } from "react";
import { ConfirmButton } from "./doctor/Confirm.jsx";
import { moment } from "./doctor/dates.js";
import {
  ADD_CONSULTATION_ADDENDUM,
  APPOINTMENT_CONSULTATION,
  CREATE_CONSULTATION_DRAFT,
  SIGN_CONSULTATION_FINAL,
  UPDATE_CONSULTATION,
} from "./doctor/operations.js";
import { Field, failureMessage, problemsOf } from "./forms.jsx";
import { QueryState } from "./ui.jsx";

const TEXT_FIELDS = [
  ["medicalHistory", "History"],
  ["examinationFindings", "Examination"],
  ["investigations", "Investigations"],
  ["treatmentPlan", "Plan"],
];
const PRESCRIPTION_FIELDS = [
  ["medication", "Medication", "like Amoxicillin"],
  ["dose", "Dose", "like 500 mg"],
  ["route", "Route", "like oral"],
  ["frequency", "Frequency", "like three times a day"],
  ["duration", "Duration", "like 7 days"],
  ["instructions", "Instructions (optional)", "like after meals"],
];

/** The consultation part of an appointment page (AppointmentView renders it). */
export function ConsultationSection({ appointment, isDoctor, onChange }) {
  const result = useQuery(APPOINTMENT_CONSULTATION, {
    variables: { appointmentId: appointment.id },
    fetchPolicy: "cache-and-network",
  });
  // The page reads the appointment again when notes change (a notification): so do we.
  const parentVersion = JSON.stringify(appointment.consultation ?? null);
  const firstVersion = useRef(parentVersion);
  const { refetch } = result;
  useEffect(() => {
    if (parentVersion !== firstVersion.current) refetch();
  }, [parentVersion, refetch]);

  const changed = async () => {
    await refetch();
    onChange?.();
  };

  return (
    <section className="card consultation-section" aria-labelledby="consultation-title">
      <h2 id="consultation-title">Consultation</h2>
      <QueryState result={result} loading="Loading the consultation">
        {(data) => {
          const c = data.appointment?.consultation;
          if (!c) {
            return isDoctor && appointment.status !== "CANCELLED" ? (
              <ConsultationEditor appointmentId={appointment.id} onSaved={changed} />
            ) : (
              <p className="hint">Not written yet.</p>
            );
          }
          return isDoctor ? <AuthorView consultation={c} onChange={changed} /> : <ReadOnly consultation={c} />;
        }}
      </QueryState>
    </section>
  );
}

// ---- reading -------------------------------------------------------------------------------

/** What the patient sees: the notes, the prescriptions as sentences, the addenda. */
function ReadOnly({ consultation: c }) {
  return (
    <article className="consultation">
      <SignatureLine consultation={c} />
      <Content consultation={c} />
      <Addenda addenda={c.addenda} />
    </article>
  );
}

function SignatureLine({ consultation: c, author = false }) {
  const revision = c.revisions.at(-1);
  if (c.isSigned) {
    return (
      <p className="consultation-state">
        <span className="status completed">Signed</span> by {c.doctor.fullName},{" "}
        <time dateTime={c.signedAt}>{moment(c.signedAt)}</time>
      </p>
    );
  }
  return (
    <p className="consultation-state">
      <span className="status draft">Draft</span>{" "}
      {author
        ? revision && (
            <>
              revision {revision.number}, saved <time dateTime={revision.createdAt}>{moment(revision.createdAt)}</time>
            </>
          )
        : `${c.doctor.fullName} may still change it.`}
    </p>
  );
}

function Content({ consultation: c, author = false }) {
  return (
    <>
      <dl>
        {TEXT_FIELDS.map(([name, label]) => (
          <Entry key={name} term={label} text={c[name]} />
        ))}
        <Entry term="Review" text={c.reviewDate ? reviewDay(c.reviewDate) : "No review planned"} />
        {author && <Entry term="Private notes" text={c.privateNotes} />}
      </dl>
      <h3>Prescriptions</h3>
      {c.prescriptions.length === 0 ? (
        <p className="hint">None.</p>
      ) : (
        <ul className="prescriptions" aria-label="Prescriptions">
          {c.prescriptions.map((p, i) => (
            <li key={i}>
              <strong>{p.medication}</strong> {p.dose}, {p.route}, {p.frequency}, for {p.duration}.
              {p.instructions && <span className="instructions"> {p.instructions}</span>}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Entry({ term, text }) {
  return (
    <>
      <dt>{term}</dt>
      <dd className="prose">{text || "—"}</dd>
    </>
  );
}

/** "Mon 4 Jan 2027" of a YYYY-MM-DD (a calendar day: no time zone moves it). */
function reviewDay(date) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(y, m - 1, d).toLocaleDateString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
  });
}

function Addenda({ addenda }) {
  if (addenda.length === 0) return null;
  return (
    <>
      <h3>Addenda</h3>
      <ol className="rows addenda" aria-label="Addenda">
        {addenda.map((a) => (
          <li key={a.id}>
            <span className="grow">
              <small className="hint">
                <time dateTime={a.createdAt}>{moment(a.createdAt)}</time>, {a.author.fullName}
              </small>
              <br />
              <span className="prose">{a.text}</span>
            </span>
          </li>
        ))}
      </ol>
    </>
  );
}

// ---- the author's view ---------------------------------------------------------------------

function AuthorView({ consultation: c, onChange }) {
  const [editing, setEditing] = useState(false);
  const [problem, setProblem] = useState(null);
  const [sign] = useMutation(SIGN_CONSULTATION_FINAL);

  if (editing) {
    return (
      <ConsultationEditor
        consultation={c}
        onSaved={async () => {
          setEditing(false);
          await onChange();
        }}
        onCancel={() => setEditing(false)}
        onDiscard={async () => {
          setEditing(false);
          await onChange();
        }}
      />
    );
  }

  async function signNow() {
    setProblem(null);
    try {
      const { data } = await sign({ variables: { id: c.id } });
      const result = data.signConsultation;
      if (result.__typename !== "ConsultationPayload") setProblem(result.message);
      await onChange();
    } catch (error) {
      setProblem(failureMessage(error));
    }
  }

  return (
    <article className="consultation">
      <SignatureLine consultation={c} author />
      <Content consultation={c} author />
      {problem && <p role="alert">{problem}</p>}
      {!c.isSigned && (
        <div className="actions">
          <button type="button" onClick={() => setEditing(true)}>
            Edit draft
          </button>
          <ConfirmButton
            label="Sign"
            question="Signing is final: the notes can no longer be changed, only added to with an addendum. Sign now?"
            confirmLabel="Sign consultation"
            onConfirm={signNow}
          />
        </div>
      )}
      <Addenda addenda={c.addenda} />
      {c.isSigned && <AddAddendum consultationId={c.id} onAdded={onChange} />}
    </article>
  );
}

function AddAddendum({ consultationId, onAdded }) {
  const [text, setText] = useState("");
  const [problems, setProblems] = useState({});
  const [add, { loading }] = useMutation(ADD_CONSULTATION_ADDENDUM);

  async function submit(event) {
    event.preventDefault();
    if (!text.trim()) {
      setProblems({ text: "Write the addendum first." });
      return;
    }
    try {
      const { data } = await add({ variables: { consultationId, text } });
      const result = data.addConsultationAddendum;
      if (result.__typename === "ConsultationPayload") {
        setText("");
        setProblems({});
        await onAdded();
      } else setProblems(problemsOf(result, ["text"]));
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate className="add-addendum">
      <TextArea
        label="Addendum"
        hint="Signed notes cannot change; an addendum is added below them, with the time. The patient is told."
        value={text}
        maxLength={4000}
        error={problems.text}
        onChange={(e) => setText(e.target.value)}
      />
      {problems[""] && <p role="alert">{problems[""]}</p>}
      <button type="submit" className="primary" disabled={loading}>
        Add addendum
      </button>
    </form>
  );
}

// ---- writing -------------------------------------------------------------------------------

let nextKey = 0;
const emptyPrescription = () => ({
  key: ++nextKey,
  ...Object.fromEntries(PRESCRIPTION_FIELDS.map(([name]) => [name, ""])),
});

function formOf(c) {
  return {
    medicalHistory: c?.medicalHistory ?? "",
    examinationFindings: c?.examinationFindings ?? "",
    investigations: c?.investigations ?? "",
    treatmentPlan: c?.treatmentPlan ?? "",
    privateNotes: c?.privateNotes ?? "",
    reviewDate: c?.reviewDate ?? "",
  };
}

/**
 * A new draft (`appointmentId`) or changes to one (`consultation`). An edit is sent with
 * the revision it started from (`expectedRevision`): if the draft was saved since (another
 * tab or device), the API changes nothing and answers RevisionConflict; this says so and
 * offers both ways out: save these edits over that revision, or drop them and read it.
 */
function ConsultationEditor({ appointmentId, consultation, onSaved, onCancel, onDiscard }) {
  const [fields, setFields] = useState(() => formOf(consultation));
  const [prescriptions, setPrescriptions] = useState(() =>
    (consultation?.prescriptions ?? []).map((p) => ({ key: ++nextKey, ...stripTypename(p) })),
  );
  const [base, setBase] = useState(() => newestRevision(consultation));
  const [conflict, setConflict] = useState(null);
  const [problems, setProblems] = useState({});
  const [busy, setBusy] = useState(false);
  const [create] = useMutation(CREATE_CONSULTATION_DRAFT);
  const [update] = useMutation(UPDATE_CONSULTATION);

  const setField = (name) => (e) => setFields({ ...fields, [name]: e.target.value });
  const setItem = (key, name, value) =>
    setPrescriptions(prescriptions.map((p) => (p.key === key ? { ...p, [name]: value } : p)));

  function input() {
    return {
      ...fields,
      reviewDate: fields.reviewDate || null,
      prescriptions: prescriptions.map(({ key: _key, ...item }) => item),
    };
  }
  const fieldNames = [
    ...TEXT_FIELDS.map(([name]) => name),
    "privateNotes",
    "reviewDate",
    "prescriptions",
    ...prescriptions.flatMap((_, i) => PRESCRIPTION_FIELDS.map(([name]) => `prescriptions[${i}].${name}`)),
  ];

  async function save(expectedRevision = base) {
    setBusy(true);
    setProblems({});
    try {
      const { data } = consultation
        ? await update({ variables: { id: consultation.id, input: { ...input(), expectedRevision } } })
        : await create({ variables: { input: { appointmentId, ...input() } } });
      const result = consultation ? data.updateConsultation : data.createConsultation;
      if (result.__typename === "ConsultationPayload") {
        setConflict(null);
        await onSaved(result.consultation);
      } else if (result.__typename === "RevisionConflict") {
        setConflict({ revision: result.currentRevision });
      } else {
        setProblems(problemsOf(result, fieldNames));
      }
    } catch (error) {
      setProblems({ "": failureMessage(error) });
    } finally {
      setBusy(false);
    }
  }

  async function takeTheirs() {
    setConflict(null);
    await onDiscard?.();
  }

  function submit(event) {
    event.preventDefault();
    save();
  }

  return (
    <form onSubmit={submit} noValidate className="consultation-editor">
      {TEXT_FIELDS.map(([name, label]) => (
        <TextArea key={name} label={label} value={fields[name]} error={problems[name]} onChange={setField(name)} />
      ))}
      <div className="form-row">
        <Field
          label="Review date (optional)"
          type="date"
          value={fields.reviewDate}
          error={problems.reviewDate}
          onChange={setField("reviewDate")}
        />
      </div>
      <fieldset className="prescription-list">
        <legend>Prescriptions</legend>
        {prescriptions.length === 0 && <p className="hint">None yet.</p>}
        {problems.prescriptions && <p role="alert">{problems.prescriptions}</p>}
        {prescriptions.map((p, i) => (
          <fieldset key={p.key} className="prescription">
            <legend>Prescription {i + 1}</legend>
            <div className="form-row">
              {PRESCRIPTION_FIELDS.map(([name, label, example]) => (
                <Field
                  key={name}
                  label={label}
                  value={p[name]}
                  placeholder={example}
                  list={name === "route" ? "prescription-routes" : undefined}
                  error={problems[`prescriptions[${i}].${name}`]}
                  onChange={(e) => setItem(p.key, name, e.target.value)}
                />
              ))}
            </div>
            <button
              type="button"
              aria-label={`Remove prescription ${i + 1}${p.medication ? ` (${p.medication})` : ""}`}
              onClick={() => setPrescriptions(prescriptions.filter((item) => item.key !== p.key))}
            >
              Remove
            </button>
          </fieldset>
        ))}
        <datalist id="prescription-routes">
          {["oral", "topical", "inhaled", "sublingual", "subcutaneous", "intramuscular", "intravenous", "rectal"].map((r) => (
            <option key={r} value={r} />
          ))}
        </datalist>
        <button type="button" onClick={() => setPrescriptions([...prescriptions, emptyPrescription()])}>
          Add prescription
        </button>
      </fieldset>
      <TextArea
        label="Private notes (only you see these)"
        value={fields.privateNotes}
        error={problems.privateNotes}
        onChange={setField("privateNotes")}
      />
      {conflict && (
        <div className="notice error" role="alert">
          <p>
            This draft was saved elsewhere after you opened it (it is at revision {conflict.revision} now, you
            started from revision {base}). Your changes are not saved yet.
          </p>
          <div className="actions">
            <button
              type="button"
              className="danger"
              disabled={busy}
              onClick={() => {
                setBase(conflict.revision);
                save(conflict.revision);
              }}
            >
              Save mine over theirs
            </button>
            <button type="button" disabled={busy} onClick={takeTheirs}>
              Discard mine, show theirs
            </button>
          </div>
        </div>
      )}
      {problems[""] && <p role="alert">{problems[""]}</p>}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Save draft
        </button>
        {onCancel && (
          <button type="button" disabled={busy} onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/** The number of a draft's newest revision (its author sees them all), or null for none. */
function newestRevision(c) {
  if (!c) return null;
  return c.revisions.at(-1)?.number ?? 0;
}

function stripTypename({ __typename: _typename, ...rest }) {
  return rest;
}

/** A textarea with its label, an optional hint, and its error read out with it. */
function TextArea({ label, hint, error, ...textarea }) {
  const errorId = useId();
  const hintId = useId();
  const describedBy = [hint && hintId, error && errorId].filter(Boolean).join(" ") || undefined;
  return (
    <label>
      {label}
      {hint && (
        <span id={hintId} className="hint field-hint">
          {hint}
        </span>
      )}
      <textarea aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...textarea} />
      {error && (
        <span role="alert" id={errorId} className="field-error">
          {error}
        </span>
      )}
    </label>
  );
}
