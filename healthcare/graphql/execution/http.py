"""A JSON POST, the request nearly every client sends, answered without strawberry's
general HTTP handling: the same steps its view's `run` takes for that request, in the
same order, through the view's own methods (`get_sub_response`, `get_context`,
`parse_json`, `execute_single`, `process_result`, `create_response`), without what only
other requests need (the content-type parsed by the `email` package, GET and the IDE,
batches, multipart uploads, streamed responses). Any other request is strawberry's
(`run`). tests/test_plain_post.py compares both ways' answers, request by request, and
pins that the view overrides none of the steps skipped here (`run`,
`execute_operation`, `parse_http_body`, `_handle_errors`)."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult


def is_plain_post(view: GraphQL[Any, Any], scope: Scope) -> bool:
    """A POST of `application/json` (any parameters) asking for no streamed answer (a
    response by one of the view's stream transports, where it has any)."""
    if scope["method"] != "POST":
        return False
    content_type = accept = None
    for name, value in scope["headers"]:  # the first of each, as Starlette's Headers.get
        if name == b"content-type" and content_type is None:
            content_type = value
        elif name == b"accept" and accept is None:
            accept = value
    if content_type is None:
        return False
    # Compared as written, as strawberry compares it: another spelling is strawberry's.
    if content_type.split(b";", 1)[0].strip() != b"application/json":
        return False
    return not accept or not any(
        transport.accepts(accept.decode("latin-1"))
        for transport in view._stream_transport_map.values()
    )


async def answer_plain_post(view: GraphQL[Any, Any], request: Request) -> Response:
    """What strawberry's `run` answers to a plain POST (`is_plain_post`)."""
    sub_response = await view.get_sub_response(request)
    context = await view.get_context(request, response=sub_response)
    data = view.parse_json(await request.body())  # the view's: 400 for all but an object
    assert isinstance(data, dict)
    query, variables, extensions = data.get("query"), data.get("variables"), data.get("extensions")
    if not isinstance(query, str | None):
        raise HTTPException(
            400, "The GraphQL operation's `query` must be a string or null, if provided."
        )
    if not isinstance(variables, dict | None):
        raise HTTPException(
            400, "The GraphQL operation's `variables` must be an object or null, if provided."
        )
    if not isinstance(extensions, dict | None):
        raise HTTPException(
            400, "The GraphQL operation's `extensions` must be an object or null, if provided."
        )
    request_data = GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=data.get("operationName"),
        extensions=extensions,
        protocol="http",
    )
    result = await view.execute_single(
        request=request,
        request_adapter=view.request_adapter_class(request),
        sub_response=sub_response,
        context=context,
        root_value=await view.get_root_value(request),
        request_data=request_data,
    )
    assert isinstance(result, ExecutionResult)  # incremental delivery is not enabled
    response_data = await view.process_result(request=request, result=result)
    return view.create_response(response_data=response_data, sub_response=sub_response)
