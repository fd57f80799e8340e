// The patient screens' operations: profile, finding a doctor and booking, appointments
// (list, cancel, reschedule) and who read my records. Result unions: `__typename` and
// inline fragments. The shared ones (APPOINTMENT_DETAIL, APPOINTMENT_CHANGED, ...) stay
// in src/operations.js.
import { gql } from "@apollo/client";
import { PROBLEM } from "../fragments.js";

const PERSON = gql`
  fragment Person on User {
    id
    firstName
    lastName
    fullName
    profilePictureUrl
  }
`;

const MY_APPOINTMENT = gql`
  fragment MyAppointment on Appointment {
    id
    startsAt
    endsAt
    status
    reason
    cancellationReason
    updatedAt
    doctor {
      ...Person
      specialty
    }
    patient {
      ...Person
    }
  }
  ${PERSON}
`;

// ---- profile ---------------------------------------------------------------------------

export const MY_PROFILE = gql`
  query MyProfile {
    me {
      ...Person
      email
      role
      specialty
      phoneNumber
      bio
    }
  }
  ${PERSON}
`;

export const UPDATE_MY_PROFILE = gql`
  mutation UpdateMyProfile($input: UpdateMyProfileInput!) {
    updateMyProfile(input: $input) {
      __typename
      ... on UserPayload {
        user {
          id
          phoneNumber
          bio
          fullName
        }
      }
      ...Problem
    }
  }
  ${PROBLEM}
`;

// Sent with fetch as a GraphQL multipart request (profile.js): Apollo has no upload link.
export const UPLOAD_PROFILE_PICTURE = gql`
  mutation UploadProfilePicture($file: Upload!) {
    uploadProfilePicture(file: $file) {
      __typename
      ... on UserPayload {
        user {
          id
          profilePictureUrl
        }
      }
      ...Problem
    }
  }
  ${PROBLEM}
`;

export const REMOVE_PROFILE_PICTURE = gql`
  mutation RemoveProfilePicture {
    removeProfilePicture {
      user {
        id
        profilePictureUrl
      }
    }
  }
`;

// ---- finding a doctor and booking ------------------------------------------------------

export const FIND_DOCTORS = gql`
  query FindDoctors($specialty: String) {
    doctors(first: 100, specialty: $specialty) {
      nodes {
        ...Person
        specialty
        bio
      }
    }
  }
  ${PERSON}
`;

export const DOCTOR_TIME_ZONE = gql`
  query DoctorTimeZone($doctorId: ID!) {
    doctorSchedule(doctorId: $doctorId) {
      timeZone
    }
  }
`;

export const WEEK_SLOTS = gql`
  query WeekSlots($doctorId: ID!, $fromDate: Date!, $toDate: Date!) {
    availableSlots(doctorId: $doctorId, fromDate: $fromDate, toDate: $toDate) {
      startsAt
      endsAt
      localStartsAt
    }
  }
`;

export const BOOK_APPOINTMENT = gql`
  mutation BookAppointment($input: BookAppointmentInput!) {
    bookAppointment(input: $input) {
      __typename
      ... on AppointmentPayload {
        appointment {
          ...MyAppointment
        }
      }
      ...Problem
    }
  }
  ${MY_APPOINTMENT}
  ${PROBLEM}
`;

// ---- appointments ----------------------------------------------------------------------

export const MY_APPOINTMENTS = gql`
  query MyAppointments($from: DateTime) {
    appointments(first: 100, startsFrom: $from) {
      nodes {
        ...MyAppointment
      }
    }
  }
  ${MY_APPOINTMENT}
`;

/** What the detail page shows beyond the shared APPOINTMENT_DETAIL: faces and time zone. */
export const APPOINTMENT_PEOPLE = gql`
  query AppointmentPeople($id: ID!) {
    appointment(id: $id) {
      ...MyAppointment
    }
  }
  ${MY_APPOINTMENT}
`;

export const CANCEL_APPOINTMENT = gql`
  mutation CancelAppointment($id: ID!, $reason: String!) {
    cancelAppointment(id: $id, reason: $reason) {
      __typename
      ... on AppointmentPayload {
        appointment {
          ...MyAppointment
        }
      }
      ...Problem
    }
  }
  ${MY_APPOINTMENT}
  ${PROBLEM}
`;

export const RESCHEDULE_APPOINTMENT = gql`
  mutation RescheduleAppointment($id: ID!, $startsAt: DateTime!) {
    rescheduleAppointment(id: $id, startsAt: $startsAt) {
      __typename
      ... on AppointmentPayload {
        appointment {
          ...MyAppointment
        }
      }
      ...Problem
    }
  }
  ${MY_APPOINTMENT}
  ${PROBLEM}
`;

// ---- record access ---------------------------------------------------------------------

export const MY_RECORD_ACCESS = gql`
  query MyRecordAccess($after: String) {
    myRecordAccess(first: 20, after: $after, newestFirst: true) {
      nodes {
        id
        createdAt
        action
        entity
        entityId
        fields
        allowed
        actorName
        actorRole
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
`;
