// Video visits: the "Join video visit" button of an appointment, the ring of an incoming
// call (wherever the callee is in the app), and the call itself. One call at a time per
// signed-in user, held by <CallProvider>; the media and the peer connection are in
// webrtc.js.
import { useApolloClient } from "@apollo/client/react";
import { print } from "graphql";
import { createContext, useContext, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { when } from "./format.js";
import { useResumable } from "./hooks.js";
import {
  DECLINE_VIDEO_CALL,
  JOIN_VIDEO_CALL,
  LEAVE_VIDEO_CALL,
  LIVE_VIDEO_CALLS,
  START_VIDEO_CALL,
  VIDEO_CALL_CHANGED,
} from "./operations.js";
import { currentSession } from "./session.js";
import { CallSession } from "./webrtc.js";

const CallContext = createContext(null);

/** Every videoCallChanged event is announced here (an open appointment refreshes). */
export const callEvents = new EventTarget();

const isLive = (call) => call?.state === "RINGING" || call?.state === "ACTIVE";
const LIVE_CALLS_LOOKBACK_MS = 24 * 3_600_000; // a call's window closes soon after its visit

export function useCalls() {
  return useContext(CallContext);
}

/**
 * The current call ({call, session, otherName, ended}) and the call ringing for this user,
 * from `videoCallChanged`. That subscription is live only: each time it (re)subscribes,
 * the calls ringing now are read again.
 */
export function CallProvider({ user, navigate, children }) {
  const client = useApolloClient();
  const [current, setCurrent] = useState(null);
  const [ringing, setRinging] = useState(null);
  const currentId = useRef(null);
  currentId.current = current && !current.ended ? current.call.id : null;

  const ringsForMe = (call) =>
    call.state === "RINGING" && call.caller.id !== user.id && call.id !== currentId.current;

  useResumable(
    VIDEO_CALL_CHANGED,
    {
      variables: () => ({}),
      onData: ({ videoCallChanged: call }) => {
        callEvents.dispatchEvent(new CustomEvent("call", { detail: call }));
        setRinging((shown) => (ringsForMe(call) ? call : shown?.id === call.id ? null : shown));
        setCurrent((c) => (c?.call.id === call.id ? { ...c, call } : c));
        if (!isLive(call) && call.id === currentId.current) current?.session.finish(call.state);
      },
      onSubscribe: () =>
        client
          .query({
            query: LIVE_VIDEO_CALLS,
            variables: { from: new Date(Date.now() - LIVE_CALLS_LOOKBACK_MS).toISOString() },
            fetchPolicy: "network-only",
          })
          .then(({ data }) => {
            const calls = data.appointments.nodes.map((a) => a.activeVideoCall).filter(Boolean);
            setRinging(calls.find(ringsForMe) ?? null);
          })
          .catch(() => {}),
    },
    [],
  );

  // Signed out, or the session ended: no camera left running, no call left open.
  const live = useRef(null);
  live.current = currentId.current ? current.session : null;
  useEffect(
    () => () => {
      if (!live.current) return;
      live.current.finish("ENDED");
      leaveOnUnload(live.current.callId);
    },
    [],
  );

  // Closing or reloading the page leaves the call: a new page cannot take over its media.
  useEffect(() => {
    if (!currentId.current) return undefined;
    const callId = currentId.current;
    const leave = () => leaveOnUnload(callId);
    window.addEventListener("pagehide", leave);
    return () => window.removeEventListener("pagehide", leave);
  }, [current?.call.id, current?.ended]); // eslint-disable-line react-hooks/exhaustive-deps

  function begin(call, otherName, offerFirst) {
    current?.session.finish("ENDED");
    const session = new CallSession({
      client,
      callId: call.id,
      polite: user.role === "PATIENT", // either works, as long as the two sides differ
      offerFirst,
      onEnded: (state) =>
        setCurrent((c) => (c?.session === session ? { ...c, ended: state, call: { ...c.call, state } } : c)),
    });
    setRinging((shown) => (shown?.id === call.id ? null : shown));
    setCurrent({ call, session, otherName, isCaller: offerFirst, ended: null });
    session.start().catch((error) => session.fail(error.message));
  }

  async function mutate(mutation, variables, field) {
    const { data } = await client.mutate({ mutation, variables });
    const result = data[field];
    if (result.__typename !== "VideoCallPayload") throw new Error(result.message);
    return result.videoCall;
  }

  /** From an appointment: ring the other party, or answer them if they are ringing. */
  async function join(appointment, otherName) {
    await leave(); // one call at a time
    const earlier = appointment.activeVideoCall;
    if (isLive(earlier) && (earlier.caller.id === user.id || earlier.state === "ACTIVE")) {
      // Ours, left by an earlier page (or another tab): its media cannot be taken over,
      // so end it and ring afresh.
      await mutate(LEAVE_VIDEO_CALL, { callId: earlier.id }, "leaveVideoCall");
    }
    // The call ringing now if there is one (theirs: answer it), else a new one (ours).
    let call = await mutate(START_VIDEO_CALL, { appointmentId: appointment.id }, "startVideoCall");
    const mine = call.caller.id === user.id;
    if (!mine) call = await mutate(JOIN_VIDEO_CALL, { callId: call.id }, "joinVideoCall");
    begin(call, otherName, mine);
  }

  async function answer(call) {
    await leave(); // one call at a time
    const joined = await mutate(JOIN_VIDEO_CALL, { callId: call.id }, "joinVideoCall");
    begin(joined, call.caller.fullName, false);
    navigate(`appointments/${call.appointmentId}`);
  }

  async function decline(call) {
    setRinging(null);
    await mutate(DECLINE_VIDEO_CALL, { callId: call.id }, "declineVideoCall").catch(() => {});
  }

  /** Hang up the current call, if there is one. */
  async function leave() {
    if (!currentId.current) return;
    const { session, call } = current;
    const ended = await mutate(LEAVE_VIDEO_CALL, { callId: call.id }, "leaveVideoCall").catch(() => null);
    session.finish(ended?.state ?? "ENDED");
  }

  const value = { current, ringing, join, answer, decline, leave, close: () => setCurrent(null) };
  return <CallContext.Provider value={value}>{children}</CallContext.Provider>;
}

function leaveOnUnload(callId) {
  const token = currentSession()?.accessToken;
  if (!token) return;
  fetch("/graphql", {
    method: "POST",
    keepalive: true, // outlives the page
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(LEAVE_VIDEO_CALL), variables: { callId } }),
  }).catch(() => {});
}

