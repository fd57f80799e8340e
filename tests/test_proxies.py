"""Client addresses: believed from X-Forwarded-For only when a configured proxy sends it,
and only ever an IP address in the audit trail and the rate limits."""

import asyncio

import httpx

from healthcare import models
from healthcare.demo import DEMO_PASSWORD
from healthcare.security import audit
from tests.servers import graphql, login, server_process

USERS = "query Users { users { nodes { id } } }"
REFUSALS = """
query Refusals { auditEvents(allowed: false, first: 10) { nodes { clientAddress } } }
"""


def refused_users_query(base_url: str, forwarded_for: str) -> None:
    response = httpx.post(
        f"{base_url}/graphql",
        json={"query": USERS},
        headers={"x-forwarded-for": forwarded_for},
        timeout=30,
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_x_forwarded_for_is_ignored_when_no_proxy_is_trusted(tmp_path):
    with server_process(tmp_path) as server:
        # given: a client on this machine claiming to come from elsewhere
        await asyncio.to_thread(refused_users_query, server.base_url, "203.0.113.9")
        # when
        token = await asyncio.to_thread(login, server.base_url, "admin@demo.clinic", DEMO_PASSWORD)
        found = await asyncio.to_thread(graphql, server.base_url, token, REFUSALS)
    # then: the address that connected is the one recorded
    assert [n["clientAddress"] for n in found["auditEvents"]["nodes"]] == ["127.0.0.1"]


async def test_text_forwarded_by_a_trusted_proxy_that_is_no_address_is_not_recorded(client):
    # given: the test server trusts 127.0.0.1 as its proxy
    # when
    response = await client.post(USERS, headers={"x-forwarded-for": "not-an-ip-<script>"})
    # then
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await audit.written()
    refusal = await models.AuditEvent.get(allowed=False)
    assert refusal.client_address is None


async def test_an_address_forwarded_by_a_trusted_proxy_is_recorded(client):
    await client.post(USERS, headers={"x-forwarded-for": "2001:db8::7"})
    await audit.written()
    refusal = await models.AuditEvent.get(allowed=False)
    assert refusal.client_address == "2001:db8::7"
