// The operations of the shell's notifications (the bell, #/notifications) and the chat list.
import { gql } from "@apollo/client";
import { NOTIFICATION_FIELDS } from "./fragments.js";

// The bell's count, and the seq to subscribe from (read together: nothing arrives unseen
// in between). Named "Bell": reading a chat refetches it by that name (Chat.jsx).
export const BELL_COUNT = gql`
  query Bell {
    lastNotificationSeq
    unreadNotificationCount
  }
`;

// One page of your notifications, newest first; `after` pages on to older ones.
export const NOTIFICATION_FEED = gql`
  query NotificationFeed($first: Int!, $after: String, $unreadOnly: Boolean!) {
    myNotifications(first: $first, after: $after, unreadOnly: $unreadOnly, newestFirst: true) {
      nodes {
        ...NotificationFields
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
  ${NOTIFICATION_FIELDS}
`;

// What a notification about a visit names: when, and with whom. Null when you may no
// longer see it.
export const NOTIFIED_VISIT = gql`
  query NotifiedVisit($id: ID!) {
    appointment(id: $id) {
      id
      startsAt
      status
      doctor {
        id
        fullName
      }
      patient {
        id
        fullName
      }
    }
  }
`;

// A doctor's own time zone: a visit's time is said in it too when it differs from yours.
export const DOCTOR_TIME_ZONE = gql`
  query DoctorTimeZone($doctorId: ID!) {
    doctorSchedule(doctorId: $doctorId) {
      timeZone
    }
  }
`;

export const MARK_READ = gql`
  mutation MarkNotificationRead($ids: [ID!]!) {
    markNotificationsRead(ids: $ids) {
      count
      unreadCount
    }
  }
`;

export const MARK_ALL_READ = gql`
  mutation MarkEveryNotificationRead {
    markAllNotificationsRead {
      count
      unreadCount
    }
  }
`;

// The chat's list of conversations, with what a row shows: who, the newest message and when.
export const CHAT_LIST = gql`
  query ChatList {
    conversations(first: 50) {
      nodes {
        id
        unreadCount
        lastMessageAt
        patient {
          id
          fullName
          firstName
          lastName
          profilePictureUrl
        }
        doctor {
          id
          fullName
          firstName
          lastName
          profilePictureUrl
        }
        lastMessage {
          id
          text
        }
      }
    }
  }
`;
