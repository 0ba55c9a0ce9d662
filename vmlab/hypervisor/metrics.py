"""Accounting: what the hypervisor counts for each VM and for the host, and what virtualizing costs.

Every figure is in modelled host cycles (deterministic) unless its name says seconds (host
wall-clock time, measured, noisy). The counters obey these identities, which the tests check:

- **host**: ``clock = guest_cycles + hypervisor_cycles + idle_cycles`` -- every host cycle either
  ran some guest's instructions, or the hypervisor working for a guest (exits, world switches),
  or nothing (no VM could run);
- **VM**: ``elapsed_cycles = guest_cycles + hypervisor_cycles + idle_cycles + ready_cycles +
  limited_cycles`` over the host cycles during which the VM was powered on and not paused:
  *guest* running its instructions, *hypervisor* the VMM working for it, *idle* waiting for an
  interrupt in ``wfi`` (free: it costs the host nothing), *ready* able to run while another VM had
  the CPU (vSphere's "ready time", a Linux guest's "steal"), *limited* able to run but held back
  by its CPU limit;
- **exits**: the cycles of a VM's exits by reason add up to its hypervisor cycles. Switching the
  host CPU from one VM to another is listed as the pseudo-exit ``"world-switch"`` (charged to
  the VM switched to), so nothing the VMM does is missing from the table.

A VM's counters travel with it (``vm.stats``): restoring a snapshot rolls them back, a clone
starts from its parent's, an imported VM brings its own; its powered-on time follows them, so its
identity keeps holding. The host's counters count only what happened on this host and never go
back, and neither does a VM's ``cpu_share``: the fraction of one host CPU it used while powered
on, counted from when it appeared on this host (``consumed_on_host / elapsed_on_host``). The
cycles a clone or an imported VM brings along were used elsewhere (or earlier), and a restored
snapshot's are history: none of them counts as CPU time it received here.

``hv.metrics()`` / ``vm.metrics()`` return cheap snapshots (:class:`HostMetrics`,
:class:`VMMetrics`). ``hv.series(vm)`` / ``hv.series()`` are bounded time series of the same
counters (a ring buffer, :class:`Series`: the newest ``HISTORY`` points; a VM gets a regular
point at most every ``hv.sample_cycles`` host cycles while it runs, and every VM and the host get
an extra one at the end of every ``hv.run`` call, which does not move the regular ones: split
runs have every point one run has); ``hv.samples(vm, after=clock)`` gives a VM's newest points as
:class:`Sample` objects (what a live chart polls for). ``hv.rows(kind)`` flattens any of them to a
list of dicts with the stable keys below, ready for ``pandas.DataFrame(rows)`` (pandas is not
needed by vmlab).

**Overhead** of virtualization = the extra modelled cycles (and host time) a program needs in a VM
compared with the same image on bare metal (``vmlab.Machine``)::

    from vmlab.hypervisor.metrics import baseline, overhead
    ref = baseline(image)                      # bare-metal reference run, to the image's end
    o = overhead(image, "trap-and-emulate", reference=ref)   # the same image alone in a VM
    o.cycle_overhead                           # extra cycles / bare-metal cycles (0.05 = +5 %)
    vm.overhead(ref)                           # the same comparison for a VM you ran yourself

Cycles compared are *busy* cycles: on bare metal the cycles spent executing (idle time in ``wfi``
excluded), in the VM ``guest_cycles + hypervisor_cycles``. Host times are the best of ``repeat``
runs and noisy; the benchmark (``vmlab bench``) measures speed properly, side by side.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import reprlib
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.layout import EXIT_NAMES
from ..image import Image
from ..units import format_size, parse_size

if TYPE_CHECKING:
    from .costs import CostModel
    from .vm import VM, ExitStat

HISTORY = 2_000  # points kept per time series (older ones roll off)
WORLD_SWITCH = "world-switch"  # the pseudo-exit under which VM-to-VM switches are counted
# every exit reason a VM can count (the core's exits, then the world-switch pseudo-exit)
EXIT_REASONS: tuple[str, ...] = (*EXIT_NAMES.values(), WORLD_SWITCH)


def check_exit_reason(reason: object, also: Iterable[str] = ()) -> str:
    """``reason`` if it names an exit (``EXIT_REASONS`` or one of ``also``); else ValueError.

    The error lists the valid names (and the closest one to a misspelt name).
    """
    known = [*EXIT_REASONS, *(name for name in also if name not in EXIT_REASONS)]
    if isinstance(reason, str) and reason in known:
        return reason
    hint = ""
    if isinstance(reason, str):
        close = difflib.get_close_matches(reason, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        what = f"unknown exit reason {reprlib.repr(reason)}{hint}"
    else:
        what = (
            f"an exit reason is a name (a str), not {type(reason).__name__} {reprlib.repr(reason)}"
        )
    raise ValueError(f"{what}; exit reasons: {', '.join(known)}")


# ---- stable row keys (hv.rows(kind)) ---------------------------------------------------------
VM_ROW_KEYS: tuple[str, ...] = (
    "vm",
    "mode",
    "state",
    "clock",
    "shares",
    "reservation",
    "limit",
    "entitlement",
    "cpu_share",
    "instructions",
    "guest_cycles",
    "hypervisor_cycles",
    "idle_cycles",
    "ready_cycles",
    "limited_cycles",
    "elapsed_cycles",
    "exits",
    "exit_cycles",
    "translated_pages",
    "host_seconds",
    "memory_size",
    "memory_used",
)
EXIT_ROW_KEYS: tuple[str, ...] = (
    "vm",
    "mode",
    "exit",
    "count",
    "cycles",
    "host_seconds",
    "mean_cycles",
    "mean_us",
)
SERIES_KEYS: tuple[str, ...] = (
    "clock",
    "instructions",
    "guest_cycles",
    "hypervisor_cycles",
    "idle_cycles",
    "ready_cycles",
    "limited_cycles",
    "exits",
    "memory_used",
)
SERIES_ROW_KEYS: tuple[str, ...] = ("vm", *SERIES_KEYS)
HOST_SERIES_KEYS: tuple[str, ...] = (
    "clock",
    "instructions",
    "guest_cycles",
    "hypervisor_cycles",
    "idle_cycles",
    "exits",
    "memory_used",
    "vms_running",
)
ROW_KINDS = ("vms", "exits", "series", "host")


# ---- time series -----------------------------------------------------------------------------
class Series:
    """A bounded time series of integer counters: the newest ``capacity`` points (a ring buffer).

    Appending is cheap (the hypervisor does it while VMs run); ``columns()`` builds arrays.

    >>> s = Series(("clock", "x"), capacity=2)
    >>> for i in range(3): s.append((i, 10 * i))
    >>> s.columns()["x"].tolist(), s.dropped
    ([10, 20], 1)
    """

    def __init__(self, keys: Sequence[str], capacity: int = HISTORY) -> None:
        if capacity < 1:
            raise ValueError(f"a series needs a capacity of at least 1, not {capacity}")
        self.keys = tuple(keys)
        self.capacity = int(capacity)
        self._points: deque[tuple[int, ...]] = deque(maxlen=self.capacity)
        self._appended = 0

    def __len__(self) -> int:
        return len(self._points)

    @property
    def dropped(self) -> int:
        """Points that rolled off the front."""
        return self._appended - len(self._points)

    def resize(self, capacity: int) -> None:
        """Keep at most ``capacity`` points from now on (the newest ones, if it shrinks)."""
        if capacity < 1:
            raise ValueError(f"a series needs a capacity of at least 1, not {capacity}")
        self.capacity = int(capacity)
        self._points = deque(self._points, maxlen=self.capacity)

    def append(self, values: Sequence[int]) -> None:
        """Add one point (one value per key, in key order)."""
        self._points.append(tuple(values))
        self._appended += 1

    def columns(self) -> dict[str, np.ndarray]:
        """Each key's values, oldest first (e.g. for a Bokeh ColumnDataSource)."""
        block = np.array(self._points, dtype=np.int64).reshape(len(self._points), len(self.keys))
        return {key: block[:, i].copy() for i, key in enumerate(self.keys)}

    def rows(self) -> list[dict[str, int]]:
        """The points as dicts, oldest first."""
        return [dict(zip(self.keys, row, strict=True)) for row in self._points]

    def since(self, clock: int) -> list[tuple[int, ...]]:
        """The points taken after host cycle ``clock`` (key order), oldest first; cheap if few."""
        newer: list[tuple[int, ...]] = []
        for point in reversed(self._points):
            if point[0] <= clock:
                break
            newer.append(point)
        newer.reverse()
        return newer

    def last(self) -> dict[str, int] | None:
        """The newest point, or None if there is none."""
        return dict(zip(self.keys, self._points[-1], strict=True)) if self._points else None

    def __repr__(self) -> str:
        return f"<Series {len(self)}/{self.capacity} points of {', '.join(self.keys)}>"