/** The ring, wherever the callee is in the app. */
export function IncomingCall() {
  const { current, ringing, answer, decline } = useCalls();
  const [problem, setProblem] = useState(null);
  if (!ringing) return null;
  const act = (action) => action(ringing).catch((error) => setProblem(error.message));
  return (
    <div className="incoming-call" role="alertdialog" aria-label="Incoming video call">
      <p>
        <strong>{ringing.caller.fullName}</strong> is calling you for your video visit.
        {current && !current.ended && " Answering ends your current call."}
      </p>
      <button type="button" className="answer" onClick={() => act(answer)}>
        Answer
      </button>
      <button type="button" onClick={() => act(decline)}>
        Decline
      </button>
      {problem && <p role="alert">{problem}</p>}
    </div>
  );
}

/** The call: remote video, the local preview, its state, and the controls. */
export function CallView() {
  const { current, leave, close } = useCalls();
  if (!current) return null;
  return <Call key={current.session.callId} current={current} hangUp={leave} close={close} />;
}

const ENDED_TEXT = {
  ENDED: "The call has ended.",
  DECLINED: "The call was declined.",
  MISSED: "No answer.",
};

function Call({ current, hangUp, close }) {
  const { session, call, otherName, isCaller, ended } = current;
  const media = useSyncExternalStore(session.subscribe, session.getSnapshot);
  let status;
  if (ended) status = ENDED_TEXT[ended] ?? ENDED_TEXT.ENDED;
  else if (isCaller && call.state === "RINGING") status = `Ringing ${otherName}…`;
  else if (media.connectionState === "connected") status = "Connected";
  else if (media.stalled) status = "Could not connect.";
  else if (["disconnected", "failed"].includes(media.connectionState)) status = "Reconnecting…";
  else status = "Connecting…";

  return (
    <section className="call" aria-label="Video call">
      <h2>Video visit with {otherName}</h2>
      <p role="status" className="call-status" data-testid="call-status">
        {status}
      </p>
      {!ended && (
        <div className="videos">
          <Video stream={media.remoteStream} label={`${otherName}'s video`} className="remote" />
          <Video stream={media.localStream} label="Your camera" className="preview" muted />
        </div>
      )}
      <p className="connection">
        Connection: <span data-testid="connection-state">{media.connectionState}</span>
      </p>
      {media.problem && <p role="alert">{media.problem}</p>}
      {media.stalled && !ended && (
        <p role="alert">{media.stalled} Hang up and call again if it does not connect.</p>
      )}
      <div className="controls">
        {ended ? (
          <button type="button" onClick={close}>
            Close
          </button>
        ) : (
          <>
            <button
              type="button"
              aria-pressed={media.muted}
              disabled={!media.localStream?.getAudioTracks().length}
              onClick={() => session.setMuted(!media.muted)}
            >
              {media.muted ? "Unmute microphone" : "Mute microphone"}
            </button>
            <button
              type="button"
              aria-pressed={media.cameraOff}
              disabled={!media.localStream?.getVideoTracks().length}
              onClick={() => session.setCameraOff(!media.cameraOff)}
            >
              {media.cameraOff ? "Turn camera on" : "Turn camera off"}
            </button>
            <button type="button" className="hang-up" onClick={hangUp}>
              Hang up
            </button>
          </>
        )}
      </div>
    </section>
  );
}

