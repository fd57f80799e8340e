"""GraphiQL served by the API itself (works offline, runs no third party's script, under a
strict Content-Security-Policy), and requests refused before any operation runs answered
as GraphQL errors."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from healthcare.app import create_app
from healthcare.graphql import ide
from healthcare.ops import metrics

PAGE_HEADERS = {"accept": "text/html"}
MANIFEST = json.loads(ide.MANIFEST.read_text())["files"]
ME = "query A { me { id } }"
LOGOUT = "mutation Logout { logout }"


class References(HTMLParser):
    """The URLs of a page's scripts and stylesheets, with their integrity attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and named.get("src"):
            self.found.append((str(named["src"]), named.get("integrity")))
        if tag == "link" and named.get("rel") == "stylesheet":
            self.found.append((str(named["href"]), named.get("integrity")))


def references(page: str) -> list[tuple[str, str | None]]:
    parser = References()
    parser.feed(page)
    return parser.found


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


async def get_page(client) -> httpx.Response:
    response = await client.http.get("/graphql", headers=PAGE_HEADERS)
    assert response.status_code == 200, response.text
    return response


async def test_the_page_names_no_other_origin_anywhere(client):
    # when
    response = await get_page(client)
    # then: no absolute URL at all (its files come from relative paths on this server)
    assert response.headers["content-type"].startswith("text/html")
    assert re.findall(r"https?:", response.text, flags=re.IGNORECASE) == []
    assert "unpkg" not in response.text
    for reference, _ in references(response.text):
        assert not reference.startswith("/") and ":" not in reference, reference
    assert "<style" not in response.text
    assert all("src" in tag for tag in re.findall(r"<script[^>]*>", response.text))


async def test_every_file_the_page_loads_is_served_by_us_with_its_manifest_checksum(client):
    # given
    page = await get_page(client)
    found = references(page.text)
    assert len(found) == len(ide.SCRIPTS) + len(ide.STYLESHEETS)
    served = set()
    for reference, integrity in found:
        url = urljoin(str(page.url), reference)
        assert urlsplit(url).netloc == urlsplit(client.server.base_url).netloc
        # when
        response = await client.http.get(url)
        # then
        assert response.status_code == 200, url
        name = url.rsplit("/", 1)[1]
        digest = hashlib.sha256(response.content).hexdigest()
        if name in MANIFEST:
            assert digest == MANIFEST[name]["sha256"], f"{name} differs from its manifest"
            assert len(response.content) == MANIFEST[name]["bytes"]
        else:  # the page's own script and styles
            assert digest == hashlib.sha256((ide.FOLDER / name).read_bytes()).hexdigest()
        assert f"/{digest[:16]}/" in url  # a new content is a new URL
        sha = base64.b64encode(hashlib.sha256(response.content).digest()).decode()
        assert integrity == f"sha256-{sha}"
        served.add(name)
    assert set(MANIFEST) <= served  # nothing vendored goes unused


async def test_the_page_writes_nothing_typed_into_the_address_nor_keeps_the_token(client):
    # given: the page's own script, as served
    page = await get_page(client)
    [script] = [ref for ref, _ in references(page.text) if ref.endswith("/graphiql-page.js")]
    source = (await client.http.get(urljoin(str(page.url), script))).text
    # then: variables (health data) and headers (a token) never reach a URL or localStorage
    assert "history.replaceState" not in source and "history.pushState" not in source
    assert re.search(r"shouldPersistHeaders:\s*false", source)


async def test_the_files_are_cached_for_good_with_the_right_types_and_no_sniffing(client):
    page = await get_page(client)
    for reference, _ in references(page.text):
        response = await client.http.get(urljoin(str(page.url), reference))
        media_type = "text/javascript" if reference.endswith(".js") else "text/css"
        assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cross-origin-resource-policy"] == "same-origin"


