"""An SMTP server that accepts every email (aiosmtpd): the API's emails go out as in
production, not into retries against a closed port (which would add work of their own to
what is measured).

`SmtpSink` runs in a thread of the caller's process; `SmtpSinkProcess` in a process of
its own (`python -m bench.common.smtp`), for a caller that is also the load generator:
a sink thread receiving a booking run's emails took the generator's interpreter lock
often enough to slow the generator itself (bench.api, docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller

from bench.common.processes import REPO_ROOT
from tests.servers import free_port

READY = "ready"


def sink_url(port: int) -> str:
    return f"smtp://127.0.0.1:{port}?starttls=off"


class SmtpSink:
    def __init__(self, port: int | None = None) -> None:
        self.received = 0
        self.port = port or free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 Message accepted for delivery"

    @property
    def url(self) -> str:
        return sink_url(self.port)


class SmtpSinkProcess:
    """`SmtpSink` in a process of its own: `start()`, then `stop()` says how many emails
    it received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return sink_url(self.port)

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "bench.common.smtp", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != READY:
            self.process.kill()
            raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> int:
        if self.process is not None:
            self.process.terminate()
            out, _ = self.process.communicate(timeout=30)
            self.received = int(out.strip() or 0)
            self.process = None
        return self.received


def main() -> None:
    parser = argparse.ArgumentParser(description="an SMTP server that accepts every email")
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    sink = SmtpSink(port)
    sink.controller.start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    # Ctrl-C on the benchmark reaches this process too: the benchmark stops it, and reads
    # its count, when it stops itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(READY, flush=True)
    stopping.wait()
    sink.controller.stop()
    print(sink.received, flush=True)  # what the parent reads when it stops this


if __name__ == "__main__":
    main()
