"""pyns.aio on uvloop: the asyncio tests of test_aio.py (100 children gathered, cancellation
kills and reaps, streams, run), run again with uvloop's event loop, with the same leak check."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

import pyns.aio

uvloop = pytest.importorskip(
    "uvloop", reason="uvloop is not installed: pip install -r tests/requirements.txt"
)

# Collected here again, so that the fixture below puts them on uvloop; no_leaks is test_aio's
# check that no fd, thread or child is left.
from test_aio import (  # noqa: E402, F401
    no_leaks,
    test_a_hundred_children_awaited_at_once,
    test_bad_arguments_before_anything_starts,
    test_cancelling_a_waiting_task_kills_and_reaps_the_child,
    test_cancelling_communicate_kills_and_reaps_the_child,
    test_communicate_through_asyncio_streams,
    test_many_tasks_wait_for_one_child,
    test_run_many_at_once,
    test_run_returns_and_raises_like_pyns_run,
    test_run_timeout_and_cancel_kill_and_reap,
    test_signals,
    test_streams_read_line_by_line_then_wait,
)


# libuv opens a process-wide signal pipe with its first loop and keeps it: made here, at
# collection, so that the leak guards count it among what was there before.
uvloop.new_event_loop().close()


@pytest.fixture(autouse=True)
def on_uvloop():
    """asyncio.run makes uvloop's loops for the test."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(None)


def test_the_loop_is_uvloop():
    async def main():
        p = await pyns.aio.spawn(["echo", "hi"], stdout=subprocess.PIPE)
        out, _ = await p.communicate()
        return type(asyncio.get_running_loop()), out

    loop, out = asyncio.run(main())
    assert loop is uvloop.Loop and out == b"hi\n"
