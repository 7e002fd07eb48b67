"""The shedding switch (``smartstack.serving.overload.LoopLag``) on a real event loop: a loop
held by work far longer than the threshold makes the worker shed, an idle one stops it; one late
sample is a pause, not a queue; a threshold of 0 never sheds."""

from __future__ import annotations

import asyncio
import time

from smartstack.serving.overload import LoopLag


def test_one_late_sample_is_a_pause_two_are_a_queue_and_half_the_threshold_ends_it() -> None:
    lag = LoopLag(threshold_s=0.02)
    lag.observe(0.05)
    assert not lag.shedding  # a single late wake-up
    lag.observe(0.001)
    lag.observe(0.05)
    assert not lag.shedding  # not in a row
    lag.observe(0.03)
    assert lag.shedding
    lag.observe(0.015)  # under the threshold, above half of it: still behind
    assert lag.shedding
    lag.observe(0.005)
    assert not lag.shedding


def test_a_loop_held_by_work_sheds_and_sheds_no_more_once_idle() -> None:
    async def scenario() -> list[bool]:
        lag = LoopLag(threshold_s=0.05, interval_s=0.005)
        lag.watch()
        await asyncio.sleep(0.05)  # on-time samples
        seen = [lag.shedding]
        for _ in range(3):  # requests that each hold the loop far beyond the threshold
            time.sleep(0.3)
            await asyncio.sleep(0.001)  # the sampler's turn
        seen.append(lag.shedding)
        deadline = time.monotonic() + 5
        while lag.shedding and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        seen.append(lag.shedding)
        lag.close()
        return seen

    assert asyncio.run(scenario()) == [False, True, False]


def test_a_zero_threshold_never_watches() -> None:
    async def scenario() -> bool:
        lag = LoopLag(threshold_s=0)
        lag.watch()
        time.sleep(0.1)
        await asyncio.sleep(0.05)
        return lag.shedding

    assert asyncio.run(scenario()) is False
