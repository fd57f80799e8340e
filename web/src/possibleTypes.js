// Generated from schema.graphql by `npm run possible-types`: do not edit.
export default {
  "AddConsultationAddendumResult": [
    "ConsultationPayload",
    "NotFound",
    "ValidationFailed"
  ],
  "AddTimeOffResult": [
    "NotFound",
    "TimeOffPayload",
    "ValidationFailed"
  ],
  "AdminUserChangeResult": [
    "NotFound",
    "UserPayload",
    "ValidationFailed"
  ],
  "AppointmentStatusResult": [
    "AppointmentPayload",
    "InvalidStatusTransition",
    "NotFound",
    "ValidationFailed"
  ],
  "BookAppointmentResult": [
    "AppointmentPayload",
    "NotFound",
    "SlotUnavailable",
    "ValidationFailed"
  ],
  "ChangePasswordResult": [
    "AuthPayload",
    "InvalidCredentials",
    "ValidationFailed"
  ],
  "CreateConsultationResult": [
    "ConsultationPayload",
    "InvalidStatusTransition",
    "NotFound",
    "ValidationFailed"
  ],
  "CreateUserResult": [
    "UserPayload",
    "ValidationFailed"
  ],
  "EndVideoCallResult": [
    "CallEnded",
    "NotFound",
    "VideoCallPayload"
  ],
  "Error": [
    "AccountDeactivated",
    "CallEnded",
    "CallWindowClosed",
    "ConsultationSigned",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "InvalidStatusTransition",
    "NotFound",
    "SlotUnavailable",
    "ValidationFailed"
  ],
  "JoinVideoCallResult": [
    "CallEnded",
    "CallWindowClosed",
    "InvalidStatusTransition",
    "NotFound",
    "VideoCallPayload"
  ],
  "LoginResult": [
    "AccountDeactivated",
    "AuthPayload",
    "InvalidCredentials"
  ],
  "MarkConversationReadResult": [
    "ConversationPayload",
    "NotFound",
    "ValidationFailed"
  ],
  "ProfilePictureResult": [
    "UserPayload",
    "ValidationFailed"
  ],
  "RefreshTokenResult": [
    "AuthPayload",
    "InvalidRefreshToken"
  ],
  "RegisterResult": [
    "SignUpReceived",
    "ValidationFailed"
  ],
  "RescheduleAppointmentResult": [
    "AppointmentPayload",
    "InvalidStatusTransition",
    "NotFound",
    "SlotUnavailable",
    "ValidationFailed"
  ],
  "SendCallSignalResult": [
    "CallEnded",
    "CallSignalSent",
    "NotFound",
    "ValidationFailed"
  ],
  "SendMessageResult": [
    "MessagePayload",
    "NotFound",
    "ValidationFailed"
  ],
  "SetDoctorScheduleResult": [
    "NotFound",
    "SchedulePayload",
    "ValidationFailed"
  ],
  "SignConsultationResult": [
    "ConsultationPayload",
    "ConsultationSigned",
    "NotFound"
  ],
  "StartConversationResult": [
    "ConversationPayload",
    "NotFound",
    "ValidationFailed"
  ],
  "StartVideoCallResult": [
    "CallWindowClosed",
    "InvalidStatusTransition",
    "NotFound",
    "VideoCallPayload"
  ],
  "UpdateConsultationResult": [
    "ConsultationPayload",
    "ConsultationSigned",
    "NotFound",
    "ValidationFailed"
  ],
  "UpdateMyProfileResult": [
    "UserPayload",
    "ValidationFailed"
  ]
};
