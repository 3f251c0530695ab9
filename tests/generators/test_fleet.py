"""The fleet's slots: fair shares by weight, the roomiest endpoint first, pauses after refusals, no leaks."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from generators.fleet import CANCELLED, Fleet, Lease, Outcome, job_share


def fixed_fleet(limit: int) -> Fleet:
    return Fleet(cap=limit, initial=limit, adaptive=False, timeout_s=5)


async def acquire_as(fleet: Fleet, key: str, weight: int) -> Lease:
    with job_share(key, weight):
        return await fleet.acquire(["http://a"])


def test_free_slots_go_to_jobs_by_their_weights() -> None:
    async def main() -> None:
        fleet = fixed_fleet(4)
        first = [await acquire_as(fleet, "light", 1) for _ in range(4)]  # light came first and holds all 4
        waiting = [asyncio.create_task(acquire_as(fleet, key, weight))
                   for _ in range(20) for key, weight in (("light", 1), ("heavy", 3))]  # fmt: skip
        await asyncio.sleep(0.01)
        assert (fleet.waiting("light"), fleet.waiting("heavy")) == (20, 20)
        for lease in first:  # each freed slot goes to the job with the fewest in flight per unit of weight
            fleet.release(lease, Outcome("ok", tokens=10))
        assert (fleet.in_flight("light"), fleet.in_flight("heavy")) == (1, 3)
        done = [task for task in waiting if task.done()]
        for task in done:
            fleet.release(task.result(), Outcome("ok", tokens=10))
        assert (fleet.in_flight("light"), fleet.in_flight("heavy")) == (1, 3)  # the split holds as slots free
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        for task in waiting:
            if not task.cancelled() and task not in done:
                fleet.release(task.result(), CANCELLED)
        assert fleet.gates["http://a"].in_flight == 0
        await fleet.aclose()

    asyncio.run(main())


def test_each_request_goes_to_the_endpoint_with_most_room() -> None:
    async def main() -> None:
        fleet = fixed_fleet(3)
        leases = [await fleet.acquire(["http://a", "http://b"]) for _ in range(6)]
        assert Counter(lease.url for lease in leases) == {"http://a": 3, "http://b": 3}
        waiting = asyncio.create_task(fleet.acquire(["http://a", "http://b"]))
        await asyncio.sleep(0.01)
        assert not waiting.done() and fleet.waiting("") == 1  # both full: it waits
        fleet.release(leases[4], Outcome("ok", tokens=5))
        assert (await waiting).url == leases[4].url
        await fleet.aclose()

    asyncio.run(main())


def test_an_endpoint_that_asked_to_retry_after_gets_nothing_until_then_and_is_used_again() -> None:
    async def main() -> None:
        fleet = fixed_fleet(2)
        first = await fleet.acquire(["http://a"])
        fleet.release(first, Outcome("refused", retry_after_s=0.3))
        started = time.monotonic()
        second = await fleet.acquire(["http://a"])  # only endpoint: waits out the pause (stretched by jitter)
        assert 0.3 <= time.monotonic() - started < 1.5  # the pause (0.3-0.36 s), not more than a loaded loop adds
        fleet.release(second, Outcome("ok", tokens=10))
        assert (fleet.snapshot()[0].paused_s, fleet.snapshot()[0].served) == (0, 1)
        other = await fleet.acquire(["http://a", "http://b"])
        fleet.release(other, Outcome("refused", retry_after_s=5))
        moved = await asyncio.wait_for(fleet.acquire(["http://a", "http://b"]), 1)  # the other one
        assert moved.url != other.url
        fleet.release(moved, Outcome("ok"))
        await fleet.aclose()

    asyncio.run(main())


def test_a_retry_avoids_the_endpoint_that_failed_while_another_has_room() -> None:
    async def main() -> None:
        fleet = fixed_fleet(4)
        for _ in range(5):
            lease = await fleet.acquire(["http://a", "http://b"], avoid="http://a")
            assert lease.url == "http://b"
            fleet.release(lease, CANCELLED)
        await fleet.aclose()

    asyncio.run(main())


def test_cancelled_waiters_leave_no_slot_held() -> None:
    async def main() -> None:
        fleet = fixed_fleet(1)
        held = await fleet.acquire(["http://a"])
        waiters = [asyncio.create_task(fleet.acquire(["http://a"])) for _ in range(5)]
        await asyncio.sleep(0.01)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        fleet.release(held, Outcome("ok", tokens=1))
        assert fleet.gates["http://a"].in_flight == 0 and fleet.waiting("") == 0
        again = await asyncio.wait_for(fleet.acquire(["http://a"]), 1)
        fleet.release(again, CANCELLED)
        await fleet.aclose()

    asyncio.run(main())
