"""Ctrl-C held back while vmlab changes state, then raised where nothing is half done.

A KeyboardInterrupt lands between any two Python bytecodes: in the middle of a clone it left
frames counted twice, in the middle of ``hv.run`` it dropped the exit the core had just
returned, so the guest ran on differently. Every state-changing call runs inside ``Held``:
a SIGINT (Ctrl-C, a notebook's "interrupt kernel") only sets a flag, and the call raises
KeyboardInterrupt once it is complete. Long-running loops (``Hypervisor.run``,
``Machine.run``) look at ``Held.stop_requested`` between slices and stop there, as a run
that reached its budget would, so an interrupted run resumed goes on exactly as if it had
never been interrupted.

Only Python's own handler is replaced, and only in the main thread (the only one a SIGINT
reaches): code that installed its own handler, and runs in other threads, see no change.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_depth = 0  # nesting of active Held blocks (main thread only)
_pending = False  # a SIGINT arrived while held


def _hold(signum: int, frame: object) -> None:
    """The SIGINT handler while held: remember it."""
    global _pending
    _pending = True


class Held:
    """``with Held():`` defers Ctrl-C to the end of the block (nested blocks: the outermost)."""

    __slots__ = ("_active",)

    def __init__(self) -> None:
        self._active = False

    def __enter__(self) -> Held:
        global _depth, _pending
        if threading.current_thread() is not threading.main_thread():
            return self
        if _depth == 0:
            if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                return self  # someone else's handler: theirs to deal with
            _pending = False
            signal.signal(signal.SIGINT, _hold)
        _depth += 1
        self._active = True
        return self

    @property
    def stop_requested(self) -> bool:
        """A Ctrl-C is waiting and this is the outermost block: stop at the next safe point."""
        return self._active and _pending and _depth == 1

    def __exit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _depth, _pending
        if not self._active:
            return
        self._active = False
        _depth -= 1
        if _depth:
            return
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if _pending:
            _pending = False
            if not isinstance(exc, KeyboardInterrupt):
                raise KeyboardInterrupt from exc


def held(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: ``fn`` runs to its end under ``Held``; a Ctrl-C meanwhile is raised after."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with Held():
            return fn(*args, **kwargs)

    return wrapper
