"""Run a Machine or a Hypervisor in the background, in slices, while the notebook stays responsive.

A :class:`Runner` advances its target one *slice* at a time: ``machine.run(max_instructions=n)``
or ``hypervisor.run(cycles=n)``. In Jupyter, :meth:`Runner.start` starts an asyncio task on the
kernel's event loop that runs each slice on a worker thread (``await loop.run_in_executor(None,
slice)``); the jitted core releases the GIL, so the kernel keeps handling button clicks meanwhile.
Everything else happens on the event-loop thread, *between* slices, when the worker is idle:

- listeners (``on_update``) are called there, at most every ``update_interval`` seconds while
  running and always when the runner stops, so widgets and chart sources are updated safely;
- :meth:`Runner.do` runs an action that changes the target (``vm.pause``, ``add_breakpoint``)
  at once when no slice is in flight, else right after the current one;
- :meth:`Runner.pause` and :meth:`Runner.stop` take effect when the current slice ends.

Slices adapt their size to take about ``target_seconds`` of wall-clock time each (so pause and stop
answer within a fraction of a second); with ``adaptive=False`` every slice has the same size.
Scripts and tests use the synchronous :meth:`Runner.step` and :meth:`Runner.run` instead.

>>> from vmlab import Machine, assemble
>>> m = Machine(memory="64K")
>>> m.load(assemble("_start: li a0, 100\\nloop: addi a0, a0, -1\\n bnez a0, loop\\n halt"))
>>> r = Runner(m, slice_size=50, adaptive=False)
>>> r.step().instructions, r.state
(50, 'paused')
>>> r.run().finished, m.regs["a0"]
('halt', 0)
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..hypervisor import Hypervisor
from ..machine import Machine, RunResult

__all__ = ["STATES", "Runner", "Slice", "runner_for"]

STATES = ("idle", "running", "paused", "finished", "stopped")
MACHINE_SLICE = 200_000  # first slice of a Machine, in instructions
HYPERVISOR_SLICE = 200_000  # first slice of a Hypervisor, in host cycles
MIN_SLICE = 1_000
MAX_SLICE = 200_000_000

Listener = Callable[["Runner"], None]


@dataclass(frozen=True)
class Slice:
    """What one slice did: counts, wall-clock time, and why the run cannot go on (if so)."""

    index: int  # 0 for the runner's first slice
    size: int  # the budget asked for: instructions (Machine) or host cycles (Hypervisor)
    instructions: int  # guest instructions retired
    cycles: int  # modelled cycles: the machine's, or the host clock's advance
    seconds: float  # host wall-clock time the slice took (measured)
    result: RunResult | None = None  # a Machine's run result
    finished: str | None = None  # why the target cannot go on by itself, e.g. "breakpoint"

    @property
    def mips(self) -> float:
        """Guest instructions per host wall-clock microsecond (million per second)."""
        return self.instructions / self.seconds / 1e6 if self.seconds > 0 else 0.0


class Runner:
    """Advances a ``Machine`` or a ``Hypervisor`` in slices, in the background or step by step.

    Parameters
    ----------
    target : the Machine or Hypervisor to run.
    slice_size : the first slice's budget (instructions for a Machine, host cycles for a
        Hypervisor).
    adaptive : grow or shrink slices so that each takes about ``target_seconds``.
    target_seconds : the wall-clock time a slice aims at (the latency of pause and stop).
    update_interval : listeners are called at most this often (seconds) while running.
    max_instructions : a Machine run ends ("budget") after this many instructions (None: never).
    """

    def __init__(
        self,
        target: Machine | Hypervisor,
        slice_size: int | None = None,
        *,
        adaptive: bool = True,
        target_seconds: float = 0.05,
        update_interval: float = 0.25,
        max_instructions: int | None = None,
    ) -> None:
        if not isinstance(target, Machine | Hypervisor):
            raise TypeError(f"a Runner runs a Machine or a Hypervisor, not {type(target).__name__}")
        default = MACHINE_SLICE if isinstance(target, Machine) else HYPERVISOR_SLICE
        size = default if slice_size is None else slice_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"slice_size must be a positive integer, not {slice_size!r}")
        for name, value, low in (
            ("target_seconds", target_seconds, "> 0"),
            ("update_interval", update_interval, ">= 0"),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or (value <= 0 if low == "> 0" else value < 0)
            ):
                raise ValueError(f"{name} must be a number of seconds {low}, not {value!r}")
        if max_instructions is not None and (
            isinstance(max_instructions, bool)
            or not isinstance(max_instructions, int)
            or max_instructions < 0
        ):
            raise ValueError(
                f"max_instructions must be an integer >= 0 or None, not {max_instructions!r}"
            )
        self.target = target
        self.slice_size = size
        self.adaptive = bool(adaptive)
        self.target_seconds = float(target_seconds)
        self.update_interval = float(update_interval)
        self.max_instructions = max_instructions
        self.state = "idle"
        self.last: Slice | None = None  # the latest slice
        self.error: Exception | None = None  # what ended the last run, if it failed
        self.slices = 0  # slices run since the runner was made
        self.instructions = 0  # guest instructions retired in those slices
        self.run_instructions = 0  # ... since the last start() / run()
        self._listeners: list[Listener] = []
        self._pending: list[Callable[[], Any]] = []
        self._want_run = False
        self._in_flight = False
        self._restarted = False  # start() was called while the background run was going
        self._task: asyncio.Task[None] | None = None
        self._notified = 0.0

    # ---- listeners ------------------------------------------------------------------------
    def on_update(self, listener: Listener, remove: bool = False) -> None:
        """Call ``listener(runner)`` after slices (throttled) and whenever the runner stops."""
        if not callable(listener):
            raise TypeError(f"a listener must be callable, not {type(listener).__name__}")
        if remove:
            if listener in self._listeners:
                self._listeners.remove(listener)
        elif listener not in self._listeners:
            self._listeners.append(listener)

    def _notify(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._notified < self.update_interval:
            return
        self._notified = now
        for listener in list(self._listeners):
            listener(self)

    # ---- one slice ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a background run is going on (until its current slice ends after pause)."""
        return self._task is not None and not self._task.done()

    @property
    def busy(self) -> bool:
        """True while a slice is executing on the worker thread (do not touch the target then)."""
        return self._in_flight

    def _budget(self) -> int:
        if self.max_instructions is None or not isinstance(self.target, Machine):
            return self.slice_size
        return max(0, min(self.slice_size, self.max_instructions - self.run_instructions))

    def _run_slice(self, size: int) -> Slice:
        """Execute one slice on the calling thread (the worker thread in a background run)."""
        t0 = time.perf_counter()
        target = self.target
        if isinstance(target, Machine):
            res = target.run(max_instructions=size)
            finished = None if res.reason == "budget" else res.reason
            if finished is None and self.max_instructions is not None:
                if self.run_instructions + res.instructions >= self.max_instructions:
                    finished = "budget"
            return Slice(
                index=self.slices,
                size=size,
                instructions=res.instructions,
                cycles=res.cycles,
                seconds=time.perf_counter() - t0,
                result=res,
                finished=finished,
            )
        before = target.total_instructions
        advanced = target.run(cycles=size)
        return Slice(
            index=self.slices,
            size=size,
            instructions=target.total_instructions - before,
            cycles=advanced,
            seconds=time.perf_counter() - t0,
            finished="nothing to run" if advanced < size else None,
        )

    def _account(self, sl: Slice) -> None:
        """Book a finished slice and adapt the next slice's size (event-loop thread)."""
        self.last = sl
        self.slices += 1
        self.instructions += sl.instructions
        self.run_instructions += sl.instructions
        if self.adaptive and sl.finished is None:
            if sl.seconds < self.target_seconds / 4:
                self.slice_size = min(MAX_SLICE, self.slice_size * 2)
            elif sl.seconds > self.target_seconds * 2:
                self.slice_size = max(MIN_SLICE, self.slice_size // 2)

    def _run_pending(self) -> None:
        """Run the actions queued by ``do`` while a slice was in flight."""
        while self._pending:
            action = self._pending.pop(0)
            try:
                action()
            except Exception as exc:  # an action's own errors are its caller's to show
                self.error = exc

    # ---- synchronous use ----------------------------------------------------------------------
    def step(self) -> Slice:
        """Run one slice now, on this thread; returns what it did (errors propagate)."""
        if self.running:
            raise RuntimeError("the runner is running in the background: pause() it first")
        if self.state == "stopped":
            raise RuntimeError("the runner is stopped; make a new Runner")
        if self.state != "paused":
            self.run_instructions = 0
        self.error = None
        sl = self._run_slice(self._budget())
        self._account(sl)
        self.state = "finished" if sl.finished else "paused"
        self._notify(force=True)
        return sl

    def run(self, max_slices: int | None = None) -> Slice:
        """Run slices on this thread until the target cannot go on (or ``max_slices``)."""
        if max_slices is not None and max_slices < 1:
            raise ValueError(f"max_slices must be >= 1, not {max_slices}")
        if self.state != "paused":
            self.state = "idle"  # a fresh run: instruction budget starts again
        done = 0
        while True:
            sl = self.step()
            done += 1
            if sl.finished or (max_slices is not None and done >= max_slices):
                return sl

    def do(self, action: Callable[[], Any]) -> bool:
        """Run ``action()`` now if no slice is in flight (True), else right after it (False)."""
        if self._in_flight:
            self._pending.append(action)
            return False
        action()
        return True

    def later_if_busy(self, action: Callable[[], Any]) -> bool:
        """If a slice is in flight, run ``action()`` right after it (queued once) and say True."""
        if not self._in_flight:
            return False
        if action not in self._pending:
            self._pending.append(action)
        return True

    # ---- background use -----------------------------------------------------------------------
    def start_if_possible(self) -> bool:
        """``start()`` if an event loop runs (Jupyter); else nothing (the caller runs it): started?"""
        if not event_loop_running():
            return False
        self.start()
        return True

    def start(self) -> None:
        """Start (or continue) running in the background on the running asyncio event loop."""
        if self.state == "stopped":
            raise RuntimeError("the runner is stopped; make a new Runner")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Runner.start() needs a running asyncio event loop (a Jupyter kernel has one); "
                "in a script or a test use step() or run() instead"
            ) from None
        self._want_run = True
        if self.running:  # already going (perhaps finishing its last slice): it goes on
            self._restarted = True
            return
        if self.state != "paused":
            self.run_instructions = 0
        self.error = None
        self.state = "running"
        self._task = loop.create_task(self._loop(loop))
        self._notify(force=True)

    def pause(self) -> None:
        """Stop after the current slice; ``start()`` continues from there."""
        self._want_run = False
        if not self.running and self.state == "running":
            self.state = "paused"

    def stop(self) -> None:
        """Stop after the current slice, for good (listeners are called one last time)."""
        self._want_run = False
        was_running = self.running
        self.state = "stopped"
        if not was_running:
            self._notify(force=True)

    async def wait(self, timeout: float | None = None) -> str:
        """Wait until the background run ends (or ``timeout`` seconds); returns the state."""
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=timeout)
            await asyncio.sleep(0)
        return self.state

    async def _loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The background run: one slice at a time on a worker thread."""
        final = "paused"
        try:
            while self._want_run:
                size = self._budget()
                self._in_flight = True
                try:
                    sl = await loop.run_in_executor(None, self._run_slice, size)
                finally:
                    self._in_flight = False
                self._account(sl)
                self._restarted = False
                self._run_pending()
                # a queued action may have made the target runnable again (a VM started
                # while the slice that found nothing to run was in flight): then go on
                if sl.finished and not (self._restarted and self._want_run):
                    final = "finished"
                    break
                self._notify()
                await asyncio.sleep(0)  # let the kernel handle clicks between slices
        except Exception as exc:
            self.error = exc
            final = "finished"
        finally:
            self._in_flight = False
            self._run_pending()
            self._want_run = False
            self._task = None  # not running any more, as listeners will see
            if self.state != "stopped":
                self.state = final
            self._notify(force=True)

    def __repr__(self) -> str:
        kind = type(self.target).__name__
        return f"<Runner {kind} {self.state} slices={self.slices} slice_size={self.slice_size}>"


_shared: weakref.WeakKeyDictionary[Machine | Hypervisor, Runner] = weakref.WeakKeyDictionary()


def event_loop_running() -> bool:
    """Whether this thread runs an asyncio event loop (a Jupyter kernel does; a script does not)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def runner_for(target: Machine | Hypervisor) -> Runner:
    """The one shared Runner of a target (widgets of VMs on one hypervisor share it)."""
    runner = _shared.get(target)
    if runner is None or runner.state == "stopped":
        runner = _shared[target] = Runner(target)
    return runner
