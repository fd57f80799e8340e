// Every operation the app sends, named (the server logs operation names, never variables).
// Mutation results are unions: ask for `__typename`, the success type, and `...Problem`
// (src/fragments.js: code, message, and the fields of a ValidationFailed).
import { gql } from "@apollo/client";
import { PROBLEM } from "./fragments.js";

const APPOINTMENT = gql`
  fragment AppointmentRow on Appointment {
    id
    startsAt
    endsAt
    status
    reason
    doctor {
      id
      fullName
      specialty
    }
    patient {
      id
      fullName
    }
    updatedAt
  }
`;

const MESSAGE = gql`
  fragment Message on ChatMessage {
    id
    seq
    text
    createdAt
    sender {
      id
      fullName
    }
  }
`;

const VIDEO_CALL = gql`
  fragment VideoCallFields on VideoCall {
    id
    appointmentId
    state
    rungAt
    answeredAt
    endedAt
    caller {
      id
      fullName
    }
  }
`;

export const ME = gql`
  query Me {
    me {
      id
      fullName
      role
    }
  }
`;

export const LOGOUT = gql`
  mutation Logout {
    logout
  }
`;

// ---- account and email ---------------------------------------------------------------
// Signed out, these go through a client without a token (SignedOut.jsx). The tokens come
// from the links in emails (#/reset-password/<token> and so on).

const FIELD_ERRORS = gql`
  fragment FieldErrors on ValidationFailed {
    fieldErrors {
      field
      message
    }
  }
`;

export const MY_EMAIL = gql`
  query MyEmail {
    me {
      id
      email
      emailVerified
    }
  }
`;

export const REGISTER = gql`
  mutation Register($input: RegisterInput!) {
    register(input: $input) {
      __typename
      ... on SignUpReceived {
        message
      }
      ...FieldErrors
      ... on Error {
        code
        message
      }
    }
  }
  ${FIELD_ERRORS}
`;

export const REQUEST_PASSWORD_RESET = gql`
  mutation RequestPasswordReset($email: String!) {
    requestPasswordReset(email: $email) {
      __typename
      ... on EmailSent {
        message
      }
      ...FieldErrors
      ... on Error {
        code
        message
      }
    }
  }
  ${FIELD_ERRORS}
`;

export const RESET_PASSWORD = gql`
  mutation ResetPassword($token: String!, $newPassword: String!) {
    resetPassword(token: $token, newPassword: $newPassword) {
      __typename
      ... on PasswordReset {
        message
      }
      ...FieldErrors
      ... on Error {
        code
        message
      }
    }
  }
  ${FIELD_ERRORS}
`;

export const VERIFY_EMAIL = gql`
  mutation VerifyEmail($token: String!) {
    verifyEmail(token: $token) {
      __typename
      ... on EmailVerified {
        email
      }
      ...FieldErrors
      ... on Error {
        code
        message
      }
    }
  }
  ${FIELD_ERRORS}
`;

export const RESEND_VERIFICATION_EMAIL = gql`
  mutation ResendVerificationEmail {
    resendVerificationEmail {
      message
    }
  }
`;

export const CHANGE_EMAIL = gql`
  mutation ChangeEmail($newEmail: String!, $currentPassword: String!) {
    changeEmail(newEmail: $newEmail, currentPassword: $currentPassword) {
      __typename
      ... on EmailSent {
        message
      }
      ...FieldErrors
      ... on Error {
        code
        message
      }
    }
  }
  ${FIELD_ERRORS}
`;

const EMAIL_PREFERENCE_FIELDS = gql`
  fragment EmailPreferenceFields on EmailPreferences {
    appointmentChanges
    reminders
    chatMessages
    consultationUpdates
  }
`;

/** Yours when signed in; with the token from an email's link, that account's (signed out too). */
export const EMAIL_PREFERENCES = gql`
  query EmailPreferences($token: String) {
    emailPreferences(token: $token) {
      __typename
      ...EmailPreferenceFields
      ... on Error {
        code
        message
      }
    }
  }
  ${EMAIL_PREFERENCE_FIELDS}
`;

export const UPDATE_EMAIL_PREFERENCES = gql`
  mutation UpdateEmailPreferences($input: EmailPreferencesInput!, $token: String) {
    updateEmailPreferences(input: $input, token: $token) {
      __typename
      ...EmailPreferenceFields
      ... on Error {
        code
        message
      }
    }
  }
  ${EMAIL_PREFERENCE_FIELDS}
`;