@dataclass(frozen=True)
class Sample:
    """One point of a VM's time series (cumulative counters at host cycle ``clock``)."""

    clock: int
    vm: str
    instructions: int
    guest_cycles: int
    hypervisor_cycles: int
    idle_cycles: int
    ready_cycles: int
    limited_cycles: int
    exits: int
    memory_used: int


@dataclass
class VMAccount:
    """The hypervisor's own bookkeeping of one VM (beside ``vm.stats``)."""

    series: Series
    mark: int  # host cycle up to which the VM's time off the CPU has been accounted
    ready_cycles: int = 0
    limited_cycles: int = 0
    elapsed_cycles: int = 0  # host cycles while powered on and not paused (measured separately)
    active_from: int | None = None  # host cycle since which it has been running (during a run)
    last_sample: int = -1  # host cycle of its newest point
    last_regular: int = -1  # host cycle of its newest regular point (end-of-run ones aside)
    exits: int = 0  # its exit count when last looked at (keeps the host's total current)
    exits_at_start: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # of a run
    seen: int | None = None  # its guest + hypervisor + idle cycles when last accounted
    # on this host only (since the VM appeared here; never moved by a restore, a clone's or an
    # import's inherited counters): host cycles it used, and host cycles it was powered on
    consumed_on_host: int = 0
    elapsed_on_host: int = 0
    # its memory use at its last point, and what that depends on: while the host's frame
    # generation and the VM's p2m array are these, it maps the same frames, shared the same way
    memory_used: int = 0
    memory_generation: int = -1
    memory_p2m: np.ndarray | None = None

    def power_off(self, now: int) -> None:
        """Close its powered-on span at host cycle ``now`` (if one is open)."""
        if self.active_from is not None:
            self.elapsed_cycles += now - self.active_from
            self.elapsed_on_host += now - self.active_from
            self.active_from = None


