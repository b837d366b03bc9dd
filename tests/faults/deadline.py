"""A per-case time limit for tests of loaders that must never hang."""

import contextlib
import signal
import threading


class Hang(BaseException):
    """A case ran past its time limit. A BaseException, like KeyboardInterrupt, so that a loader's
    `except Exception` (the folder loader's, around a file's decoding) cannot swallow it."""


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise Hang in the block after `seconds`: SIGALRM interrupts a blocking read (a FIFO with no
    writer) as well as Python code. Needs the main thread (pytest runs tests there)."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("deadline() needs the main thread (it uses SIGALRM)")

    def expire(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