// ---- booking -------------------------------------------------------------------------

export const DOCTORS = gql`
  query Doctors {
    doctors(first: 50) {
      nodes {
        id
        fullName
        specialty
      }
    }
  }
`;

export const SLOTS = gql`
  query Slots($doctorId: ID!, $fromDate: Date!, $toDate: Date!) {
    availableSlots(doctorId: $doctorId, fromDate: $fromDate, toDate: $toDate) {
      startsAt
      localStartsAt
    }
  }
`;

export const BOOK = gql`
  mutation Book($input: BookAppointmentInput!) {
    bookAppointment(input: $input) {
      __typename
      ... on AppointmentPayload {
        appointment {
          ...AppointmentRow
        }
      }
      ...Problem
    }
  }
  ${APPOINTMENT}
  ${PROBLEM}
`;

// ---- appointments and consultations -------------------------------------------------

export const APPOINTMENTS = gql`
  query Appointments($from: DateTime) {
    appointments(first: 100, startsFrom: $from) {
      nodes {
        ...AppointmentRow
      }
    }
  }
  ${APPOINTMENT}
`;

export const APPOINTMENT_CHANGED = gql`
  subscription AppointmentChanged($changedSince: DateTime) {
    appointmentChanged(changedSince: $changedSince) {
      ...AppointmentRow
    }
  }
  ${APPOINTMENT}
`;

export const APPOINTMENT_DETAIL = gql`
  query AppointmentDetail($id: ID!) {
    appointment(id: $id) {
      ...AppointmentRow
      cancellationReason
      videoCallWindow {
        opensAt
        closesAt
        isOpen
      }
      activeVideoCall {
        ...VideoCallFields
      }
      videoCalls {
        id
        state
        rungAt
        durationSeconds
      }
      consultation {
        id
        isSigned
        signedAt
        medicalHistory
        examinationFindings
        investigations
        treatmentPlan
        reviewDate
        prescriptions {
          medication
          dose
          route
          frequency
          duration
          instructions
        }
        addenda {
          text
          createdAt
        }
      }
    }
  }
  ${APPOINTMENT}
  ${VIDEO_CALL}
`;

// ---- chat ------------------------------------------------------------------------------

export const START_CONVERSATION = gql`
  mutation StartConversation($withUserId: ID!) {
    startConversation(withUserId: $withUserId) {
      __typename
      ... on ConversationPayload {
        conversation {
          id
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`;

export const CONVERSATION = gql`
  query Conversation($id: ID!) {
    conversation(id: $id) {
      id
      lastSeq
      otherLastReadSeq
      patient {
        id
        fullName
      }
      doctor {
        id
        fullName
      }
      messages(last: 50) {
        messages {
          ...Message
        }
      }
    }
  }
  ${MESSAGE}
`;

// The other participant's read receipt: read again each time READ_RECEIPT_CHANGED
// (re)subscribes, since that subscription is live only.
export const READ_RECEIPT = gql`
  query ReadReceipt($id: ID!) {
    conversation(id: $id) {
      id
      otherLastReadSeq
    }
  }
`;

export const READ_RECEIPT_CHANGED = gql`
  subscription ReadReceiptChanged($conversationId: ID!) {
    readReceiptChanged(conversationId: $conversationId) {
      conversationId
      userId
      lastReadSeq
    }
  }
`;

export const MESSAGE_ADDED = gql`
  subscription MessageAdded($conversationId: ID!, $afterSeq: Int) {
    messageAdded(conversationId: $conversationId, afterSeq: $afterSeq) {
      ...Message
    }
  }
  ${MESSAGE}
`;

export const TYPING_CHANGED = gql`
  subscription TypingChanged($conversationId: ID!) {
    typingChanged(conversationId: $conversationId) {
      typing
      user {
        id
        fullName
      }
    }
  }
`;

export const SEND_MESSAGE = gql`
  mutation SendMessage($conversationId: ID!, $clientId: ID!, $text: String!) {
    sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {
      __typename
      ... on MessagePayload {
        chatMessage {
          ...Message
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
  ${MESSAGE}
`;

export const MARK_CONVERSATION_READ = gql`
  mutation MarkConversationRead($conversationId: ID!, $upToSeq: Int!) {
    markConversationRead(conversationId: $conversationId, upToSeq: $upToSeq) {
      __typename
      ... on ConversationPayload {
        conversation {
          id
          unreadCount
        }
      }
    }
  }
`;