# ---- snapshots -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExitMetrics:
    """One exit reason, like a line of ``perf kvm stat``: how often, modelled cost, host time."""

    reason: str
    count: int
    cycles: int
    host_seconds: float

    @property
    def mean_cycles(self) -> float:
        """Modelled cycles per exit."""
        return self.cycles / self.count if self.count else 0.0

    @property
    def mean_us(self) -> float:
        """Host microseconds per exit (measured)."""
        return self.host_seconds / self.count * 1e6 if self.count else 0.0


def exit_table(stats: Iterable[tuple[str, ExitStat]]) -> tuple[ExitMetrics, ...]:
    """Exit stats merged by reason, most expensive first (ties by name)."""
    merged: dict[str, list[float]] = {}
    for name, stat in stats:
        row = merged.setdefault(name, [0, 0, 0.0])
        row[0] += stat.count
        row[1] += stat.cycles
        row[2] += stat.host_seconds
    table = [ExitMetrics(n, int(c), int(cy), float(s)) for n, (c, cy, s) in merged.items()]
    return tuple(sorted(table, key=lambda e: (-e.cycles, e.reason)))


class _ExitTotals:
    """Totals over an ``exits`` table (shared by the VM and host snapshots)."""

    exits: tuple[ExitMetrics, ...]

    @property
    def exit_count(self) -> int:
        """Exits of every reason (world switches included)."""
        return sum(e.count for e in self.exits)

    @property
    def exit_cycles(self) -> int:
        """Modelled cycles of all exits (= ``hypervisor_cycles``)."""
        return sum(e.cycles for e in self.exits)


