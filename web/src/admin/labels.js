// How the admin screens name the API's enums: roles, audit actions and entities.

export const ROLE_NAMES = { PATIENT: "Patient", DOCTOR: "Doctor", ADMIN: "Administrator" };

export const ACTION_NAMES = { READ: "Read", CREATE: "Create", UPDATE: "Update", DENIED: "Denied" };

export const ENTITY_NAMES = {
  APPOINTMENT: "Appointment",
  CHAT_MESSAGE: "Chat message",
  CONSULTATION: "Consultation",
  CONVERSATION: "Conversation",
  NOTIFICATION: "Notification",
  OPERATION: "Operation",
  PATIENT_PROFILE: "Patient profile",
  PRIVATE_NOTES: "Private notes",
  USER: "User",
  VIDEO_CALL: "Video call",
};

/** "" for "any", else the boolean a yes/no filter's <select> stands for. */
export function booleanFilter(value) {
  return value === "" ? null : value === "true";
}

/** Options of an enum for a <select>, "any" first. */
export function optionsOf(names, any) {
  return [
    ["", any],
    ...Object.entries(names),
  ];
}
