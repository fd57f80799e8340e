// One video call's media and RTCPeerConnection, negotiated over the API: our offers,
// answers and ICE candidates go out with sendCallSignal (one at a time, in order), the
// other party's come in from callSignals, which resumes from the last `seq` seen after
// the socket drops (live.js). No React here: VideoCall.jsx renders what this reports.
//
// Perfect negotiation (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example):
// either side may offer at any time (a renegotiation, an ICE restart); when both offer at
// once, the impolite peer ignores the other's offer and the polite one rolls its own back.
// The caller offers as soon as it rings (the API keeps the signals for the callee); the
// callee answers that offer with its camera and microphone, and offers itself only if no
// offer has come after a few seconds.
import { backoff, errorCode, maxSeq, resumable } from "./live.js";
import { CALL_SIGNALS, ICE_SERVERS, SEND_CALL_SIGNAL, VIDEO_CALL_STATE } from "./operations.js";

const CALLEE_WAITS_FOR_OFFER_MS = 4000;
const CONNECT_TIMEOUT_MS = 15_000; // from the first answer: past that, say it is not working
const DISCONNECTED_GRACE_MS = 2500; // "disconnected" often heals by itself: wait, then restart
const MAX_RESTARTS = 5; // in a row without connecting: past that, it has failed
const SEND_ATTEMPTS = 8;
const ENDED_STATES = new Set(["ENDED", "DECLINED", "MISSED"]);

/** A developer setting, kept out of the UI: `localStorage["healthcare.iceTransportPolicy"]
 * = "relay"` sends all media through the TURN server (how the e2e test proves TURN works). */
export function iceTransportPolicy() {
  try {
    return localStorage.getItem("healthcare.iceTransportPolicy") === "relay" ? "relay" : "all";
  } catch {
    return "all";
  }
}

/** Camera and microphone; the microphone alone; or nothing (receive only). */
async function openMedia() {
  for (const constraints of [{ audio: true, video: true }, { audio: true }]) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch {
      // try with less
    }
  }
  return null;
}

export class CallSession {
  /**
   * @param {object} options
   * @param {import("@apollo/client").ApolloClient} options.client
   * @param {string} options.callId
   * @param {boolean} options.polite   yields when both offer at once (the patient's side)
   * @param {boolean} options.offerFirst  the caller: offers at once; the callee waits for it
   * @param {(state: string) => void} [options.onEnded]  with the call's end state
   */
  constructor({ client, callId, polite, offerFirst, onEnded }) {
    Object.assign(this, { client, callId, polite, offerFirst, onEnded });
    this.pc = null;
    this.localStream = null;
    this.remoteStream = new MediaStream();
    this.closed = false;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.tracksAdded = false;
    this.restartWanted = false;
    this.restarts = 0;
    this.gathered = 0; // candidates of the current gathering
    this.inbox = Promise.resolve(); // the other party's signals, handled one at a time
    this.outbox = Promise.resolve(); // ours, sent one at a time
    this.timers = {};
    this.listeners = new Set();
    this.snapshot = {
      connectionState: "new",
      iceConnectionState: "new",
      localStream: null,
      remoteStream: null,
      muted: false,
      cameraOff: false,
      ended: null, // the call's end state once it is over
      problem: null,
      stalled: null, // why it cannot connect (it keeps trying): no path, or too long
    };
  }

  // For useSyncExternalStore.
  subscribe = (listener) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = () => this.snapshot;

  update(patch) {
    this.snapshot = { ...this.snapshot, ...patch };
    this.listeners.forEach((listener) => listener());
  }

  /** The last signal seq seen (where callSignals resumes). */
  get lastSeq() {
    return this.signals?.cursor ?? 0;
  }