@dataclass(frozen=True)
class VMMetrics(_ExitTotals):
    """A snapshot of one VM's counters (``vm.metrics()``); see the module docstring."""

    vm: str
    mode: str
    state: str
    clock: int  # host cycle of the snapshot
    shares: int
    reservation: float
    limit: float | None
    entitlement: float  # fraction of one CPU due to it if every powered-on VM were busy
    instructions: int
    guest_cycles: int
    hypervisor_cycles: int
    idle_cycles: int
    ready_cycles: int
    limited_cycles: int
    elapsed_cycles: int
    host_seconds: float
    memory_size: int
    memory_used: int
    exits: tuple[ExitMetrics, ...] = field(default_factory=tuple)
    translated_pages: int = 0  # code pages binary-translated (binary-translation mode)
    consumed_on_host: int = 0  # host cycles it used on this host (since it appeared here)
    elapsed_on_host: int = 0  # host cycles it was powered on (not paused) on this host

    @property
    def consumed_cycles(self) -> int:
        """Host cycles it used: guest + hypervisor (its whole life: they travel with it)."""
        return self.guest_cycles + self.hypervisor_cycles

    @property
    def cpu_share(self) -> float:
        """Fraction of one host CPU it received on this host while powered on (vs ``entitlement``).

        ``consumed_on_host / elapsed_on_host``: counted from when the VM appeared on this host
        (created, cloned or imported), so the counters a clone or an imported VM brings along
        (and a restored snapshot's) do not count: they were used elsewhere or at another time.
        VMs powered on over the same span of host time have shares that add up to at most
        the host's CPUs; shares over different spans (one VM ran alone before another was
        started) are each right for their own span.
        """
        return self.consumed_on_host / self.elapsed_on_host if self.elapsed_on_host else 0.0

    @property
    def time_split(self) -> dict[str, int]:
        """Its powered-on time by what it was doing (sums to ``elapsed_cycles``)."""
        return {
            "guest": self.guest_cycles,
            "hypervisor": self.hypervisor_cycles,
            "idle": self.idle_cycles,
            "ready": self.ready_cycles,
            "limited": self.limited_cycles,
        }

    def exit(self, reason: str) -> ExitMetrics:
        """One reason's line (zeros if it never happened); ValueError for an unknown reason."""
        check_exit_reason(reason, (e.reason for e in self.exits))
        for e in self.exits:
            if e.reason == reason:
                return e
        return ExitMetrics(reason, 0, 0, 0.0)

    def row(self) -> dict[str, Any]:
        """As a flat dict with the keys ``VM_ROW_KEYS``."""
        values = {
            # fields one by one: asdict() would deep-copy the exit table only to drop it
            **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "exits"},
            "cpu_share": self.cpu_share,
            "exits": self.exit_count,
            "exit_cycles": self.exit_cycles,
        }
        return {key: values[key] for key in VM_ROW_KEYS}

    def exit_rows(self) -> list[dict[str, Any]]:
        """Its exit table as dicts with the keys ``EXIT_ROW_KEYS``."""
        return [
            {
                "vm": self.vm,
                "mode": self.mode,
                "exit": e.reason,
                "count": e.count,
                "cycles": e.cycles,
                "host_seconds": e.host_seconds,
                "mean_cycles": e.mean_cycles,
                "mean_us": e.mean_us,
            }
            for e in self.exits
        ]