export const SET_TYPING = gql`
  mutation SetTyping($conversationId: ID!, $typing: Boolean!) {
    setTyping(conversationId: $conversationId, typing: $typing)
  }
`;

// ---- notifications ---------------------------------------------------------------------

// The newest seq with the count, in one request: notificationAdded(afterSeq) from that
// seq then misses nothing that arrives after it. Asked first: should one arrive between
// the two reads, it is then counted and replayed (one extra refetch) rather than missed.
export const BELL = gql`
  query Bell {
    lastNotificationSeq
    unreadNotificationCount
    myNotifications(first: 20, unreadOnly: true) {
      nodes {
        id
        seq
        kind
        title
        body
        createdAt
        appointmentId
        conversationId
      }
    }
  }
`;

export const NOTIFICATION_ADDED = gql`
  subscription NotificationAdded($afterSeq: Int) {
    notificationAdded(afterSeq: $afterSeq) {
      id
      seq
      kind
      title
      conversationId
      appointmentId
    }
  }
`;

// ---- video calls -------------------------------------------------------------------------
// A call rings (startVideoCall), is answered (joinVideoCall) or declined, and ends for both
// when either leaves. The two browsers exchange their WebRTC offers, answers and ICE
// candidates through the API: sendCallSignal, and callSignals(afterSeq) for the other's.

export const START_VIDEO_CALL = gql`
  mutation StartVideoCall($appointmentId: ID!) {
    startVideoCall(appointmentId: $appointmentId) {
      __typename
      ... on VideoCallPayload {
        videoCall {
          ...VideoCallFields
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
  ${VIDEO_CALL}
`;

export const JOIN_VIDEO_CALL = gql`
  mutation JoinVideoCall($callId: ID!) {
    joinVideoCall(callId: $callId) {
      __typename
      ... on VideoCallPayload {
        videoCall {
          ...VideoCallFields
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
  ${VIDEO_CALL}
`;

export const DECLINE_VIDEO_CALL = gql`
  mutation DeclineVideoCall($callId: ID!) {
    declineVideoCall(callId: $callId) {
      __typename
      ... on VideoCallPayload {
        videoCall {
          ...VideoCallFields
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
  ${VIDEO_CALL}
`;

export const LEAVE_VIDEO_CALL = gql`
  mutation LeaveVideoCall($callId: ID!) {
    leaveVideoCall(callId: $callId) {
      __typename
      ... on VideoCallPayload {
        videoCall {
          ...VideoCallFields
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
  ${VIDEO_CALL}
`;

export const VIDEO_CALL_STATE = gql`
  query VideoCallState($id: ID!) {
    videoCall(id: $id) {
      ...VideoCallFields
    }
  }
  ${VIDEO_CALL}
`;

// Calls ringing for me now: what `videoCallChanged` (live only) may have said while the
// socket was down. The API has no "my live calls" field, so: the appointments whose window
// may still be open (it closes at most a day after they start, with the default settings).
export const LIVE_VIDEO_CALLS = gql`
  query LiveVideoCalls($from: DateTime!) {
    appointments(first: 100, startsFrom: $from, status: SCHEDULED) {
      nodes {
        id
        activeVideoCall {
          ...VideoCallFields
        }
      }
    }
  }
  ${VIDEO_CALL}
`;

export const VIDEO_CALL_CHANGED = gql`
  subscription VideoCallChanged {
    videoCallChanged {
      ...VideoCallFields
    }
  }
  ${VIDEO_CALL}
`;

export const ICE_SERVERS = gql`
  query IceServers($callId: ID!) {
    iceServers(callId: $callId) {
      urls
      username
      credential
    }
  }
`;

// One at a time, in order: a candidate must not overtake the offer it belongs to.
export const SEND_CALL_SIGNAL = gql`
  mutation SendCallSignal($callId: ID!, $kind: CallSignalKind!, $payload: CallSignalPayloadInput) {
    sendCallSignal(callId: $callId, kind: $kind, payload: $payload) {
      __typename
      ... on CallSignalSent {
        seq
      }
      ... on CallEnded {
        state
      }
      ... on Error {
        code
        message
      }
    }
  }
`;

export const CALL_SIGNALS = gql`
  subscription CallSignals($callId: ID!, $afterSeq: Int!) {
    callSignals(callId: $callId, afterSeq: $afterSeq) {
      seq
      kind
      sdp
      candidate {
        candidate
        sdpMid
        sdpMLineIndex
        usernameFragment
      }
      callState
      senderId
    }
  }
`;
