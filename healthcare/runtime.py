"""Process-wide tuning of CPython for a server that holds many long-lived connections.

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

(Those figures predate schema.AcyclicExecutionContext: every operation then left about
170 objects in reference cycles, so young collections followed the request rate. Now
operations leave none, and collections follow the growth of long-lived state only.)
"""

import gc

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
