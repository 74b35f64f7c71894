"""The scheduler: calls wait for their turn on the event loop, never in a worker thread, so a
collection that is busy (or whose calls pile up) never holds the threads others need."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from chroma_grpc.server._execution import LIGHT, UNGATED, Access, Scheduler

WRITE_A = Access(collection="a", exclusive=True, writes=True)
SEARCH_A = Access(collection="a")


def _blocker(started: threading.Event, release: threading.Event) -> Callable[[], str]:
    def block() -> str:
        started.set()
        assert release.wait(10)
        return "done"

    return block


def run(coroutine_function: Callable[[], object]) -> object:
    return asyncio.run(coroutine_function())  # type: ignore[arg-type]


def test_queued_writes_to_a_busy_collection_take_no_thread() -> None:
    """Two workers: one blocked in a write to A, five more writes to A queued; B still runs.
    (A write to B would wait too, for the single writer's slot, also on the loop.)"""
    scheduler = Scheduler(2)

    async def scenario() -> None:
        started, release = threading.Event(), threading.Event()
        busy = asyncio.ensure_future(scheduler.run(WRITE_A, _blocker(started, release)))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        queued = [asyncio.ensure_future(scheduler.run(WRITE_A, lambda n=n: n)) for n in range(5)]
        other = Access(collection="b")
        assert await asyncio.wait_for(scheduler.run(other, lambda: "b"), 5) == "b"
        write_b = asyncio.ensure_future(
            scheduler.run(Access(collection="b", exclusive=True, writes=True), lambda: "wb")
        )
        assert await asyncio.wait_for(scheduler.run(UNGATED, lambda: "read"), 5) == "read"
        assert not any(task.done() for task in queued)  # they wait for A, on the loop
        assert not write_b.done()  # SQLite's one writer is busy
        release.set()
        assert await busy == "done"
        assert await asyncio.gather(*queued) == [0, 1, 2, 3, 4]
        assert await write_b == "wb"

    run(scenario)
    scheduler.shutdown()


def test_one_collection_takes_at_most_half_the_threads() -> None:
    scheduler = Scheduler(4)  # per collection: 2
    release = threading.Event()

    async def scenario() -> None:
        running = 0
        most = 0
        lock = threading.Lock()

        def search() -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            release.wait(0.2)
            with lock:
                running -= 1

        searches = [asyncio.ensure_future(scheduler.run(SEARCH_A, search)) for _ in range(8)]
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(scheduler.run(Access(collection="b"), lambda: 1), 5) == 1
        await asyncio.gather(*searches)
        assert most == 2

    run(scenario)
    scheduler.shutdown()


def _logged(log: list[str], name: str, pause: float = 0.0) -> Callable[[], None]:
    """A call that notes in ``log`` when it starts (name+) and ends (name-)."""

    def act() -> None:
        log.append(f"{name}+")
        time.sleep(pause)
        log.append(f"{name}-")

    return act


def test_searches_share_and_writes_exclude() -> None:
    scheduler = Scheduler(4, per_collection=4)
    log: list[str] = []

    async def scenario() -> None:
        first = asyncio.ensure_future(scheduler.run(SEARCH_A, _logged(log, "s1", 0.1)))
        second = asyncio.ensure_future(scheduler.run(SEARCH_A, _logged(log, "s2", 0.1)))
        write = asyncio.ensure_future(scheduler.run(WRITE_A, _logged(log, "w", 0.05)))
        late = asyncio.ensure_future(scheduler.run(SEARCH_A, _logged(log, "s3")))
        await asyncio.gather(first, second, write, late)

    run(scenario)
    scheduler.shutdown()
    assert set(log[:2]) == {"s1+", "s2+"}  # the searches ran together
    w = log.index("w+")
    assert {"s1-", "s2-"} <= set(log[:w]) and log[w + 1] == "w-"  # the write alone
    assert log.index("s3+") > log.index("w-")  # first come, first served


def test_a_cancelled_call_keeps_its_gate_until_its_thread_is_done() -> None:
    scheduler = Scheduler(2)
    events: list[str] = []

    async def scenario() -> None:
        started, release = threading.Event(), threading.Event()
        call = asyncio.ensure_future(scheduler.run(WRITE_A, _blocker(started, release)))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        call.cancel()  # the client went away; the store call cannot be interrupted
        with pytest.raises(asyncio.CancelledError):
            await call
        after = asyncio.ensure_future(scheduler.run(WRITE_A, lambda: events.append("after")))
        await asyncio.sleep(0.1)
        assert events == []  # the next write to A waits for the thread, not for the RPC
        events.append("released")
        release.set()
        await after

    run(scenario)
    scheduler.shutdown()
    assert events == ["released", "after"]


def test_a_call_cancelled_while_queued_never_runs_and_frees_its_place() -> None:
    scheduler = Scheduler(2)
    ran: list[int] = []

    async def scenario() -> None:
        started, release = threading.Event(), threading.Event()
        busy = asyncio.ensure_future(scheduler.run(WRITE_A, _blocker(started, release)))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        queued = asyncio.ensure_future(scheduler.run(WRITE_A, lambda: ran.append(1)))
        behind = asyncio.ensure_future(scheduler.run(SEARCH_A, lambda: ran.append(2)))
        await asyncio.sleep(0.05)
        queued.cancel()
        release.set()
        await busy
        await behind
        assert queued.cancelled()

    run(scenario)
    scheduler.shutdown()
    assert ran == [2]
    assert scheduler._collections == {}  # idle gates are forgotten


def test_reset_waits_for_everything_and_everything_waits_for_it() -> None:
    scheduler = Scheduler(4)
    log: list[str] = []

    async def scenario() -> None:
        a = asyncio.ensure_future(scheduler.run(WRITE_A, _logged(log, "a", 0.1)))
        await asyncio.sleep(0.02)
        reset = asyncio.ensure_future(
            scheduler.run(Access(everything=True, writes=True), _logged(log, "reset", 0.05))
        )
        await asyncio.sleep(0.02)
        b = asyncio.ensure_future(scheduler.run(Access(collection="b"), _logged(log, "b")))
        await asyncio.gather(a, reset, b)

    run(scenario)
    scheduler.shutdown()
    assert log == ["a+", "a-", "reset+", "reset-", "b+", "b-"]


def test_light_calls_have_threads_of_their_own() -> None:
    scheduler = Scheduler(1)

    async def scenario() -> None:
        started, release = threading.Event(), threading.Event()
        busy = asyncio.ensure_future(scheduler.run(UNGATED, _blocker(started, release)))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        assert await asyncio.wait_for(scheduler.run(LIGHT, lambda: "beat"), 5) == "beat"
        release.set()
        await busy

    run(scenario)
    scheduler.shutdown()