@dataclass(frozen=True)
class HostMetrics(_ExitTotals):
    """A snapshot of the host's counters (``hv.metrics()``); see the module docstring."""

    clock: int
    guest_cycles: int
    hypervisor_cycles: int
    idle_cycles: int
    instructions: int  # retired by every VM, deleted ones included
    host_seconds: float  # wall-clock time spent inside hv.run
    memory_size: int
    memory_used: int  # bytes of host frames lent to VMs (a shared frame counted once)
    vms: int
    vms_running: int
    exits: tuple[ExitMetrics, ...] = field(default_factory=tuple)  # all VMs, deleted ones too
    cpus: int = 1  # host CPUs: guest + hypervisor + idle cycles add up over all of them

    @property
    def busy_cycles(self) -> int:
        """Host cycles some VM used (guest + hypervisor), on all CPUs together."""
        return self.guest_cycles + self.hypervisor_cycles

    @property
    def cpu_cycles(self) -> int:
        """Host cycles all CPUs lived through: ``clock`` with one CPU, about ``clock * cpus``.

        With several CPUs each has its own clock; ``clock`` is the earliest, and a CPU's slice
        can end past it, so this exceeds ``clock * cpus`` by what CPUs ran ahead.
        """
        return self.busy_cycles + self.idle_cycles

    @property
    def utilization(self) -> float:
        """Fraction of the host's CPU time that was busy (all CPUs together)."""
        return self.busy_cycles / self.cpu_cycles if self.cpu_cycles else 0.0

    @property
    def time_split(self) -> dict[str, int]:
        """Host CPU time by what the CPUs were doing (sums to ``cpu_cycles``)."""
        return {
            "guest": self.guest_cycles,
            "hypervisor": self.hypervisor_cycles,
            "idle": self.idle_cycles,
        }


def format_exits(exits: Sequence[ExitMetrics], title: str = "") -> str:
    """An exit table as text, like ``perf kvm stat report`` (modelled cycles and host time)."""
    total_cycles = sum(e.cycles for e in exits) or 1
    total_count = sum(e.count for e in exits) or 1
    lines = [title] if title else []
    lines.append(
        f"{'exit':<14}{'count':>9}{'count%':>8}{'cycles':>13}{'cycles%':>9}"
        f"{'cyc/exit':>10}{'us/exit':>9}"
    )
    for e in exits:
        lines.append(
            f"{e.reason:<14}{e.count:>9}{100 * e.count / total_count:>7.1f}%{e.cycles:>13}"
            f"{100 * e.cycles / total_cycles:>8.1f}%{e.mean_cycles:>10.0f}{e.mean_us:>9.2f}"
        )
    return "\n".join(lines)


# ---- entitlement -----------------------------------------------------------------------------
def entitlements(vms: Iterable[VM], cpus: int = 1) -> dict[str, float]:
    """Each powered-on VM's fair fraction of one CPU by shares, reservation and limit.

    The vSphere rule, computed as if every powered-on ("running") VM were busy: the host's
    ``cpus`` CPUs are divided in proportion to shares, but never below a VM's reservation nor
    above its limit, nor above one CPU (a VM has one vCPU): water filling. VMs that are not
    running are entitled to nothing.
    """
    key = tuple(
        (vm.name, float(vm.shares), float(vm.reservation), 1.0 if vm.limit is None else vm.limit)
        for vm in vms
        if vm.state == "running"
    )
    return dict(_water_fill(key, cpus))


@functools.lru_cache(maxsize=256)
def _water_fill(
    active: tuple[tuple[str, float, float, float], ...], cpus: int = 1
) -> tuple[tuple[str, float], ...]:
    """``entitlements`` of (name, shares, reservation, limit) rows, cached by configuration."""
    # the live charts ask several times a second; the answer changes only with the configuration
    if not active:
        return ()
    w = [row[1] for row in active]
    lo = [row[2] for row in active]
    hi = [float(row[3]) for row in active]
    if sum(hi) <= cpus:
        return tuple((row[0], h) for row, h in zip(active, hi, strict=True))

    def total(x: float) -> float:
        return sum(min(max(wi * x, li), hi_) for wi, li, hi_ in zip(w, lo, hi, strict=True))

    a, b = 0.0, max(h / wi for h, wi in zip(hi, w, strict=True))
    for _ in range(100):  # bisection: total() is monotone in x
        mid = (a + b) / 2
        a, b = (mid, b) if total(mid) < cpus else (a, mid)
    return tuple(
        (row[0], min(max(wi * b, li), hi_))
        for row, wi, li, hi_ in zip(active, w, lo, hi, strict=True)
    )


# ---- overhead against bare metal -------------------------------------------------------------
WARMUP_INSTRUCTIONS = 1_000  # the untimed first run of baseline and overhead (loads the JIT)


def image_digest(image: Image) -> str:
    """A SHA-256 (hex) of what an image loads: its entry point and each segment's address and bytes.

    Two images with the same digest run the same program (symbols and source maps aside).
    """
    h = hashlib.sha256(image.entry.to_bytes(4, "little"))
    for seg in image.segments:
        h.update(seg.addr.to_bytes(4, "little") + len(seg.data).to_bytes(4, "little"))
        h.update(seg.data)
    return h.hexdigest()


