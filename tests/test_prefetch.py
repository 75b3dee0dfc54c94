"""The prefetch thread: the same batches in the same order, errors at their turn, a clean stop."""
import threading
import time

import pytest

from bench.prefetch import prefetched


def test_yields_every_step_in_order():
    assert list(prefetched(lambda step: step * step, range(3, 9), depth=2, pin=False)) == [9, 16, 25, 36, 49, 64]


def test_builds_ahead_while_the_consumer_works():
    built = []

    def make(step):
        built.append(step)
        return step

    batches = prefetched(make, range(10), depth=2, pin=False)
    assert next(batches) == 0
    deadline = time.monotonic() + 5
    while len(built) < 3 and time.monotonic() < deadline:  # step 0 taken, 1 and 2 queued
        time.sleep(0.01)
    assert built == [0, 1, 2]
    batches.close()


def test_an_error_is_raised_at_its_step():
    def make(step):
        if step == 2:
            raise ValueError("bad video")
        return step

    seen = []
    with pytest.raises(ValueError, match="bad video"):
        for item in prefetched(make, range(5), depth=3, pin=False):
            seen.append(item)
    assert seen == [0, 1]


def test_closing_stops_the_thread():
    batches = prefetched(lambda step: step, range(1000), depth=1, pin=False)
    assert next(batches) == 0
    batches.close()
    assert not [t for t in threading.enumerate() if t.name == "batch-prefetch"]


def test_pin_pins_each_item():
    class Item:
        def __init__(self, step):
            self.step, self.pinned = step, False

        def pin_memory(self):
            self.pinned = True
            return self

    assert [(i.step, i.pinned) for i in prefetched(Item, range(2), depth=1, pin=True)] == [(0, True), (1, True)]
