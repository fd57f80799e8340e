// The operations of the admin screens (Users, a user's account, Audit trail).
import { gql } from "@apollo/client";
import { PROBLEM } from "../fragments.js";

const ADMIN_USER_FIELDS = gql`
  fragment AdminUserFields on User {
    id
    firstName
    lastName
    fullName
    email
    emailVerified
    role
    specialty
    isActive
    phoneNumber
    profilePictureUrl
    createdAt
  }
`;

/** A page of accounts, filtered; `search` matches first name, last name or email. */
export const ADMIN_USERS = gql`
  query AdminUsers($first: Int!, $after: String, $role: Role, $active: Boolean, $search: String) {
    users(first: $first, after: $after, role: $role, active: $active, search: $search) {
      nodes {
        ...AdminUserFields
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
  ${ADMIN_USER_FIELDS}
`;

/** A few accounts by name or email, for picking one (the audit trail's actor and patient). */
export const USER_CHOICES = gql`
  query UserChoices($search: String!, $role: Role) {
    users(first: 6, search: $search, role: $role) {
      nodes {
        id
        fullName
        email
        role
      }
    }
  }
`;

export const ADMIN_USER = gql`
  query AdminUser($id: ID!) {
    user(id: $id) {
      ...AdminUserFields
      bio
    }
  }
  ${ADMIN_USER_FIELDS}
`;

export const CREATE_USER = gql`
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) {
      __typename
      ... on UserPayload {
        user {
          ...AdminUserFields
        }
      }
      ...Problem
    }
  }
  ${ADMIN_USER_FIELDS}
  ${PROBLEM}
`;

export const CHANGE_USER_ROLE = gql`
  mutation ChangeUserRole($userId: ID!, $role: Role!, $specialty: String) {
    changeUserRole(userId: $userId, role: $role, specialty: $specialty) {
      __typename
      ... on UserPayload {
        user {
          ...AdminUserFields
        }
      }
      ...Problem
    }
  }
  ${ADMIN_USER_FIELDS}
  ${PROBLEM}
`;

export const SET_USER_ACTIVE = gql`
  mutation SetUserActive($userId: ID!, $active: Boolean!) {
    setUserActive(userId: $userId, active: $active) {
      __typename
      ... on UserPayload {
        user {
          ...AdminUserFields
        }
      }
      ...Problem
    }
  }
  ${ADMIN_USER_FIELDS}
  ${PROBLEM}
`;

/** The audit trail, newest first, filtered. */
export const AUDIT_EVENTS = gql`
  query AuditEvents(
    $first: Int!
    $after: String
    $action: AuditAction
    $entity: AuditEntity
    $actorId: ID
    $patientId: ID
    $allowed: Boolean
    $since: DateTime
    $until: DateTime
  ) {
    auditEvents(
      first: $first
      after: $after
      action: $action
      entity: $entity
      actorId: $actorId
      patientId: $patientId
      allowed: $allowed
      since: $since
      until: $until
      newestFirst: true
    ) {
      nodes {
        id
        createdAt
        action
        entity
        entityId
        allowed
        actorId
        actorName
        actorRole
        patientId
        fields
        clientAddress
        requestId
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
`;
