"""A sync run collects garbage at a slower pace, and every run restores the pace it found."""

from __future__ import annotations

import gc
import threading

from connector.gcpace import RUN_THRESHOLD, fewer_collections


def test_the_pace_is_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == (max(RUN_THRESHOLD, before[0]), *before[1:])
    assert gc.get_threshold() == before


def test_the_pace_is_restored_after_an_error_and_by_the_last_of_overlapping_runs() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise RuntimeError("a failed run")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    inside, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with fewer_collections():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other_run)
    thread.start()
    inside.wait(10)
    with fewer_collections():
        pass
    assert gc.get_threshold()[0] == max(RUN_THRESHOLD, before[0])  # the other run is still in progress
    release.set()
    thread.join(10)
    assert gc.get_threshold() == before