function Video({ stream, label, className, muted = false }) {
  const ref = useRef(null);
  useEffect(() => {
    if (ref.current) ref.current.srcObject = stream ?? null;
  }, [stream]);
  return <video ref={ref} className={className} aria-label={label} autoPlay playsInline muted={muted} />;
}

/** On an appointment: its video visit. "Join video visit" while its window is open. */
export function VideoVisit({ appointment, otherName, onWindowChange }) {
  const { current, join } = useCalls();
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const callWindow = appointment.videoCallWindow;
  // The button appears when the window opens and goes when it closes, without a reload.
  useEffect(() => {
    const next = [callWindow.opensAt, callWindow.closesAt].map(Date.parse).find((t) => t > Date.now());
    if (next === undefined || appointment.status !== "SCHEDULED") return undefined;
    const timer = setTimeout(onWindowChange, Math.min(next - Date.now() + 1000, 2 ** 31 - 1));
    return () => clearTimeout(timer);
  }, [callWindow.opensAt, callWindow.closesAt, appointment.status, onWindowChange]);

  const inThisCall = current && !current.ended && current.call.appointmentId === appointment.id;
  const past = appointment.videoCalls.filter((c) => !isLive(c));

  async function start() {
    setBusy(true);
    setProblem(null);
    try {
      await join(appointment, otherName); // if they are ringing us now, this answers
    } catch (error) {
      setProblem(error.message);
    } finally {
      setBusy(false);
    }
  }

  if (appointment.status !== "SCHEDULED" && past.length === 0) return null;
  return (
    <section aria-labelledby="video-visit">
      <h2 id="video-visit">Video visit</h2>
      {appointment.status === "SCHEDULED" &&
        (callWindow.isOpen ? (
          inThisCall ? (
            <p>You are in the call.</p>
          ) : (
            <button type="button" className="join" disabled={busy} onClick={start}>
              Join video visit
            </button>
          )
        ) : (
          <p>
            You can join from {when(callWindow.opensAt)} until {when(callWindow.closesAt)}.
          </p>
        ))}
      {problem && <p role="alert">{problem}</p>}
      {past.length > 0 && (
        <ul aria-label="Earlier calls">
          {past.map((c) => (
            <li key={c.id}>
              {when(c.rungAt)}: {c.state.toLowerCase()}
              {c.durationSeconds != null && `, ${Math.round(c.durationSeconds / 60)} min`}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
