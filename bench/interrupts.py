"""Ctrl-C (SIGINT) and SIGTERM: stop cleanly, and say truthfully what can be resumed.

Outside the training loop both signals raise (``KeyboardInterrupt``, or ``Terminated`` for
SIGTERM), so every ``finally`` runs and no temporary file or lock is left behind. Inside
the training loop (``StopAtStepEnd``) a signal only sets a flag: the loop finishes the
current step, writes a checkpoint at that step and raises ``TrainingStopped(step)``; a
second signal stops at once (the last periodic checkpoint stays valid).
"""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so cleanup runs."""

    signum = signal.SIGTERM


class TrainingStopped(KeyboardInterrupt):
    """Training stopped at a step end on a signal; a checkpoint at ``step`` was written
    (None: no step had finished, nothing to resume)."""

    def __init__(self, signum: int, step: int | None):
        super().__init__(signum, step)
        self.signum = signum
        self.step = step


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by a signal; ``str()`` is the one line for the user (what is kept)."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_status(error: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process stopped by it."""
    return 128 + int(getattr(error, "signum", signal.SIGINT))


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def terminate_raises() -> Iterator[None]:
    """While active (the command line wraps each command in it), SIGTERM raises Terminated in
    the main thread; the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StopAtStepEnd:
    """While active, SIGINT / SIGTERM set ``requested``; a second one raises at once."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested is not None:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        self.requested = signum
        print(f"{signal_name(signum)}: finishing this training step to checkpoint it "
              "(a second signal stops at once)", file=sys.stderr)

    def __enter__(self) -> StopAtStepEnd:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
