"""The operations bench.api sends, as a clinic's front end would: named, with variables.

The floors (bench/api/floor.py) answer the same requests on the same path, choosing by
`operationName`, so the generator sends identical bytes to the API and to each floor.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

LIST = "DoctorAppointments"
LOOKUP = "AppointmentById"
ME = "Me"
BOOK = "BookAppointment"
ADMIN_LIST = "AdminAppointments"

# a) A doctor's appointments, oldest first, each with its patient and its consultation
# (an appointment has at most one: Appointment.consultation).
LIST_QUERY = """query DoctorAppointments($first: Int!) {
  appointments(first: $first) {
    edges {
      cursor
      node {
        id startsAt endsAt status reason
        patient { id firstName lastName }
        consultation { id createdAt signedAt treatmentPlan }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""

# b) One appointment with its people and its consultation; and the signed-in user.
LOOKUP_QUERY = """query AppointmentById($id: ID!) {
  appointment(id: $id) {
    id startsAt endsAt status reason
    patient { id firstName lastName }
    doctor { id firstName lastName }
    consultation { id createdAt signedAt treatmentPlan }
  }
}"""

# An administrator's list: every appointment, oldest first, with both people. Without
# `reason` and the consultation, which the API keeps from administrators (null, by rule).
ADMIN_LIST_QUERY = """query AdminAppointments($first: Int!) {
  appointments(first: $first) {
    edges {
      cursor
      node {
        id startsAt endsAt status
        patient { id firstName lastName }
        doctor { id firstName lastName }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""

ME_QUERY = """query Me {
  me { id email firstName lastName role }
}"""

# c) A patient books a free slot.
BOOK_MUTATION = """mutation BookAppointment($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentPayload { appointment { id startsAt endsAt status } }
    ... on Error { code message }
  }
}"""

DOCUMENTS = {
    LIST: LIST_QUERY,
    LOOKUP: LOOKUP_QUERY,
    ME: ME_QUERY,
    BOOK: BOOK_MUTATION,
    ADMIN_LIST: ADMIN_LIST_QUERY,
}

# The selections, as the floors need them to build the same answer and audit rows.
# The fields asked of each appointment, as the API's audit rows name them (sorted).
APPOINTMENT_LIST_FIELDS = sorted(
    ["id", "startsAt", "endsAt", "status", "reason", "patient", "consultation"]
)
ADMIN_APPOINTMENT_FIELDS = sorted(["id", "startsAt", "endsAt", "status", "patient", "doctor"])
APPOINTMENT_LOOKUP_FIELDS = sorted(
    ["id", "startsAt", "endsAt", "status", "reason", "patient", "doctor", "consultation"]
)
PATIENT_FIELDS = sorted(["id", "firstName", "lastName"])
CONSULTATION_FIELDS = sorted(["id", "createdAt", "signedAt", "treatmentPlan"])


def body(operation: str, variables: dict[str, Any] | None = None) -> bytes:
    payload: dict[str, Any] = {"query": DOCUMENTS[operation], "operationName": operation}
    if variables:
        payload["variables"] = variables
    return json.dumps(payload).encode()


def list_body(first: int) -> bytes:
    return body(LIST, {"first": first})


def admin_list_body(first: int) -> bytes:
    return body(ADMIN_LIST, {"first": first})


def lookup_body(appointment_id: str) -> bytes:
    return body(LOOKUP, {"id": appointment_id})


def me_body() -> bytes:
    return body(ME)


def book_body(doctor_id: str, starts_at: datetime, reason: str = "Benchmark booking") -> bytes:
    return body(
        BOOK,
        {"input": {"doctorId": doctor_id, "startsAt": starts_at.isoformat(), "reason": reason}},
    )
