"""Several instances: a message sent through instance A reaches a subscriber on instance B,
both sharing PostgreSQL, over Redis and over PostgreSQL's own pub/sub; subscribed with a
real client library (gql) over both WebSocket protocols. Several worker processes of one
instance: each takes connections, messages reach subscribers on both, and `/metrics`
tells the whole instance's figures whichever worker answers it.

Each server runs in its own process (one process, one database backend), so this module
runs on the embedded suite too, as long as PostgreSQL and redis-server are on the machine.
"""

import asyncio
import contextlib
import os
import signal
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from healthcare.config import normalize_database_url
from healthcare.demo import DEMO_PASSWORD
from tests.servers import (
    Scrape,
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
PING = "query Ping { __typename }"
NOTIFICATIONS = "subscription Notifications { notificationAdded { seq } }"
POOL_MAX_PER_WORKER = 7


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
            inode = fields[9]  # 0 for a socket no process holds (an earlier one, closing)
            worker = next((pid for pid in workers if inode in socket_inodes(pid)), None)
            if worker is not None:
                return worker
    return None


async def sockets_on_each_worker(
    server: ServerProcess, workers: list[int], token: str
) -> dict[int, list[Subscriber]]:
    """Signed-in sockets, opened until each worker holds at least one (the kernel decides
    which worker accepts a connection), by the worker that holds them."""
    held: dict[int, list[Subscriber]] = {pid: [] for pid in workers}
    for _ in range(200):
        subscriber = await Subscriber.open(server.ws_url, token)
        port = subscriber.socket.transport.get_extra_info("sockname")[1]
        worker = worker_serving(port, workers)
        assert worker is not None
        held[worker].append(subscriber)
        if all(held.values()):
            return held
    pytest.fail("one worker took every connection")


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
        # given: a subscriber on each worker
        held = await sockets_on_each_worker(server, workers, house)
        subscribers = {worker: sockets[0] for worker, sockets in held.items()}
        for sockets in held.values():
            for other in sockets[1:]:
                await other.close()
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


# ---- one /metrics for the instance ----------------------------------------------------------

HTTP_REQUESTS = "healthcare_http_requests_total"
OPERATIONS = "healthcare_graphql_operations_total"
DURATION_COUNT = "healthcare_graphql_operation_duration_seconds_count"
WEBSOCKETS = "healthcare_websockets_open"
SUBSCRIPTIONS = "healthcare_graphql_subscriptions_active"
PUBSUB_SUBSCRIBED = "healthcare_pubsub_subscribed"
POOL = "healthcare_db_pool_connections"
POOL_MAX = "healthcare_db_pool_max_connections"


def with_pool_max(database_url: str, most: int) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(
        parts._replace(query="&".join(filter(None, [parts.query, f"maxsize={most}"])))
    )


def fresh_request(
    workers: list[int], method: str, url: str, **options: Any
) -> tuple[httpx.Response, int]:
    """A request on a connection of its own, and the worker that answered it (looked up
    while the connection is still open)."""
    with httpx.Client(timeout=30) as http:
        response = http.request(method, url, **options)
        client_address = response.extensions["network_stream"].get_extra_info("client_addr")
        worker = worker_serving(client_address[1], workers)
    assert worker is not None, "no worker holds the connection"
    return response, worker


def queries_answered_by_each_worker(server: ServerProcess, workers: list[int]) -> int:
    """`Ping` queries, each on a connection of its own, until each worker has answered
    three; how many were sent."""
    answered = dict.fromkeys(workers, 0)
    for _ in range(500):
        response, worker = fresh_request(
            workers, "POST", f"{server.base_url}/graphql", json={"query": PING}
        )
        assert response.status_code == 200, response.text
        answered[worker] += 1
        if min(answered.values()) >= 3:
            return sum(answered.values())
    pytest.fail(f"one worker answered nearly every request: {answered}")


async def traffic_on_both_workers(
    server: ServerProcess, workers: list[int]
) -> tuple[int, dict[int, list[Subscriber]]]:
    """`Ping` queries answered by both workers, and subscribed sockets held by both: how
    many queries were sent (besides one sign-in), and the sockets by worker."""
    house = login(server.base_url, "dr.house@demo.clinic", DEMO_PASSWORD)
    sent = queries_answered_by_each_worker(server, workers)
    held = await sockets_on_each_worker(server, workers, house)
    for socket in [socket for on_one in held.values() for socket in on_one]:
        await socket.subscribe(NOTIFICATIONS)
    return sent, held


def instance_figures(scrape: Scrape) -> dict[str, object]:
    return {
        "/graphql requests": scrape(HTTP_REQUESTS, route="/graphql", status="200"),
        "Ping queries": scrape(OPERATIONS, operation="Ping", type="query", outcome="ok"),
        "Ping timings": scrape(DURATION_COUNT, operation="Ping", type="query", outcome="ok"),
        "sockets open": scrape(WEBSOCKETS),
        "subscriptions": scrape(SUBSCRIPTIONS, operation="Notifications"),
        "pub/sub subscribed": scrape(PUBSUB_SUBSCRIBED),
        "pool maximum": scrape(POOL_MAX),
        "pool connections, one or more per worker": scrape(POOL) >= 2,
        "processes": scrape.label_values("process_start_time_seconds", "pid"),
    }


def expected_figures(sent: int, sockets: int, workers: list[int]) -> dict[str, object]:
    return {
        "/graphql requests": sent + 1,  # and the sign-in
        "Ping queries": sent,
        "Ping timings": sent,
        "sockets open": sockets,
        "subscriptions": sockets,
        "pub/sub subscribed": 1,
        "pool maximum": 2 * POOL_MAX_PER_WORKER,
        "pool connections, one or more per worker": True,
        "processes": {str(pid) for pid in workers},
    }


async def every_scrape_says(
    server: ServerProcess,
    workers: list[int],
    read: Callable[[Scrape], object],
    expected: object,
) -> None:
    """Once a scrape says `expected` (a worker counts a request just after answering it,
    and publishes its pool every second), every scrape on a fresh connection says it,
    whichever worker answers: scraped until each worker has answered two."""

    def scrape() -> tuple[object, int]:
        response, worker = fresh_request(workers, "GET", f"{server.base_url}/metrics")
        assert response.status_code == 200, response.text
        return read(Scrape.parse(response.text)), worker

    deadline = time.monotonic() + 60
    while (said := scrape()[0]) != expected:
        assert time.monotonic() < deadline, f"no scrape said {expected}; the last: {said}"
        await asyncio.sleep(0.1)
    answered = dict.fromkeys(workers, 0)
    for _ in range(300):
        said, worker = scrape()
        assert said == expected, f"the scrape worker {worker} answered"
        answered[worker] += 1
        if min(answered.values()) >= 2:
            return
    pytest.fail(f"one worker answered nearly every scrape: {answered}")


def metrics_folder(worker: int) -> Path:
    """PROMETHEUS_MULTIPROC_DIR as the worker was started with it."""
    environment = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    names = dict(item.split(b"=", 1) for item in environment if b"=" in item)
    return Path(names[b"PROMETHEUS_MULTIPROC_DIR"].decode())


async def test_every_scrape_adds_up_both_workers_requests_sockets_and_pools(
    tmp_path, shared_database
):
    database_url = with_pool_max(shared_database, POOL_MAX_PER_WORKER)
    with two_workers(tmp_path, database_url) as (server, workers, _):
        # given
        sent, held = await traffic_on_both_workers(server, workers)
        sockets = [socket for on_one in held.values() for socket in on_one]
        # then: every scrape tells the whole instance, whichever worker answers it
        expected = expected_figures(sent, len(sockets), workers)
        await every_scrape_says(server, workers, instance_figures, expected)
        # and the workers shared a private folder of the supervisor's
        folder = metrics_folder(workers[0])
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert metrics_folder(workers[1]) == folder
        for socket in sockets:
            await socket.close()
    # which it removed when it stopped
    assert not folder.exists()


async def test_a_killed_workers_requests_still_count_and_its_sockets_leave_the_gauges(
    tmp_path, shared_database
):
    database_url = with_pool_max(shared_database, POOL_MAX_PER_WORKER)
    with two_workers(tmp_path, database_url) as (server, workers, _):
        # given
        sent, held = await traffic_on_both_workers(server, workers)
        killed, survivor = workers
        # when: one worker is killed (no chance to say so), and uvicorn starts another
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(now := worker_pids(server.process.pid)) != 2 or killed in now:
            assert time.monotonic() < deadline, "no worker took the killed one's place"
            await asyncio.sleep(0.1)
        # then: its requests still count; its sockets, pool and process are gone
        expected = expected_figures(sent, len(held[survivor]), now)
        await every_scrape_says(server, now, instance_figures, expected)
        for socket in held[survivor]:
            await socket.close()
