// What a notification row shows, read from Apollo's cache by id (useFragment), so a row
// follows its notification's readAt wherever it was marked read. Embedded in
// NOTIFICATION_FEED (operations.js), which the schema test validates.
import { gql } from "@apollo/client";

export const NOTIFICATION_FIELDS = gql`
  fragment NotificationFields on Notification {
    id
    seq
    kind
    title
    body
    createdAt
    readAt
    appointmentId
    conversationId
    consultationId
  }
`;
