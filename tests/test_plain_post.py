"""healthcare.graphql.execution.http: a plain JSON POST, answered by the same steps as
strawberry's `run`, gets the same answer as through `run`: status, headers and body,
for valid and refused requests alike."""

from typing import Any

import httpx
import pytest
from strawberry.http.async_base_view import AsyncBaseHTTPView

from healthcare.graphql import view as view_module
from healthcare.graphql.execution import http as plain
from healthcare.graphql.view import GraphQLView
from tests.conftest import GraphQLClient, Persona

ME = "query Me { me { id email role } }"
NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"

# (name, body: JSON or raw bytes, content type, signed in)
REQUESTS: list[tuple[str, Any, str, bool]] = [
    ("a query", {"query": ME}, "application/json", True),
    ("a query, anonymous", {"query": ME}, "application/json", False),
    ("a charset", {"query": ME}, "application/json; charset=utf-8", True),
    (
        "variables",
        {
            "query": "query A($id: ID!) { appointment(id: $id) { id } }",
            "variables": {"id": NO_SUCH_ID},
        },
        "application/json",
        True,
    ),
    (
        "a variable of the wrong type",
        {"query": "query A($id: ID!) { appointment(id: $id) { id } }", "variables": {"id": []}},
        "application/json",
        True,
    ),
    (
        "an operation named",
        {"query": "query A { me { id } } query B { me { email } }", "operationName": "B"},
        "application/json",
        True,
    ),
    (
        "no operation of that name",
        {"query": "query A { me { id } }", "operationName": "C"},
        "application/json",
        True,
    ),
    (
        "two operations, none named",
        {"query": "query A { me { id } } query B { me { id } }"},
        "application/json",
        True,
    ),
    (
        "a refused mutation",
        {"query": f'mutation {{ cancelAppointment(id: "{NO_SUCH_ID}") {{ id }} }}'},
        "application/json",
        True,
    ),
    (
        "a subscription",
        {"query": "subscription { notificationAdded { id } }"},
        "application/json",
        True,
    ),
    ("a syntax error", {"query": "query {"}, "application/json", True),
    ("a field that is not there", {"query": "{ nope }"}, "application/json", True),
    ("no query", {"variables": {}}, "application/json", True),
    ("a null query", {"query": None}, "application/json", True),
    ("a query not text", {"query": 1}, "application/json", True),
    ("variables not an object", {"query": ME, "variables": [1]}, "application/json", True),
    ("extensions not an object", {"query": ME, "extensions": "x"}, "application/json", True),
    ("extensions", {"query": ME, "extensions": {"a": 1}}, "application/json", True),
    ("an operation name not text", {"query": ME, "operationName": 1}, "application/json", True),
    ("an empty body", b"", "application/json", True),
    ("not JSON", b"{", "application/json", True),
    ("JSON, not an object", b"[1]", "application/json", True),
    ("not UTF-8", b'{"query": "\xff"}', "application/json", True),
    (
        "a list signed out",
        {"query": "{ appointments { nodes { id } } }"},
        "application/json",
        False,
    ),
]
VARYING_HEADERS = {"date", "x-request-id", "content-length"}


async def send(
    client: GraphQLClient, body: Any, content_type: str, token: str | None
) -> httpx.Response:
    headers = {"content-type": content_type}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    return await client.http.post("/graphql", content=content, headers=headers)


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], Any]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in VARYING_HEADERS)
    return response.status_code, headers, response.json()


@pytest.mark.parametrize(
    ("name", "body", "content_type", "signed_in"), REQUESTS, ids=[r[0] for r in REQUESTS]
)
async def test_a_plain_post_is_answered_as_strawberrys_run_answers_it(
    client: GraphQLClient,
    patient: Persona,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    body: Any,
    content_type: str,
    signed_in: bool,
) -> None:
    token = patient.access_token if signed_in else None
    answered: list[str] = []
    answer = plain.answer_plain_post

    async def counted(*args: Any) -> Any:
        answered.append(name)
        return await answer(*args)

    monkeypatch.setattr(view_module, "answer_plain_post", counted)
    # when: once by the plain path, once by strawberry's `run`
    lean = await send(client, body, content_type, token)
    assert answered == [name]  # it took the plain path
    monkeypatch.setattr(view_module, "is_plain_post", lambda view, scope: False)
    general = await send(client, body, content_type, token)
    assert answered == [name]
    # then
    assert comparable(lean) == comparable(general)


class Accepting:
    """A stream transport that accepts what its `accepts` is given."""

    def __init__(self, accepted: str) -> None:
        self.accepted = accepted

    def accepts(self, accept: str) -> bool:
        return self.accepted in accept


def test_a_post_is_plain_unless_a_stream_transport_accepts_it(live_server: Any) -> None:
    """Pins strawberry's `_stream_transport_map`: the served view has no stream transport
    (no POST is answered by a stream), and one that accepts a request's Accept header
    makes the request strawberry's."""
    view = next(route.app for route in live_server.app.routes if route.path == "/graphql")
    assert view._stream_transport_map == {}
    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"content-type", b"application/json"), (b"accept", b"text/event-stream")],
    }
    assert plain.is_plain_post(view, scope) is True
    assert plain.is_plain_post(view, {**scope, "method": "GET"}) is False
    for content_type in (b"multipart/form-data; boundary=x", b"Application/JSON", b"text/plain"):
        other = {**scope, "headers": [(b"content-type", content_type)]}
        assert plain.is_plain_post(view, other) is False
    assert plain.is_plain_post(view, {**scope, "headers": []}) is False
    # two content types: the first decides, as Starlette's Headers.get (and so strawberry,
    # and the view's upload cap) read it
    twice = [(b"content-type", b"multipart/form-data; boundary=x"), *scope["headers"]]
    assert plain.is_plain_post(view, {**scope, "headers": twice}) is False
    json_first = [*scope["headers"], (b"content-type", b"multipart/form-data; boundary=x")]
    assert plain.is_plain_post(view, {**scope, "headers": json_first}) is True
    streaming = type("View", (), {"_stream_transport_map": {"sse": Accepting("text/event-stream")}})
    assert plain.is_plain_post(streaming(), scope) is False
    assert plain.is_plain_post(streaming(), {**scope, "headers": scope["headers"][:1]}) is True


def test_the_view_overrides_none_of_the_steps_the_plain_path_skips() -> None:
    """The plain path calls the view's own methods for the steps it takes; a step it
    skips must stay strawberry's (a view that overrode `run`, `execute_operation` or the
    error hook would be bypassed on nearly every request)."""
    for name in ("run", "execute_operation", "_handle_errors", "parse_http_body"):
        assert getattr(GraphQLView, name) is getattr(AsyncBaseHTTPView, name), name


async def test_a_post_with_two_content_types_is_answered_as_its_first_says(
    client: GraphQLClient, patient: Persona
) -> None:
    # given: JSON, declared first as a multipart upload and then as JSON
    headers = [
        ("content-type", "multipart/form-data; boundary=x"),
        ("content-type", "application/json"),
        ("authorization", f"Bearer {patient.access_token}"),
    ]
    # when
    response = await client.http.post(
        "/graphql", content=b'{"query": "{ me { id } }"}', headers=headers
    )
    # then: refused as the upload it first claims to be (no preflight header), not run
    assert response.status_code == 400
    assert "data" not in response.json()
