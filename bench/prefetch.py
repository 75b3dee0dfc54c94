"""Build training batches ahead of the compute in a background thread.

``prefetched(make, steps, depth, pin)`` yields ``make(step)`` for every step, in order,
while one daemon thread builds up to ``depth`` of them ahead. A thread suffices: the heavy
parts of building a batch (numpy indexing, torch resizes and augmentation) release the GIL.
A batch depends only on its step (bench/loader.py), so prefetching changes no number.
``pin`` puts each batch in page-locked memory (``pin_memory()``), so that its host-to-device
copy (``.to(device, non_blocking=True)``) runs asynchronously; it needs CUDA.

An exception raised while building a batch is raised by the generator at that batch's
turn; closing the generator (the consumer stops early, e.g. on a NaN loss) stops the thread.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(make: Callable[[int], T], steps: Iterable[int], depth: int, pin: bool) -> Iterator[T]:
    """``make(step)`` for each of ``steps``, built up to ``depth`` ahead in a background thread."""
    slots: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                slots.put((item, error), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for step in steps:
                item = make(step)
                if not put(item.pin_memory() if pin else item):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put(None, error)
            return
        put(_DONE)

    thread = threading.Thread(target=work, name="batch-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()
