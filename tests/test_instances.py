"""Several instances: a message sent through instance A reaches a subscriber on instance B,
both sharing PostgreSQL, over Redis and over PostgreSQL's own pub/sub; subscribed with a
real client library (gql) over both WebSocket protocols.

Each server runs in its own process (one process, one database backend), so this module
runs on the embedded suite too, as long as PostgreSQL and redis-server are on the machine.
"""

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from healthcare.config import normalize_database_url
from healthcare.demo import DEMO_PASSWORD
from tests.servers import (
    ServerProcess,
    graphql,
    login,
    redis_process,
    redis_server_available,
    server_process,
    throwaway_database,
)
from tests.wsclient import Subscriber

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


def worker_pids(server_pid: int) -> list[int]:
    """The worker processes `healthcare serve --workers N` started (its children)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def worker_serving(client_port: int, workers: list[int]) -> int | None:
    """The worker whose socket is the other end of the client's connection from
    `client_port` (the kernel's TCP table names each socket's inode and ports)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == client_port:
            inode = fields[9]
            return next((pid for pid in workers if inode in socket_inodes(pid)), None)
    return None


@contextlib.contextmanager
def two_workers(
    tmp_path: Path, database_url: str
) -> Iterator[tuple[ServerProcess, list[int], str]]:
    """`healthcare serve` with WORKERS=2 on `database_url` and a Redis of its own, and
    its two worker processes, and that Redis's URL."""
    with redis_process(tmp_path) as redis:
        env = {
            "DATABASE_URL": database_url,
            "BROADCAST_URL": redis.url,
            "JWT_SECRET": "workers-test-secret-" + uuid.uuid4().hex,
            "WORKERS": "2",
        }
        with server_process(tmp_path / "a", **env) as server:
            workers = worker_pids(server.process.pid)
            assert len(workers) == 2
            yield server, workers, redis.url


async def test_serve_with_two_workers_delivers_across_them(tmp_path, shared_database):
    """`healthcare serve --workers 2`: two processes on one port, each taking connections;
    a message sent to one reaches subscribers on both, through Redis."""
    with two_workers(tmp_path, shared_database) as (server, workers, redis_url):
        alice = login(server.base_url, "alice@demo.clinic", DEMO_PASSWORD)
        house = login(server.base_url, "dr.house@demo.clinic", DEMO_PASSWORD)
        house_id = graphql(server.base_url, house, ME)["me"]["id"]
        started = graphql(server.base_url, alice, START_CONVERSATION, {"withUserId": house_id})
        conversation_id = started["startConversation"]["conversation"]["id"]
        # given: subscribers until each worker serves at least one (the kernel decides
        # which worker accepts a connection)
        subscribers: dict[int, Subscriber] = {}
        others: list[Subscriber] = []
        for _ in range(200):
            subscriber = await Subscriber.open(server.ws_url, house)
            port = subscriber.socket.transport.get_extra_info("sockname")[1]
            worker = worker_serving(port, workers)
            assert worker is not None
            if worker in subscribers:
                others.append(subscriber)
            else:
                subscribers[worker] = subscriber
            if len(subscribers) == 2:
                break
        for subscriber in others:
            await subscriber.close()
        assert len(subscribers) == 2, "one worker took every connection"
        for subscriber in subscribers.values():
            await subscriber.subscribe(MESSAGE_ADDED, {"conversationId": conversation_id})
        # both workers have subscribed the conversation's channel in Redis
        channel = f"conversation.{conversation_id}"
        client = aioredis.from_url(redis_url)
        try:
            for _ in range(300):
                counts = dict(await client.pubsub_numsub(channel))
                if counts.get(channel.encode()) == 2:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the workers did not both subscribe the conversation")
        finally:
            await client.aclose()
        # when
        graphql(
            server.base_url,
            alice,
            SEND_MESSAGE,
            {"conversationId": conversation_id, "clientId": str(uuid.uuid4()), "text": "Hi"},
        )
        # then: each worker's subscriber has it
        events = [await subscriber.next() for subscriber in subscribers.values()]
        for subscriber in subscribers.values():
            await subscriber.close()
    assert [event["messageAdded"]["text"] for event in events] == ["Hi", "Hi"]


async def test_workers_stop_when_their_supervisor_is_killed(tmp_path, shared_database):
    """`kill -9` of `healthcare serve --workers 2` must not leave its workers serving on,
    orphaned: each stops (gracefully, on SIGTERM) when the supervisor dies."""
    with two_workers(tmp_path, shared_database) as (server, workers, _):
        # when
        server.process.kill()
        server.process.wait(timeout=30)
        # then: both workers are gone (exited, or zombies of a parent that is gone)
        deadline = asyncio.get_running_loop().time() + 30
        while any(alive(pid) for pid in workers):
            assert asyncio.get_running_loop().time() < deadline, "workers outlived it"
            await asyncio.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