  async start() {
    window.__videoCall = this; // for the e2e test (getStats) and for debugging in the console
    this.localStream = await openMedia();
    if (this.closed) return this.stopMedia();
    if (!this.localStream)
      this.update({ problem: "No camera or microphone: you can see and hear, not be seen." });
    this.update({ localStream: this.localStream });

    const { data } = await this.client
      .query({ query: ICE_SERVERS, variables: { callId: this.callId }, fetchPolicy: "network-only" })
      .catch(() => ({ data: undefined }));
    if (this.closed) return undefined;
    if (!data) return this.fail("The server cannot be reached.");
    if (!data.iceServers) return this.endedElsewhere(); // null: no such live call any more

    const policy = iceTransportPolicy();
    const pc = new RTCPeerConnection({
      // RTCIceServer takes no nulls (STUN has no username): leave them out.
      iceServers: data.iceServers.map(({ urls, username, credential }) =>
        username == null ? { urls } : { urls, username, credential },
      ),
      iceTransportPolicy: policy,
    });
    this.pc = pc;
    pc.ontrack = ({ track }) => {
      track.addEventListener("ended", () => this.remoteStream.removeTrack(track));
      this.remoteStream.addTrack(track);
      this.update({ remoteStream: this.remoteStream });
    };
    pc.onicecandidate = ({ candidate }) => {
      // null (and, in some browsers, "") ends the candidates: nothing to send.
      if (!candidate?.candidate) return;
      this.gathered += 1;
      this.send("ICE_CANDIDATE", { candidate: candidateInit(candidate.toJSON()) });
    };
    // Not one candidate: no way to connect, and the connection would stay "new" forever
    // (a TURN server that refuses our credentials, with relay only; no network at all).
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === "gathering") this.gathered = 0;
      else if (pc.iceGatheringState === "complete" && this.gathered === 0) {
        this.stall(
          policy === "relay"
            ? "No network path: the relay (TURN) server could not be used."
            : "No network path: check your connection.",
        );
      }
    };
    pc.onnegotiationneeded = () => this.negotiate();
    pc.oniceconnectionstatechange = () => this.iceChanged();
    pc.onconnectionstatechange = () => {
      this.update({ connectionState: pc.connectionState });
      if (pc.connectionState === "connected") this.update({ stalled: null });
    };

    this.signals = resumable(this.client, {
      query: CALL_SIGNALS,
      cursor: 0, // every signal kept so far: the caller's offer may be waiting
      variables: (afterSeq) => ({ callId: this.callId, afterSeq }),
      advance: (cursor, d) => maxSeq(cursor, d.callSignals.seq),
      onData: (d) => this.received(d.callSignals),
      onError: (error) =>
        errorCode(error) === "CALL_ENDED" ? this.endedElsewhere() : this.fail(error.message),
    });
    if (this.offerFirst) this.addLocalTracks();
    else this.timers.offer = setTimeout(() => this.addLocalTracks(), CALLEE_WAITS_FOR_OFFER_MS);
    return undefined;
  }

  /** Tracks on the connection: the caller's fire `negotiationneeded` (an offer); the
   * callee's ride on its answer to the caller's offer, reusing the offer's transceivers. */
  addLocalTracks() {
    if (this.tracksAdded || this.closed) return;
    this.tracksAdded = true;
    clearTimeout(this.timers.offer);
    if (this.localStream) {
      for (const track of this.localStream.getTracks()) this.pc.addTrack(track, this.localStream);
    } else {
      for (const kind of ["audio", "video"]) this.pc.addTransceiver(kind, { direction: "recvonly" });
    }
  }

  async negotiate() {
    const pc = this.pc;
    try {
      this.makingOffer = true;
      const restart = this.restartWanted;
      if (restart) await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
      else await pc.setLocalDescription();
      if (this.closed) return;
      this.restartWanted = false;
      this.send(restart ? "ICE_RESTART" : "OFFER", { sdp: pc.localDescription.sdp });
    } catch (error) {
      if (!this.closed) console.warn("could not make an offer:", error);
    } finally {
      this.makingOffer = false;
    }
  }

  received(signal) {
    if (signal.kind === "HANGUP") {
      this.finish(signal.callState);
      return;
    }
    this.inbox = this.inbox
      .then(() => this.handle(signal))
      .catch((error) => this.closed || console.warn(`signal ${signal.seq} (${signal.kind}):`, error));
  }

  async handle({ kind, sdp, candidate }) {
    const pc = this.pc;
    if (this.closed) return;
    if (kind === "ICE_CANDIDATE") {
      try {
        await pc.addIceCandidate(candidateInit(candidate));
      } catch (error) {
        if (!this.ignoreOffer) throw error; // a candidate of an offer we ignored: expected
      }
      return;
    }
    const description = { type: kind === "ANSWER" ? "answer" : "offer", sdp }; // ICE_RESTART: an offer
    const collision = description.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    await pc.setRemoteDescription(description); // the polite peer rolls its own offer back
    this.timers.connect ??= setTimeout(() => {
      if (pc.connectionState !== "connected") this.stall("The connection is taking too long.");
    }, CONNECT_TIMEOUT_MS);
    if (description.type === "offer") {
      this.addLocalTracks();
      await pc.setLocalDescription();
      this.send("ANSWER", { sdp: pc.localDescription.sdp });
    }
  }

  /** Our signals, one at a time and in order (a candidate must not overtake its offer);
   * a request the network lost is sent again. */
  send(kind, payload) {
    this.outbox = this.outbox.then(() => this.deliver(kind, payload));
  }

  async deliver(kind, payload) {
    for (let attempt = 1; attempt <= SEND_ATTEMPTS && !this.closed; attempt += 1) {
      try {
        const { data } = await this.client.mutate({
          mutation: SEND_CALL_SIGNAL,
          variables: { callId: this.callId, kind, payload },
        });
        const result = data.sendCallSignal;
        if (result.__typename === "CallEnded") this.finish(result.state);
        else if (result.__typename !== "CallSignalSent") console.warn(`${kind} refused:`, result.message);
        return;
      } catch {
        await new Promise((done) => setTimeout(done, backoff(attempt)));
      }
    }
  }

  /** After a network drop: "failed" restarts ICE at once, "disconnected" after a grace. */
  iceChanged() {
    const state = this.pc.iceConnectionState;
    this.update({ iceConnectionState: state });
    clearTimeout(this.timers.disconnected);
    if (state === "connected" || state === "completed") this.restarts = 0;
    else if (state === "failed") this.restartIce();
    else if (state === "disconnected") {
      this.timers.disconnected = setTimeout(
        () => this.pc.iceConnectionState === "disconnected" && this.restartIce(),
        DISCONNECTED_GRACE_MS,
      );
    }
  }

  restartIce() {
    if (this.closed) return;
    if (this.restarts >= MAX_RESTARTS) {
      this.stall("The connection was lost.");
      return;
    }
    this.restarts += 1;
    this.restartWanted = true;
    this.pc.restartIce(); // negotiationneeded, once stable: negotiate() sends an ICE_RESTART
  }

  setMuted(muted) {
    this.localStream?.getAudioTracks().forEach((track) => (track.enabled = !muted));
    this.update({ muted });
  }

  setCameraOff(cameraOff) {
    this.localStream?.getVideoTracks().forEach((track) => (track.enabled = !cameraOff));
    this.update({ cameraOff });
  }

  /** The call is over (either side hung up, declined, it was missed): free everything. */
  finish(state) {
    if (this.closed) return;
    this.closed = true;
    state = ENDED_STATES.has(state) ? state : "ENDED";
    Object.values(this.timers).forEach(clearTimeout);
    this.signals?.stop();
    this.pc?.close();
    this.stopMedia();
    this.update({ ended: state, connectionState: "closed" });
    this.onEnded?.(state);
  }

  stall(reason) {
    if (!this.closed) this.update({ stalled: reason });
  }

  fail(problem) {
    this.update({ problem });
    this.finish("ENDED");
  }

  /** It ended while we were not listening: read how. */
  async endedElsewhere() {
    const { data } = await this.client
      .query({ query: VIDEO_CALL_STATE, variables: { id: this.callId }, fetchPolicy: "network-only" })
      .catch(() => ({ data: undefined }));
    this.finish(data?.videoCall?.state);
  }

  stopMedia() {
    this.localStream?.getTracks().forEach((track) => track.stop());
  }
}

/** RTCIceCandidateInit, as the API takes and gives it (without Apollo's __typename). */
function candidateInit({ candidate, sdpMid, sdpMLineIndex, usernameFragment }) {
  return { candidate, sdpMid, sdpMLineIndex, usernameFragment };
}
