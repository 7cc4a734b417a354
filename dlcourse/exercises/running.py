"""Running a learner's code for a checker: under a time limit, its output captured, anything it
raises caught (``SystemExit`` included; only ``KeyboardInterrupt`` passes through).

The time limit interrupts the learner's code with a timer signal where there is one (Linux and
macOS, in the main thread, which is where a notebook runs cells). Elsewhere (Windows, or a checker
called from another thread) the function runs in a helper thread that is abandoned when the time
is up: the checker still answers in time, but a loop that never ends keeps running in the
background until the kernel is restarted.

Importing a module does not count against the limit (up to :data:`IMPORT_GRACE_S`): an answer whose
first line is ``import torch`` must not be stopped halfway through the import, which would leave
torch broken for the rest of the session.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = [
    "IMPORT_GRACE_S",
    "TIME_LIMIT_S",
    "TimeUp",
    "call_limited",
    "describe_error",
    "quiet",
    "run_answer",
    "sentence",
    "short",
    "time_limit",
]

TIME_LIMIT_S = 3.0  # seconds a learner's function may run on one case
IMPORT_GRACE_S = 60.0  # seconds past the limit that a module being imported may still take


class TimeUp(BaseException):
    """Raised inside the learner's code when its time is up (a BaseException, so that the learner's
    own ``except Exception`` cannot swallow it)."""


def _importing(frame: Any) -> bool:
    """Whether ``frame`` or a caller of it is loading a module (not only looking up one already loaded)."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_load_unlocked" and code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[dict[str, bool]]:
    """Raise :class:`TimeUp` in the running code after ``seconds`` (and every 0.2 s after that).
    Yields a record whose ``"fired"`` says whether it did: code that swallowed the TimeUp and
    returned all the same has still run out of time."""
    state = {"fired": False}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield state  # no timer signal here: call_limited uses a helper thread instead
        return
    start = time.monotonic()
    grace_end = start + seconds + IMPORT_GRACE_S

    def alarm(signum: int, frame: Any) -> None:
        if _importing(frame) and time.monotonic() < grace_end:
            return  # a module half-imported stays broken: the next tick, after the import, stops the code
        state["fired"] = True
        raise TimeUp

    previous = signal.signal(signal.SIGALRM, alarm)
    # Re-armed every 0.2 s until the call is left: code that catches one TimeUp (a bare
    # ``except:``) gets another. A loop that swallows every exception cannot be stopped this way;
    # interrupt the kernel then. A limit inside another (a checker reading a learner's message while
    # the learner's code runs) hands the outer one back, less the time spent, when it is left.
    outer, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds, 0.2)
    try:
        yield state
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            left = max(outer - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def call_limited(fn: Callable[[], Any], seconds: float) -> tuple[str, Any, str]:
    """Run ``fn()`` under the time limit, capturing what it prints.

    Returns:
        ("ok", result, printed), ("raised", exception, printed) or ("timeout", None, printed).
    """
    out = io.StringIO()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        try:
            with time_limit(seconds) as limit, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                result = fn()
            if limit["fired"]:  # the code caught its TimeUp and went on: it ran out of time all the same
                return "timeout", None, out.getvalue()
            return "ok", result, out.getvalue()
        except TimeUp:
            return "timeout", None, out.getvalue()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: the learner's code must not end the kernel
            return "raised", exc, out.getvalue()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        worker.start()
        worker.join(seconds)
        grace_end = time.monotonic() + IMPORT_GRACE_S
        while worker.is_alive() and time.monotonic() < grace_end and _importing(_frame_of(worker)):
            worker.join(0.05)  # an import in progress is waited for, as under the timer signal
    if worker.is_alive():
        return "timeout", None, out.getvalue()
    if "error" in box:
        return "raised", box["error"], out.getvalue()
    return "ok", box.get("result"), out.getvalue()


def _frame_of(thread: threading.Thread) -> Any:
    """The frame that ``thread`` is running now, or None."""
    return sys._current_frames().get(thread.ident or -1)


def run_answer(fn: Callable[[], Any]) -> tuple[str, Any, str]:
    """Run ``fn()`` (a call of the learner's code) as the checkers do: under :data:`TIME_LIMIT_S`,
    its output captured, anything it raises caught. For a chapter's own pre-checks.

    Returns:
        ("ok", result, printed), ("raised", exception, printed) or ("timeout", None, printed).
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return call_limited(fn, TIME_LIMIT_S)


def describe_error(exc: BaseException) -> str:
    """The exception's name and a short message, read under the time limit (a learner's exception
    may have a ``__str__`` that never returns)."""
    status, text, _ = call_limited(lambda: short(exc), 1.0)
    name = type.__dict__["__name__"].__get__(type(exc))  # the class's own name: a metaclass cannot slow it
    return f"{name}: {text if status == 'ok' else 'a message that could not be read'}"


def short(text: str, lines: int = 3, width: int = 200) -> str:
    """At most ``lines`` lines of at most ``width`` characters: a learner's 1 MB message stays short."""
    kept = str(text).splitlines()[:lines]
    cut = [line if len(line) <= width else line[: width - 3] + "..." for line in kept]
    more = len(str(text).splitlines()) > lines
    return " / ".join(cut) + (" ..." if more else "")


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The checker's own computations: no warnings, no floating-point errors, whatever the learner set."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield
