"""healthcare.graphql.loaders.DataLoader: callers that cannot cancel each other."""

import asyncio
from collections.abc import Sequence

from healthcare.graphql.loaders import DataLoader


class Batches:
    def __init__(self) -> None:
        self.asked: list[list[int]] = []
        self.release = asyncio.Event()

    async def load(self, keys: Sequence[int]) -> list[int]:
        self.asked.append(list(keys))
        await self.release.wait()
        return [key * 10 for key in keys]


async def test_a_caller_that_stops_waiting_does_not_cancel_the_batch_of_the_others():
    # given: two callers waiting on one batch
    batches = Batches()
    loader = DataLoader(load_fn=batches.load)
    first, second = loader.load(1), loader.load(1)
    await asyncio.sleep(0)  # the batch is dispatched
    # when: the first stops waiting (graphql-core cancels a failed field's siblings)
    first.cancel()
    batches.release.set()
    # then
    assert await second == 10
    assert batches.asked == [[1]]


async def test_a_key_loaded_already_is_answered_by_its_settled_future_without_a_batch():
    # given
    batches = Batches()
    batches.release.set()
    loader = DataLoader(load_fn=batches.load)
    await loader.load_ahead([2, 3])
    # when
    answer = loader.load(2)
    # then: the settled future itself (nothing to shield), and no new batch
    settled = loader.cache_map.get(2)
    assert settled is not None and settled.done()
    assert answer is settled
    assert await answer == 20
    assert batches.asked == [[2, 3]]