def test_the_committed_files_match_the_manifest():
    for name, entry in MANIFEST.items():
        data = (ide.FOLDER / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert b"sourceMappingURL=data:" not in data  # no inlined source maps either
    # only minified builds and the page's own files: no source maps, no stray files
    present = {path.name for path in ide.FOLDER.iterdir()}
    assert present == {*MANIFEST, "manifest.json", "graphiql-page.js", "graphiql-page.css"}


async def test_nothing_else_is_served_under_the_assets_path(client):
    page = await get_page(client)
    reference = next(src for src, _ in references(page.text) if src.endswith("graphiql.min.js"))
    good = urljoin(str(page.url), reference)
    digest = good.rsplit("/", 2)[1]
    for path in (
        good.replace(digest, "0" * 16),  # a stale or made-up digest
        f"/graphql/assets/{digest}/manifest.json",
        f"/graphql/assets/{digest}/..%2Fide.py",
        f"/graphql/assets/{digest}/graphiql.min.js.map",
    ):
        response = await client.http.get(path)
        assert response.status_code == 404, path
        assert response.headers["cache-control"] == "no-store", path


async def test_the_page_is_under_a_policy_that_allows_this_origin_only(client):
    # when
    response = await get_page(client)
    # then
    policy = directives(response.headers["content-security-policy"])
    host = urlsplit(client.server.base_url).netloc
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    for sources in policy.values():
        for source in sources:
            assert source in {"'self'", "'none'", "data:", f"ws://{host}", f"wss://{host}"}
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_a_host_header_unfit_for_the_policy_is_left_out_of_it(client):
    response = await client.http.get(
        "/graphql", headers={**PAGE_HEADERS, "host": "evil.example; script-src *"}
    )
    policy = directives(response.headers["content-security-policy"])
    assert policy["connect-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


async def test_without_graphiql_neither_the_page_nor_its_files_are_served(live_server):
    # given
    settings = dataclasses.replace(live_server.settings, graphiql=False)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        # when
        page = await http.get("/graphql", headers=PAGE_HEADERS)
        asset = await http.get("/graphql/assets/0123456789abcdef/graphiql.min.js")
    # then
    assert page.status_code == 404
    assert page.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "graphiql" not in page.text.lower()
    assert asset.status_code == 404


def test_the_files_are_counted_under_one_route_in_the_metrics():
    assert metrics.route_of("/graphql/assets/0123456789abcdef/graphiql.min.js") == (
        "/graphql/assets"
    )
    assert metrics.route_of("/graphql/other") == metrics.OTHER


# ---- requests refused before any operation runs -------------------------------------------

REFUSED: dict[str, tuple[dict[str, Any], str, str]] = {
    "a subscription over HTTP": (
        {"json": {"query": "subscription S { notificationAdded { id } }"}},
        "BAD_REQUEST",
        "WebSocket",
    ),
    "an operation name the document does not have": (
        {"json": {"query": ME, "operationName": "Login"}},
        "OPERATION_RESOLUTION_FAILURE",
        "operationName",
    ),
    "a document without an operation": (
        {"json": {"query": "fragment F on Query { me { id } }"}},
        "OPERATION_RESOLUTION_FAILURE",
        "no operation",
    ),
    "a body that is not JSON": (
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        "BAD_REQUEST",
        "not valid JSON",
    ),
    "a JSON body that is not an object": ({"json": [1, 2]}, "BAD_REQUEST", "JSON object"),
    "no query": ({"json": {"variables": {}}}, "BAD_REQUEST", "`query`"),
    "a query that is not a string": ({"json": {"query": 1}}, "BAD_REQUEST", "`query`"),
    "variables that are not an object": (
        {"json": {"query": ME, "variables": [1]}},
        "BAD_REQUEST",
        "`variables`",
    ),
    "a content type the endpoint does not take": (
        {"content": json.dumps({"query": ME}), "headers": {"content-type": "text/plain"}},
        "BAD_REQUEST",
        "content type",
    ),
    "a multipart request without the preflight header": (
        {"files": {"0": ("a.png", b"x", "image/png")}, "data": {"operations": "{}"}},
        "BAD_REQUEST",
        "Apollo-Require-Preflight",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
async def test_a_refused_request_is_answered_as_a_graphql_error_naming_the_problem(client, case):
    # given
    request, code, named = REFUSED[case]
    # when
    response = await client.http.post("/graphql", **request)
    # then
    assert_graphql_error(response, 400, code, named)


async def test_a_mutation_or_query_over_get_is_answered_as_a_graphql_error(client):
    for query, named in ((LOGOUT, "Mutation operations"), (ME, "Query operations")):
        response = await client.http.get("/graphql", params={"query": query})
        assert_graphql_error(response, 400, "BAD_REQUEST", named)
        assert "data" not in response.json()
    missing = await client.http.get("/graphql", headers={"accept": "application/json"})
    assert_graphql_error(missing, 400, "BAD_REQUEST", "`query`")


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_a_method_graphql_does_not_take_is_answered_as_a_graphql_error(client, method):
    response = await client.http.request(method, "/graphql")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"
    if method != "HEAD":
        assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}


def assert_graphql_error(response: httpx.Response, status: int, code: str, named: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors"}
    [error] = body["errors"]
    assert error["extensions"] == {"code": code}
    assert named in error["message"], error["message"]
    for internal in ("Traceback", "strawberry", "Exception", "Error(", ".py"):
        assert internal not in error["message"]
