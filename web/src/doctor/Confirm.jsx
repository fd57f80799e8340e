// A button whose action needs a second, explicit "yes": the question appears in place,
// with the confirming button focused and a way back. No browser dialogs.
import { useEffect, useRef, useState } from "react";

/**
 * `label` opens the question; `confirmLabel` (styled `tone`: "primary" or "danger") runs
 * `onConfirm`, which may be async; "Cancel" closes it again.
 */
export function ConfirmButton({ label, question, confirmLabel, onConfirm, tone = "primary", disabled = false }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const confirmRef = useRef(null);
  const openerRef = useRef(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (wasAsking.current) openerRef.current?.focus();
    wasAsking.current = asking;
  }, [asking]);

  async function confirm() {
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      setBusy(false);
      setAsking(false);
    }
  }

  if (!asking) {
    return (
      <button type="button" ref={openerRef} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <div className="confirm" role="group" aria-label={label}>
      <p>{question}</p>
      <div className="actions">
        <button type="button" ref={confirmRef} className={tone} disabled={busy} onClick={confirm}>
          {confirmLabel}
        </button>
        <button type="button" disabled={busy} onClick={() => setAsking(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}
