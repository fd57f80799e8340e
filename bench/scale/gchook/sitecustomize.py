"""bench.scale --gc-log: imported by every Python process started with this folder on
PYTHONPATH (the API's supervisor and workers). When BENCH_GC_LOG_DIR is set, each
collection of CPython's garbage collector that stops the process for PAUSE_MS or more is
appended to <dir>/<pid>.log as "monotonic seconds, generation, milliseconds, collected",
after a first line naming the command. Not part of the package: a measuring probe only.
"""

import gc
import os
import sys
import time

PAUSE_MS = 5.0
_folder = os.environ.get("BENCH_GC_LOG_DIR")
_started = [0.0]


def _on_collection(phase: str, info: dict) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    took = (time.perf_counter() - _started[0]) * 1000
    if took < PAUSE_MS:
        return
    path = os.path.join(str(_folder), f"{os.getpid()}.log")
    first = not os.path.exists(path)
    with open(path, "a") as log:
        if first:
            log.write(" ".join(sys.argv)[:200] + "\n")
        log.write(f"{time.monotonic():.3f} {info['generation']} {took:.1f} {info['collected']}\n")


if _folder:
    gc.callbacks.append(_on_collection)
