"""Process-wide tuning of memory: CPython's garbage collector for a server that holds many
long-lived connections, and glibc's malloc for the large buffers of image decoding.

CPython's cyclic garbage collector walks every tracked object at a full collection.
With a thousand open WebSockets the heap holds a few hundred thousand long-lived objects
(the schema, the ORM's models, each connection's protocol, handler and subscription
state), and a full collection stopped the event loop for 0.6 to 1.1 s, for every
client at once (docs/benchmarks.md). Two standard remedies:

- `gc.freeze()` once start-up is done: what exists then (modules, the schema, the ORM's
  metadata) lives as long as the process and is never scanned again;
- a larger first-generation threshold: short-lived cycles (graphql-core's execution
  contexts, futures, exceptions with tracebacks) die in the young generation instead of
  being promoted and making the old one grow, which is what triggers full collections.

The threshold trades throughput against the tail: a larger young generation means
fewer collections but longer ones. Measured with the benchmarks (docs/benchmarks.md), a
doctor's list of 50 on PostgreSQL, peak req/s and p99 at half of it, and 1,000 chat
clients at 100 msg/s, p99:

    young threshold   list peak   list p99   chat p99
    700 (default)        27 /s     31-40 ms   0.3-1 s (full collections)
    10,000               46 /s        39 ms     26 ms
    20,000               53 /s        34 ms     28 ms
    50,000               57 /s       103 ms     68-80 ms

(Those figures predate graphql.execution.LeanExecutionContext: every operation then
left about 170 objects in reference cycles, so young collections followed the request
rate. Now operations leave none, and collections follow the growth of long-lived state
only: the threshold matters less, and was not measured again.)
"""

import ctypes
import ctypes.util
import gc
import logging

logger = logging.getLogger(__name__)

# Allocations (minus deallocations) between young collections; CPython's default is 700.
YOUNG_GENERATION_THRESHOLD = 20_000
MIDDLE_GENERATION_THRESHOLD = 20
OLD_GENERATION_THRESHOLD = 100


def tune_garbage_collector() -> None:
    """Call once the app has started (schema built, ORM initialised)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(
        YOUNG_GENERATION_THRESHOLD, MIDDLE_GENERATION_THRESHOLD, OLD_GENERATION_THRESHOLD
    )


# glibc's mallopt parameter, and the size above which every allocation is its own mapping.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024


def return_large_buffers_to_the_system() -> None:
    """Have glibc give large buffers back to the system when they are freed.

    glibc raises its mmap threshold each time a large mapped buffer is freed, up to 32 MB,
    so later buffers of that size come from the heap of the thread that made them and
    stay there. Decoding a profile picture makes 16 MB blocks in a worker thread: eight
    16-megapixel uploads left the process 280 MiB larger for good (measured), where a
    fixed threshold returns it all. Python's own objects are small and unaffected. Call
    once at start-up; elsewhere than glibc (musl, macOS) it does nothing.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return
    if not mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        logger.warning("could not set malloc's mmap threshold")
