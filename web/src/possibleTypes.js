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
    "EmailNotVerified",
    "NotFound",
    "SlotUnavailable",
    "ValidationFailed"
  ],
  "ChangeEmailResult": [
    "EmailSent",
    "InvalidCredentials",
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
  "EmailPreferencesResult": [
    "EmailPreferences",
    "InvalidEmailToken"
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
    "EmailNotVerified",
    "InvalidCredentials",
    "InvalidEmailToken",
    "InvalidRefreshToken",
    "InvalidStatusTransition",
    "NotFound",
    "RevisionConflict",
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
  "RequestPasswordResetResult": [
    "EmailSent",
    "ValidationFailed"
  ],
  "RescheduleAppointmentResult": [
    "AppointmentPayload",
    "InvalidStatusTransition",
    "NotFound",
    "SlotUnavailable",
    "ValidationFailed"
  ],
  "ResetPasswordResult": [
    "InvalidEmailToken",
    "PasswordReset",
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
    "RevisionConflict",
    "ValidationFailed"
  ],
  "UpdateEmailPreferencesResult": [
    "EmailPreferences",
    "InvalidEmailToken"
  ],
  "UpdateMyProfileResult": [
    "UserPayload",
    "ValidationFailed"
  ],
  "VerifyEmailResult": [
    "EmailVerified",
    "InvalidEmailToken",
    "ValidationFailed"
  ]
};
