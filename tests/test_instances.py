"""Several instances: a message sent through instance A reaches a subscriber on instance B,
both sharing PostgreSQL, over Redis and over PostgreSQL's own pub/sub; subscribed with a
real client library (gql) over both WebSocket protocols.

Each server runs in its own process (one process, one database backend), so this module
runs on the embedded suite too, as long as PostgreSQL and redis-server are on the machine.
"""

import asyncio
import os
import uuid

import asyncpg
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from healthcare.config import normalize_database_url
from healthcare.demo import DEMO_PASSWORD
from tests.servers import (
    graphql,
    login,
    redis_process,
    redis_server_available,
    server_process,
    throwaway_database,
)

POSTGRES_URL = normalize_database_url(
    os.environ.get("TEST_POSTGRES_URL")
    or (
        os.environ["DATABASE_URL"]
        if os.environ.get("DATABASE_URL", "").startswith("postgres")
        else "postgres://postgres@127.0.0.1:5432/test"
    )
)
START_CONVERSATION = """
mutation StartConversation($withUserId: ID!) {
  startConversation(withUserId: $withUserId) {
    ... on ConversationPayload { conversation { id } }
  }
}
"""
SEND_MESSAGE = """
mutation SendMessage($conversationId: ID!, $clientId: ID!, $text: String!) {
  sendMessage(conversationId: $conversationId, clientId: $clientId, text: $text) {
    ... on MessagePayload { chatMessage { seq } }
  }
}
"""
MESSAGE_ADDED = """
subscription MessageAdded($conversationId: ID!) {
  messageAdded(conversationId: $conversationId) { seq text sender { fullName } }
}
"""
ME = "query Me { me { id } }"


async def postgres_reachable() -> bool:
    try:
        connection = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), 3)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


@pytest.fixture
async def shared_database():
    if not (await postgres_reachable() and redis_server_available()):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: PostgreSQL and redis-server are required")
        pytest.skip("needs PostgreSQL (TEST_POSTGRES_URL) and the redis-server program")
    async with throwaway_database(POSTGRES_URL, "healthcare_instances_") as url:
        yield url


@pytest.mark.parametrize(
    "protocol",
    [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL],
)
@pytest.mark.parametrize("broadcast", ["redis", "postgres"])
async def test_a_message_sent_through_instance_a_reaches_a_subscriber_on_instance_b(
    tmp_path, shared_database, broadcast, protocol
):
    with redis_process(tmp_path) as redis:
        broadcast_url = redis.url if broadcast == "redis" else shared_database
        env = {"DATABASE_URL": shared_database, "BROADCAST_URL": broadcast_url}
        env["JWT_SECRET"] = "instances-test-secret-" + uuid.uuid4().hex
        with (
            server_process(tmp_path / "a", **env) as instance_a,
            server_process(tmp_path / "b", **env) as instance_b,
        ):
            # given: the demo patient and doctor, and their conversation
            alice = login(instance_a.base_url, "alice@demo.clinic", DEMO_PASSWORD)
            house = login(instance_b.base_url, "dr.house@demo.clinic", DEMO_PASSWORD)
            house_id = graphql(instance_b.base_url, house, ME)["me"]["id"]
            started = graphql(
                instance_a.base_url, alice, START_CONVERSATION, {"withUserId": house_id}
            )
            conversation_id = started["startConversation"]["conversation"]["id"]
            transport = WebsocketsTransport(
                url=instance_b.ws_url,
                init_payload={"authorization": f"Bearer {house}"},
                subprotocols=[protocol],
            )
            async with Client(transport=transport) as session:
                subscription = GraphQLRequest(
                    MESSAGE_ADDED, variable_values={"conversationId": conversation_id}
                )
                received = asyncio.ensure_future(anext(aiter(session.subscribe(subscription))))
                await asyncio.sleep(0.5)  # the subscription is in place on B
                # when: Alice sends through A
                sent = graphql(
                    instance_a.base_url,
                    alice,
                    SEND_MESSAGE,
                    {
                        "conversationId": conversation_id,
                        "clientId": str(uuid.uuid4()),
                        "text": "Hi",
                    },
                )
                # then
                event = await asyncio.wait_for(received, 10)
    assert event["messageAdded"] == {
        "seq": sent["sendMessage"]["chatMessage"]["seq"],
        "text": "Hi",
        "sender": {"fullName": "Alice Patient"},
    }
