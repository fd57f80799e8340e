"""How uvicorn serves the app: the options `healthcare serve` and the test suite share,
and the one place that reaches into uvicorn's WebSocket protocol (pinned by
tests/test_server_options.py).

permessage-deflate is negotiated when a client offers it (browsers do), as uvicorn does,
but with smaller compression state per socket. uvicorn asks for 4 KiB windows and zlib
memLevel 5: about 40 KiB of zlib state per connection (measured: 86 KiB per idle
signed-in socket with it, 46 KiB without). Our frames are a few hundred bytes of JSON,
so a 512-byte window (`*_max_window_bits=9`, the least the protocol allows zlib) and
memLevel 1 compress them nearly as well, for about 9 KiB a connection (zlib's own
formulas: deflate 2^(wbits+2) + 2^(memLevel+9) bytes and a ~6 KB stream, inflate
2^wbits and a ~7 KB stream). A client that does not offer `client_max_window_bits`
keeps its own window size (up to 32 KiB of inflate window here): the protocol lets only
the client lower it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.server import ServerProtocol

from healthcare.config import Settings

WINDOW_BITS = 9
MEMORY_LEVEL = 1


def compact_deflate() -> ServerPerMessageDeflateFactory:
    return ServerPerMessageDeflateFactory(
        server_max_window_bits=WINDOW_BITS,
        client_max_window_bits=WINDOW_BITS,
        compress_settings={"memLevel": MEMORY_LEVEL},
    )


class CompactWebSockets(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with `compact_deflate` instead of its own
    permessage-deflate settings, letting go of the handshake's request and response
    (their headers: a few KiB a socket) once the handshake is done."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if config.ws_per_message_deflate:
            # uvicorn builds its ServerProtocol in __init__ with its own settings; this
            # one is the same but for the extension (nothing has been received yet).
            self.conn = ServerProtocol(
                extensions=[compact_deflate()],
                max_size=config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )

    def start_keepalive(self) -> None:
        """Called once the handshake's response is sent: nothing reads the handshake's
        request or response after that (the app has the ASGI scope)."""
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]
        super().start_keepalive()


# Linux's prctl option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_supervisor() -> None:
    """In a worker of `healthcare serve --workers N`: stop (SIGTERM, so gracefully: its
    sockets are told 1012) when the supervisor that started it dies, even by `kill -9`,
    instead of serving on as an orphan that no one stops. Elsewhere (one process, no
    supervisor; or not Linux) it does nothing."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return  # not a worker: the parent is whoever started the server
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError, TypeError):
        return
    if os.getppid() != parent.pid:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What uvicorn.run / uvicorn.Config take besides the app, host and port."""
    return {
        "log_config": None,
        "ws": CompactWebSockets,
        "ws_max_size": settings.ws_max_frame_bytes,
        # The app believes X-Forwarded-For from TRUSTED_PROXIES only (see app.py);
        # uvicorn's own handling would believe it from 127.0.0.1 by default.
        "proxy_headers": False,
    }
