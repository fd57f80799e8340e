"""healthcare/ops/server.py: the WebSocket protocol the server runs (it reaches into
uvicorn's), pinned here, and what a client negotiates with it."""

import inspect
import json
import zlib

import websockets
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.typing import Subprotocol

from healthcare.ops.server import MEMORY_LEVEL, WINDOW_BITS, CompactWebSockets


def test_uvicorn_builds_its_websocket_connection_in_init_from_the_config():
    """CompactWebSockets replaces `self.conn` after uvicorn's __init__: uvicorn must build
    it there, as a websockets ServerProtocol with its extensions, max_size and logger,
    before anything is received, and read `ws_per_message_deflate` and `ws_max_size`."""
    source = inspect.getsource(WebSocketsSansIOProtocol.__init__)
    assert "self.conn = ServerProtocol(" in source
    assert "self.config.ws_per_message_deflate" in source
    assert "max_size=self.config.ws_max_size" in source
    assert "ServerPerMessageDeflateFactory(" in source
    # and lets go of the handshake once it is done: nothing else reads these two
    module = inspect.getsource(inspect.getmodule(WebSocketsSansIOProtocol))  # type: ignore[arg-type]
    assert module.count("self.request") == 1  # set in handle_connect, never read
    assert module.count("self.response") == 6  # the handshake's answer, before it is sent
    send = inspect.getsource(WebSocketsSansIOProtocol.send)
    assert send.index("self.conn.send_response(self.response)") < send.index(
        "self.start_keepalive()"
    )


async def test_a_client_offering_deflate_gets_small_windows_and_a_working_socket(live_server):
    # given: a client that offers permessage-deflate as browsers do
    offer = ClientPerMessageDeflateFactory(client_max_window_bits=True)
    # when
    async with websockets.connect(
        live_server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], extensions=[offer]
    ) as socket:
        assert socket.response is not None
        negotiated = socket.response.headers["Sec-WebSocket-Extensions"]
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        reply = json.loads(await socket.recv())
    # then
    assert negotiated == (
        f"permessage-deflate; server_max_window_bits={WINDOW_BITS}; "
        f"client_max_window_bits={WINDOW_BITS}"
    )
    assert reply["type"] == "connection_ack"


async def test_a_client_without_deflate_is_served_uncompressed(live_server):
    async with websockets.connect(
        live_server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], compression=None
    ) as socket:
        assert socket.response is not None
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"


def test_the_server_uses_compact_websockets():
    from healthcare.config import Settings
    from healthcare.ops.server import uvicorn_options

    assert uvicorn_options(Settings(jwt_secret="x" * 48))["ws"] is CompactWebSockets


def test_the_compact_settings_are_ones_zlib_takes():
    compressor = zlib.compressobj(wbits=-WINDOW_BITS, memLevel=MEMORY_LEVEL)
    frame = json.dumps({"type": "next", "payload": {"data": {"text": "hello " * 40}}}).encode()
    packed = compressor.compress(frame) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(packed) < len(frame) / 2
