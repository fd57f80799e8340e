// The doctor screens' operations: the agenda, working hours and time off, visit outcomes
// (completed, no-show) and the consultation editor (also read by patients). Result unions:
// `__typename` and inline fragments. Live agenda updates use APPOINTMENT_CHANGED from
// src/operations.js.
import { gql } from "@apollo/client";
import { PROBLEM } from "../fragments.js";

const AGENDA_APPOINTMENT = gql`
  fragment AgendaAppointment on Appointment {
    id
    startsAt
    endsAt
    status
    reason
    updatedAt
    patient {
      id
      fullName
    }
  }
`;

// ---- agenda ------------------------------------------------------------------------------

/** The appointments in the range shown, the next few to come, and the schedule's zone. */
export const DOCTOR_AGENDA = gql`
  query DoctorAgenda($doctorId: ID!, $from: DateTime!, $before: DateTime!, $now: DateTime!) {
    appointments(first: 100, startsFrom: $from, startsBefore: $before) {
      nodes {
        ...AgendaAppointment
      }
      pageInfo {
        hasNextPage
      }
    }
    comingUp: appointments(first: 5, startsFrom: $now, status: SCHEDULED) {
      nodes {
        ...AgendaAppointment
      }
    }
    doctorSchedule(doctorId: $doctorId) {
      timeZone
    }
  }
  ${AGENDA_APPOINTMENT}
`;

// ---- working hours and time off ----------------------------------------------------------

const SCHEDULE_FIELDS = gql`
  fragment ScheduleFields on DoctorSchedule {
    timeZone
    slotMinutes
    hours {
      weekday
      start
      end
    }
  }
`;

export const MY_SCHEDULE = gql`
  query MySchedule($doctorId: ID!) {
    doctorSchedule(doctorId: $doctorId) {
      ...ScheduleFields
    }
    timeOff {
      id
      startsAt
      endsAt
      reason
    }
  }
  ${SCHEDULE_FIELDS}
`;

export const SET_DOCTOR_SCHEDULE = gql`
  mutation SetMySchedule($input: SetDoctorScheduleInput!) {
    setDoctorSchedule(input: $input) {
      __typename
      ... on SchedulePayload {
        schedule {
          ...ScheduleFields
        }
      }
      ...Problem
    }
  }
  ${SCHEDULE_FIELDS}
  ${PROBLEM}
`;

export const ADD_TIME_OFF = gql`
  mutation AddMyTimeOff($input: AddTimeOffInput!) {
    addTimeOff(input: $input) {
      __typename
      ... on TimeOffPayload {
        timeOff {
          id
          startsAt
          endsAt
          reason
        }
      }
      ...Problem
    }
  }
  ${PROBLEM}
`;

export const REMOVE_TIME_OFF = gql`
  mutation RemoveMyTimeOff($id: ID!) {
    removeTimeOff(id: $id)
  }
`;

// ---- visit outcome -----------------------------------------------------------------------

const STATUS_RESULT = gql`
  fragment VisitStatusResult on AppointmentStatusResult {
    __typename
    ... on AppointmentPayload {
      appointment {
        id
        status
        updatedAt
      }
    }
    ...Problem
  }
  ${PROBLEM}
`;

export const COMPLETE_APPOINTMENT = gql`
  mutation CompleteVisit($id: ID!) {
    completeAppointment(id: $id) {
      ...VisitStatusResult
    }
  }
  ${STATUS_RESULT}
`;

export const MARK_NO_SHOW = gql`
  mutation MarkVisitNoShow($id: ID!) {
    markAppointmentNoShow(id: $id) {
      ...VisitStatusResult
    }
  }
  ${STATUS_RESULT}
`;

// ---- consultation ------------------------------------------------------------------------

const CONSULTATION_FIELDS = gql`
  fragment ConsultationFields on Consultation {
    id
    isSigned
    signedAt
    createdAt
    updatedAt
    medicalHistory
    examinationFindings
    investigations
    treatmentPlan
    reviewDate
    privateNotes
    doctor {
      id
      fullName
    }
    prescriptions {
      medication
      dose
      route
      frequency
      duration
      instructions
    }
    addenda {
      id
      text
      createdAt
      author {
        id
        fullName
      }
    }
    revisions {
      number
      createdAt
    }
  }
`;

const CONSULTATION_RESULT = gql`
  fragment ConsultationResult on ConsultationPayload {
    consultation {
      ...ConsultationFields
    }
  }
  ${CONSULTATION_FIELDS}
`;

/** An appointment's consultation, all of it that the viewer may see. */
export const APPOINTMENT_CONSULTATION = gql`
  query AppointmentConsultation($appointmentId: ID!) {
    appointment(id: $appointmentId) {
      id
      status
      doctor {
        id
      }
      consultation {
        ...ConsultationFields
      }
    }
  }
  ${CONSULTATION_FIELDS}
`;

export const CREATE_CONSULTATION_DRAFT = gql`
  mutation CreateConsultationDraft($input: CreateConsultationInput!) {
    createConsultation(input: $input) {
      __typename
      ...ConsultationResult
      ...Problem
    }
  }
  ${CONSULTATION_RESULT}
  ${PROBLEM}
`;

/**
 * `input.expectedRevision`: the revision the edit started from; if someone saved since,
 * the answer is RevisionConflict and nothing changes.
 */
export const UPDATE_CONSULTATION = gql`
  mutation UpdateConsultationDraft($id: ID!, $input: UpdateConsultationInput!) {
    updateConsultation(id: $id, input: $input) {
      __typename
      ...ConsultationResult
      ...Problem
      ... on RevisionConflict {
        currentRevision
      }
    }
  }
  ${CONSULTATION_RESULT}
  ${PROBLEM}
`;

export const SIGN_CONSULTATION_FINAL = gql`
  mutation SignConsultationFinal($id: ID!) {
    signConsultation(id: $id) {
      __typename
      ...ConsultationResult
      ...Problem
    }
  }
  ${CONSULTATION_RESULT}
  ${PROBLEM}
`;

export const ADD_CONSULTATION_ADDENDUM = gql`
  mutation AddConsultationAddendum($consultationId: ID!, $text: String!) {
    addConsultationAddendum(consultationId: $consultationId, text: $text) {
      __typename
      ...ConsultationResult
      ...Problem
    }
  }
  ${CONSULTATION_RESULT}
  ${PROBLEM}
`;