def _image_label(digest: str) -> str:
    """A short name of an image for error messages: its digest's start."""
    return f"image sha256:{digest[:16]}"


@dataclass(frozen=True)
class Baseline:
    """A bare-metal reference run of an image (``baseline(image)``), and what it was run with.

    ``image_digest`` (``image_digest(image)``), ``memory`` and ``strict`` identify what it
    measured: ``overhead`` and ``vm.overhead`` refuse to compare it with anything else.
    """

    instructions: int
    cycles: int  # busy cycles: executing (idle time in wfi excluded)
    idle_cycles: int
    host_seconds: float  # best of the runs made
    reason: str  # "halt" or "poweroff"
    exit_code: int | None
    memory: int  # bytes of RAM of the bare machine
    output: str
    image_digest: str  # SHA-256 of the image it ran (``image_digest``)
    strict: bool  # the machine's ``strict`` option


def _check_count(value: object, name: str) -> int:
    """``value`` if it is an int >= 1 (not a bool; numpy ints too); TypeError or ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number >= 1, not {reprlib.repr(value)}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, not {value!r}")
    return int(value)


def _check_flag(value: object, name: str) -> bool:
    """``value`` as a bool if it is a real bool (numpy's too); TypeError otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, not {reprlib.repr(value)}")
    return bool(value)


def _check_baseline(reference: object, what: str) -> Baseline:
    """``reference`` if it is a ``Baseline``; TypeError saying how to make one otherwise."""
    if not isinstance(reference, Baseline):
        raise TypeError(
            f"{what} must be a Baseline (made by vmlab.hypervisor.metrics.baseline(image)), "
            f"not {type(reference).__name__}"
        )
    return reference


def _check_same_run(
    ref: Baseline, digest: str, memory: int, mode: str, where: str, strict: bool | None = None
) -> None:
    """ValueError naming both sides unless ``where`` runs what ``ref`` measured.

    The image must be the reference's, but in paravirtual mode: a paravirtual guest is the
    paravirtual build of a program, compared with the unmodified program on bare metal.
    """
    if digest != ref.image_digest and mode != "paravirtual":
        raise ValueError(
            f"{where} runs {_image_label(digest)}, but the baseline was made from "
            f"{_image_label(ref.image_digest)}: an overhead compares the same image (make a "
            "baseline of this image with baseline(image))"
        )
    if memory != ref.memory:
        raise ValueError(
            f"{where} has {format_size(memory)} of memory, but the baseline ran with "
            f"{format_size(ref.memory)}: an overhead compares the same memory size"
        )
    if strict is not None and strict != ref.strict:
        raise ValueError(
            f"{where} has strict={strict}, but the baseline ran with strict={ref.strict}: "
            "an overhead compares the same machine"
        )


def baseline(
    image: Image,
    memory: int | str = "4M",
    strict: bool = True,
    repeat: int = 1,
    max_instructions: int = 2_000_000_000,
) -> Baseline:
    """Run ``image`` on bare metal (``vmlab.Machine``) to its end: the reference for overhead.

    The image must stop by itself (halt or power-off) within ``max_instructions``; the host time
    is the best of ``repeat`` runs, after one short untimed run (``WARMUP_INSTRUCTIONS``) that
    loads the compiled core, so the first baseline in a process does not time the JIT. Raises
    ValueError naming the problem otherwise (TypeError for an argument of the wrong type).
    """
    from ..machine import Machine

    if not isinstance(image, Image):
        raise TypeError(f"image must be a vmlab Image, not {type(image).__name__}")
    strict = _check_flag(strict, "strict")
    repeat = _check_count(repeat, "repeat")
    max_instructions = _check_count(max_instructions, "max_instructions")
    machine = Machine(memory=memory, strict=strict)
    machine.load(image)
    machine.run(max_instructions=WARMUP_INSTRUCTIONS)  # untimed: the first call loads the core
    best = float("inf")
    for _ in range(repeat):
        machine.reset()
        idle_before = machine.stats.idle_cycles  # the machine's counters survive a reset
        result = machine.run(max_instructions=max_instructions)
        if result.reason not in ("halt", "poweroff"):
            if result.reason == "budget":
                why = f"it was still running after max_instructions={max_instructions:,}"
            else:
                why = result.message or f"it stopped with {result.reason}"
            raise ValueError(
                f"the image did not finish on bare metal ({result.reason}: {why}); "
                "overhead needs a program that stops by itself"
            )
        best = min(best, result.host_seconds)
        idle = machine.stats.idle_cycles - idle_before
    return Baseline(
        instructions=result.instructions,
        cycles=result.cycles - idle,
        idle_cycles=idle,
        host_seconds=best,
        reason=result.reason,
        exit_code=result.exit_code,
        memory=machine.memory_size,
        output=machine.console.output,
        image_digest=image_digest(image),
        strict=strict,
    )


@dataclass(frozen=True)
class Overhead:
    """What running an image in a VM cost against bare metal (``overhead`` / ``vm.overhead``)."""

    mode: str
    exits_path: str  # "python" or "jit"
    instructions: int
    cycles: int  # the VM's busy cycles: guest + hypervisor
    guest_cycles: int
    hypervisor_cycles: int
    host_seconds: float
    baseline_instructions: int
    baseline_cycles: int
    baseline_host_seconds: float
    exits: tuple[ExitMetrics, ...] = field(default_factory=tuple)

    @property
    def extra_cycles(self) -> int:
        """Modelled cycles the VM needed beyond bare metal."""
        return self.cycles - self.baseline_cycles

    @property
    def cycle_overhead(self) -> float:
        """Extra cycles as a fraction of the bare-metal cycles (0.05 = 5 % slower)."""
        return self.extra_cycles / self.baseline_cycles if self.baseline_cycles else 0.0

    @property
    def extra_seconds(self) -> float:
        """Host time the VM needed beyond bare metal (measured, noisy)."""
        return self.host_seconds - self.baseline_host_seconds

    @property
    def time_ratio(self) -> float:
        """VM host time / bare-metal host time (measured, noisy)."""
        return self.host_seconds / self.baseline_host_seconds if self.baseline_host_seconds else 0.0

    def row(self) -> dict[str, Any]:
        """As a flat dict (exits summarised as counts and cycles)."""
        return {
            "mode": self.mode,
            "exits_path": self.exits_path,
            "instructions": self.instructions,
            "cycles": self.cycles,
            "guest_cycles": self.guest_cycles,
            "hypervisor_cycles": self.hypervisor_cycles,
            "baseline_instructions": self.baseline_instructions,
            "baseline_cycles": self.baseline_cycles,
            "extra_cycles": self.extra_cycles,
            "cycle_overhead": self.cycle_overhead,
            "host_seconds": self.host_seconds,
            "baseline_host_seconds": self.baseline_host_seconds,
            "time_ratio": self.time_ratio,
            "exits": sum(e.count for e in self.exits),
        }


def vm_overhead(vm: VM, reference: Baseline, host_seconds: float | None = None) -> Overhead:
    """Compare a VM that ran its image to the end with a bare-metal ``reference`` run.

    The VM's host time is ``vm.stats.host_seconds`` (time in its slices) unless given. The VM
    must have run the reference's image (any image in paravirtual mode: its paravirtual
    build) with the same memory size, else ValueError naming both. Its ``strict`` option may
    differ from the reference's (on bare metal it changes only whether user code's
    ``csrr status`` traps; notebook 07 compares non-strict VMs with strict bare metal).
    """
    _check_baseline(reference, "the reference")
    _check_same_run(
        reference,
        image_digest(vm.image),
        vm.memory_size,
        vm.mode,
        f"VM {vm.name!r} ({vm.state})",
    )
    if vm.state != "stopped" or vm.stop_reason not in ("halt", "poweroff"):
        raise ValueError(
            f"VM {vm.name!r} has not finished its program ({vm.state}"
            + (f", {vm.stop_reason}" if vm.stop_reason else "")
            + "): overhead compares whole runs; run it until it halts or powers off"
        )
    s = vm.stats
    return Overhead(
        mode=vm.mode,
        exits_path=vm.exits_path,
        instructions=s.instructions,
        cycles=s.guest_cycles + s.hypervisor_cycles,
        guest_cycles=s.guest_cycles,
        hypervisor_cycles=s.hypervisor_cycles,
        host_seconds=s.host_seconds if host_seconds is None else host_seconds,
        baseline_instructions=reference.instructions,
        baseline_cycles=reference.cycles,
        baseline_host_seconds=reference.host_seconds,
        exits=exit_table(s.exits.items()),
    )


def overhead(
    image: Image,
    mode: str = "hw-assist",
    *,
    memory: int | str | None = None,
    strict: bool | None = None,
    exits: str = "python",
    costs: CostModel | None = None,
    reference: Baseline | None = None,
    repeat: int = 1,
) -> Overhead:
    """Run ``image`` alone in a fresh VM and compare it with bare metal (``reference``).

    Without ``reference`` the bare-metal run is made here (``memory`` default "4M", ``strict``
    default True). With one, the VM runs with the reference's memory and strictness: a
    ``memory`` or ``strict`` given that differs from them, or an image other than the
    reference's (but in paravirtual mode, whose image is the program's paravirtual build),
    raises ValueError naming both. The VM runs to its end (at most 100x the bare-metal cycles);
    its host time is the wall time of ``hv.run``, the best of ``repeat`` runs after one short
    untimed run that loads the compiled exit path. Raises ValueError if either run does not
    finish, or if the VM ends with a different exit code than bare metal.
    """
    from .hypervisor import Hypervisor
    from .vm import MODES

    if not isinstance(image, Image):
        raise TypeError(f"image must be a vmlab Image, not {type(image).__name__}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    repeat = _check_count(repeat, "repeat")
    if strict is not None:
        strict = _check_flag(strict, "strict")
    if reference is None:
        ref = baseline(
            image,
            "4M" if memory is None else memory,
            strict=True if strict is None else strict,
            repeat=repeat,
        )
    else:
        ref = _check_baseline(reference, "reference")
        size = ref.memory if memory is None else parse_size(memory, "memory")
        _check_same_run(ref, image_digest(image), size, mode, f"overhead({mode!r})", strict)
    host = f"{int(np.ceil(ref.memory / (1 << 20))) + 16}M"

    def fresh_vm() -> tuple[Hypervisor, VM]:
        hv = Hypervisor(host_memory=host, costs=costs)
        vm = hv.create_vm(
            "overhead", image, memory=ref.memory, mode=mode, strict=ref.strict, exits=exits
        )
        vm.start()
        return hv, vm

    hv, vm = fresh_vm()
    hv.run(instructions=WARMUP_INSTRUCTIONS)  # untimed: the first run loads the exit path
    best = float("inf")
    for _ in range(repeat):
        hv, vm = fresh_vm()
        t0 = time.perf_counter()
        hv.run(cycles=100 * (ref.cycles + ref.idle_cycles) + 10_000_000)
        best = min(best, time.perf_counter() - t0)
        if vm.state == "running":
            raise ValueError(
                f"the image did not finish in a {mode} VM within 100x its bare-metal time"
            )
    if vm.exit_code != ref.exit_code:
        raise ValueError(
            f"the image ended differently in a {mode} VM ({vm.message}, exit code "
            f"{vm.exit_code}) than on bare metal (exit code {ref.exit_code})"
        )
    return vm_overhead(vm, ref, host_seconds=best)


__all__ = [
    "EXIT_REASONS",
    "EXIT_ROW_KEYS",
    "HISTORY",
    "HOST_SERIES_KEYS",
    "ROW_KINDS",
    "SERIES_KEYS",
    "SERIES_ROW_KEYS",
    "VM_ROW_KEYS",
    "WARMUP_INSTRUCTIONS",
    "WORLD_SWITCH",
    "Baseline",
    "ExitMetrics",
    "HostMetrics",
    "Overhead",
    "Sample",
    "Series",
    "VMAccount",
    "VMMetrics",
    "baseline",
    "check_exit_reason",
    "entitlements",
    "exit_table",
    "format_exits",
    "image_digest",
    "overhead",
    "vm_overhead",
]
