"""The hypervisor: owns the host's memory and CPU time, creates VMs and schedules them by shares.

Time is the host's modelled clock (``hv.clock``, in cycles). Each VM's guest clock runs with it
(offset to start at 0 when the VM starts), so a guest sees time pass while other VMs run and while
the VMM handles its exits: the overhead of virtualization is visible from inside, as on real
hardware. A host has one or more CPUs, each with its own clock; a VM has one vCPU, so it runs
on one CPU at a time, and the host clock is the earliest CPU's (see "Several CPUs" below).
Scheduling is weighted fair queuing of vCPUs by shares (in virtual time), with vSphere-style
reservation and limit (fractions of one CPU) per period; a VM waiting in wfi costs nothing; runs
are deterministic, and where a ``run`` call ends does not change the schedule
(``run(cycles=a); run(cycles=b)`` is ``run(cycles=a + b)``). Accounting is in
``vmlab.hypervisor.metrics``.
"""

from __future__ import annotations

import bisect
import heapq
import operator
import os
import reprlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._interrupts import Held, held
from ..core.layout import EXIT_BUDGET, P2M_SHIFT, STAT_EXITS
from ..devices.disk import Disk
from ..image import Image
from ..isa.arch import PAGE_SIZE
from ..units import format_size, parse_size
from .costs import CostModel
from .host import MAX_HOST_MEMORY, HostMemory
from .metrics import (
    HISTORY,
    HOST_SERIES_KEYS,
    ROW_KINDS,
    SERIES_KEYS,
    WORLD_SWITCH,
    HostMetrics,
    Sample,
    Series,
    VMAccount,
    VMMetrics,
    entitlements,
    exit_table,
)
from .vm import _UNSET, MODES, NEVER, VM, ExitStat, VMStateError, _Unset, check_name

SLICE_CYCLES = 20_000  # a vCPU's time slice (host cycles) while other VMs want the CPU
PERIOD_CYCLES = 1_000_000  # the period over which reservations and limits are enforced
SAMPLE_CYCLES = PERIOD_CYCLES  # a running VM's time series gets a point at most this often
# a VM alone on the CPU (no other VM ready, no reservation or limit to account per period) runs
# this long between two looks of the scheduler (a wake-up or the run's end comes first if due):
# each look is a return to Python that costs the host 0.1-0.4 ms (cache-cold after a long slice),
# which every 1M cycles was 3 % of a CPU-bound guest's time. Its time series gets a point per look.
LONE_SLICE_CYCLES = 16 * PERIOD_CYCLES
MAX_CPUS = 64  # host CPUs a Hypervisor can model
_VT_SCALE = 1 << 20  # virtual time units per host cycle at one share


def _is_number(x: Any) -> bool:
    """True for an int or float (bool is not a number here)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def check_resources(shares: Any, reservation: Any, limit: Any) -> None:
    """ValueError naming the bad value unless shares, reservation and limit are legal together."""
    if not isinstance(shares, int) or isinstance(shares, bool) or shares <= 0:
        raise ValueError(f"shares must be a positive integer, not {shares!r}")
    if not _is_number(reservation) or not 0.0 <= reservation <= 1.0:
        raise ValueError(f"reservation must be a fraction of the CPU in 0..1, not {reservation!r}")
    if limit is not None and (not _is_number(limit) or not 0.0 < limit <= 1.0):
        raise ValueError(f"limit must be a fraction of the CPU in (0, 1], not {limit!r}")
    if limit is not None and limit < reservation:
        raise ValueError(f"limit {limit} is below the reservation {reservation}")


def _checked_cycles(value: Any, name: str, what: str = "a number of host cycles") -> int:
    """``value`` if it is an int >= 1 (not a bool; numpy ints too); ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer ({what}), not {reprlib.repr(value)}")
    return int(value)


def _checked_costs(costs: Any) -> CostModel:
    """``costs`` if it is a ``CostModel`` (its fields are checked when it is made)."""
    if not isinstance(costs, CostModel):
        raise TypeError(f"costs must be a CostModel, not {type(costs).__name__}")
    return costs


def _checked_flag(unsafe: Any) -> bool:
    """The UNSAFE flag as a bool, if it is a real bool; TypeError otherwise."""
    if not isinstance(unsafe, (bool, np.bool_)):
        raise TypeError(
            f"UNSAFE_unchecked_hypercall_buffers must be True or False, not {reprlib.repr(unsafe)}"
        )
    return bool(unsafe)


@dataclass(slots=True)
class _Sched:
    """The scheduler's record of one VM."""

    seq: int  # order of first sight (ties go to the older VM)
    vtime: int  # virtual time: host cycles used * _VT_SCALE / shares
    account: VMAccount
    vrem: int = 0  # remainder of the division above (nothing is lost to rounding)
    period: int = -1  # the period period_used counts in
    period_used: int = 0
    throttled_until: int = 0  # host cycle at which its limit releases it


@dataclass(slots=True)
class _Slice:
    """The slice on the CPU. It outlives a run that ends inside it: the next run continues it."""

    vm: VM
    left: int  # host cycles of its budget still to run (its world switch already taken off)
    begun: bool = False  # its world switch (if any) is charged and its period rolled
    counted: bool = False  # vm.run_slice has run for it (vm.stats.slices counts a slice once)
    vclock: int = 0  # the virtual clock had it ended where a run's end cut it (see _end_slice)


@dataclass(slots=True)
class _CPU:
    """One host CPU: its clock, the slice on it (kept between runs) and the VM it ran last."""

    index: int
    clock: int = 0  # host cycles this CPU has lived through (run, handled exits, idled)
    slice: _Slice | None = None
    last: VM | None = None  # switching away from it costs a world switch
    held: VM | None = None  # the VM whose slice just ended here, until the host clock gets here


@dataclass(slots=True)
class _RunQueue:
    """Where each powered-on VM waits during ``run`` (rebuilt at the start of every run)."""

    ready: list[tuple[int, int, VM]] = field(default_factory=list)  # heap by (vtime, seq)
    reserved: list[VM] = field(default_factory=list)  # ready VMs with a reservation
    sleeping: list[tuple[int, int, VM]] = field(default_factory=list)  # heap by (wake_at, seq)
    throttled: list[VM] = field(default_factory=list)  # held by their limit until a new period
    # VMs whose last slice, on a CPU ahead of the host clock, ends later: (free_at, seq, vm, rejoin)
    busy: list[tuple[int, int, VM, bool]] = field(default_factory=list)


class Hypervisor:
    """A host with ``host_memory`` of RAM and ``cpus`` CPUs, running many isolated VMs.

    >>> from vmlab import Hypervisor, images
    >>> hv = Hypervisor(host_memory="16M")
    >>> vm = hv.create_vm("a", images.load("hello"), memory="1M", mode="hw-assist")
    >>> vm.start(); _ = hv.run(cycles=1_000_000); vm.console.output.splitlines()[0]
    'Hello, world! This is a VL32 machine.'
    """

    def __init__(
        self,
        host_memory: int | str = "64M",
        cpus: int = 1,
        costs: CostModel | None = None,
        slice_cycles: int = SLICE_CYCLES,
        UNSAFE_unchecked_hypercall_buffers: bool = False,
    ) -> None:
        """Create an empty host.

        ``UNSAFE_unchecked_hypercall_buffers`` is a deliberately planted hypervisor bug for the
        security lab: the console-write hypercall then trusts the guest's buffer address without
        checking it against the VM's memory, so a malicious guest can read its neighbours' memory
        ("if the hypervisor is compromised, all VMs may be at risk"). Never turn it on otherwise.
        """
        if isinstance(cpus, bool) or not isinstance(cpus, int) or not 1 <= cpus <= MAX_CPUS:
            raise ValueError(f"cpus must be an integer from 1 to {MAX_CPUS}, not {cpus!r}")
        size = parse_size(host_memory, "host_memory")
        if size > MAX_HOST_MEMORY:
            raise ValueError(
                f"host_memory {host_memory!r} is more than the largest host, "
                f"{format_size(MAX_HOST_MEMORY)}"
            )
        self._costs = _checked_costs(CostModel() if costs is None else costs)
        self._slice_cycles = _checked_cycles(slice_cycles, "slice_cycles")
        self._unsafe = _checked_flag(UNSAFE_unchecked_hypercall_buffers)
        self.memory = HostMemory(size)
        self.clock = 0  # host cycles since the hypervisor started (the earliest CPU's clock)
        self.guest_cycles = 0  # host cycles spent running guest instructions
        self.hypervisor_cycles = 0  # host cycles the VMM spent on exits and world switches
        self.idle_cycles = 0  # host cycles with no VM to run (all CPUs together)
        self.instructions = 0  # guest instructions retired (all VMs, deleted ones included)
        self.host_seconds = 0.0  # wall-clock time spent in run()
        self._sample_cycles = SAMPLE_CYCLES
        self._history_length = HISTORY
        self._vms: dict[str, VM] = {}
        self._cpus = [_CPU(i) for i in range(cpus)]
        self._slice_seen: tuple[Any, ...] = ()  # what the scheduler saw when that run ended
        self._due = 0  # the host cycle the runs so far were asked to reach (<= clock)
        self._sched: dict[VM, _Sched] = {}
        self._seq = 0
        self._vclock = 0  # the virtual time of the VMs that are running (monotone)
        self._host_series = Series(HOST_SERIES_KEYS, HISTORY)
        self._host_sampled = -1  # host cycle of its newest point
        self._host_regular = -1  # host cycle of its newest regular point (see _sample)
        self._exit_stats: dict[str, ExitStat] = {}  # exits taken on this host, by reason
        self._exits = 0  # exits taken on this host (all VMs, deleted ones included)

    # ---- settings (checked like the constructor's arguments) -------------------------------
    @property
    def cpus(self) -> int:
        """Host CPUs (fixed when the hypervisor is created: ``Hypervisor(cpus=...)``)."""
        return len(self._cpus)

    @cpus.setter
    def cpus(self, value: object) -> None:
        raise AttributeError(
            f"cannot set hv.cpus to {reprlib.repr(value)}: a host's CPUs are fixed when it is created "
            f"(it has {len(self._cpus)}); make a new Hypervisor(cpus=...)"
        )

    @property
    def costs(self) -> CostModel:
        """The cost model charged for exits (a ``CostModel``; a new one applies to exits from then on)."""
        return self._costs

    @costs.setter
    def costs(self, value: CostModel) -> None:
        self._costs = _checked_costs(value)

    @property
    def slice_cycles(self) -> int:
        """A vCPU's time slice in host cycles while other VMs want the CPU (an int >= 1)."""
        return self._slice_cycles

    @slice_cycles.setter
    def slice_cycles(self, value: int) -> None:
        self._slice_cycles = _checked_cycles(value, "slice_cycles")

    @property
    def sample_cycles(self) -> int:
        """Host cycles between two regular points of a running VM's time series (an int >= 1)."""
        return self._sample_cycles

    @sample_cycles.setter
    def sample_cycles(self, value: int) -> None:
        self._sample_cycles = _checked_cycles(value, "sample_cycles")

    @property
    def history_length(self) -> int:
        """Points kept per time series (an int >= 1); setting it resizes every series now."""
        return self._history_length

    @history_length.setter
    def history_length(self, value: int) -> None:
        size = _checked_cycles(value, "history_length", what="a number of points")
        self._history_length = size
        self._host_series.resize(size)
        for e in self._sched.values():
            e.account.series.resize(size)

    @property
    def UNSAFE_unchecked_hypercall_buffers(self) -> bool:
        """The planted security-lab bug (see ``__init__``); True or False."""
        return self._unsafe

    @UNSAFE_unchecked_hypercall_buffers.setter
    def UNSAFE_unchecked_hypercall_buffers(self, value: bool) -> None:
        self._unsafe = _checked_flag(value)

    # ---- VMs ------------------------------------------------------------------------------
    @held
    def create_vm(
        self,
        name: str,
        image: Image,
        memory: int | str = "1M",
        mode: str = "hw-assist",
        shares: int = 1000,
        reservation: float = 0.0,
        limit: float | None = None,
        strict: bool = True,
        disk: Disk | None = None,
        exits: str = "python",
        _shared_frames: np.ndarray | None = None,
    ) -> VM:
        """Create a VM (state "created") with its own memory, devices and vCPU.

        ``mode`` is one of "trap-and-emulate", "binary-translation", "paravirtual", "hw-assist";
        ``reservation`` and ``limit`` are fractions of one host CPU (a VM's one vCPU can use
        at most one CPU; the reservations of all VMs together fit in ``cpus``); ``exits``
        chooses the exit handlers ("python": readable, slower; "jit": compiled fast path). Fails
        with a clear error and changes nothing if the name is taken, an argument is bad or
        memory does not fit.
        ``_shared_frames`` is internal (``vm.clone(linked=True)``): share those frames instead.
        """
        check_name(name, "VM")
        if name in self._vms:
            raise ValueError(f"a VM named {name!r} already exists")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if exits not in ("python", "jit"):
            raise ValueError(f"exits must be 'python' or 'jit', not {exits!r}")
        if not isinstance(image, Image):
            raise TypeError(f"image must be a vmlab Image, not {type(image).__name__}")
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"strict must be True or False, not {strict!r}")
        self._check_disk(disk)
        size = parse_size(memory, "memory")
        if size <= 0 or size % 4096 or size > (1 << 30):
            raise ValueError(f"VM memory {memory!r} must be a positive multiple of 4K up to 1G")
        check_resources(shares, reservation, limit)
        others = sum(vm.reservation for vm in self._vms.values())
        self._check_reservation_fits(reservation, others)
        vm = VM(
            self,
            name,
            image,
            size,
            mode,
            shares,
            float(reservation),
            None if limit is None else float(limit),
            bool(strict),
            disk,
            exits,
            shared_frames=_shared_frames,
        )
        self._vms[name] = vm
        self._join(vm)
        return vm

    def _check_disk(self, disk: object) -> None:
        """Refuse a disk that is not a ``Disk`` or that another VM already has attached."""
        if disk is None:
            return
        if not isinstance(disk, Disk):
            raise TypeError(
                "disk must be a vmlab Disk: Disk.memory(size), Disk.from_bytes(data) or "
                f"Disk.file(path), not {type(disk).__name__}"
            )
        path = None if disk.path is None else disk.path.resolve()
        for other in self._vms.values():
            theirs = other.disk
            if theirs is None:
                continue
            if theirs is disk or (
                path is not None and theirs.path is not None and theirs.path.resolve() == path
            ):
                what = "this disk" if path is None else f"disk image {disk.path}"
                raise ValueError(
                    f"{what} is already attached to VM {other.name!r}: a disk belongs to one "
                    "VM at a time (give each VM its own, e.g. a copy with Disk.from_bytes)"
                )

    def _own(self, vm: object, what: str) -> VM:
        """``vm`` (a VM or its name) if it is one of this hypervisor's VMs; else a clear error."""
        if isinstance(vm, str):
            return self.vm(vm)
        if not isinstance(vm, VM):
            raise TypeError(f"{what} takes a VM or a VM's name, not {type(vm).__name__}")
        if self._vms.get(vm.name) is not vm:
            raise ValueError(f"VM {vm.name!r} ({vm.state}) is not a VM of this hypervisor")
        return vm

    def vm(self, name: str) -> VM:
        """The VM called ``name``."""
        try:
            return self._vms[name]
        except KeyError:
            raise KeyError(
                f"no VM named {name!r}; VMs: {', '.join(self._vms) or '(none)'}"
            ) from None

    @property
    def vms(self) -> list[VM]:
        """All VMs, in creation order."""
        return list(self._vms.values())

    def __iter__(self) -> Iterator[VM]:
        return iter(self.vms)

    def _forget(self, vm: VM) -> None:
        self._retire(vm)
        self._vms.pop(vm.name, None)

    # ---- scheduling ------------------------------------------------------------------------
    # Weighted fair queuing in virtual time: a VM's virtual time grows by the host cycles it uses
    # divided by its shares, and the runnable VM with the least virtual time runs next (ties: the
    # older VM), so CPU time divides in proportion to shares. A VM that waited (wfi, paused, just
    # started, held by its limit) re-enters no further behind the others than one slice's worth:
    # sleeping earns no credit to starve the others with later. Reservations and limits are
    # fractions of one CPU enforced per period of PERIOD_CYCLES: a VM behind its reservation
    # in the current period runs first; a VM that has used its limit waits for the next period
    # (an overshoot is carried over). All integer arithmetic on modelled cycles: deterministic.
    #
    # The end of a ``run`` call is invisible to the schedule: the slice in progress is kept
    # (``_Slice``) and the next run continues it (same VM, no world switch, still one slice in
    # ``vm.stats.slices``, counted in the period it began in), the next run's end counts from
    # where this one was asked to stop (``_due``), and regular time-series points keep their
    # own spacing. So ``run(cycles=a); run(cycles=b)`` leaves exactly the state of
    # ``run(cycles=a + b)``. Lifecycle actions between runs do change the schedule: the kept
    # slice ends if, when the next run starts, anything the scheduler looks at has changed (a VM
    # created, deleted, started, stopped, reset, paused or resumed, woken by input, its shares,
    # reservation or limit set, ``slice_cycles`` changed; a pause undone by a resume before the
    # next run changes nothing), and at once when its VM is snapshotted, cloned, exported,
    # restored or deleted (what a VM does next must depend on its recorded state alone). It
    # ends as if the last run had ended it: the next run decides afresh, and the VM it picks
    # pays a world switch only if the CPU ran another VM last.
    #
    # Several CPUs: each CPU has its own clock and takes the next VM from the one run queue; the
    # CPU furthest behind always goes next (ties: the lower-numbered CPU, one with a slice first),
    # and runs a whole slice at once. So a VM whose slice ends at cycle t on a CPU ahead of the
    # others waits (``_RunQueue.busy``) until the host clock (the earliest CPU's) reaches t: it
    # can never run on two CPUs at once, nor see its time go back. Everything else is as with
    # one CPU: each CPU pays its own world switches, a run ends when every CPU has reached its
    # end, and each CPU keeps its slice in progress for the next run. VMs are isolated, so the
    # order in which CPUs are simulated changes nothing a guest can see; deterministic too.
    @held
    def set_resources(
        self,
        vm: VM | str,
        *,
        shares: int | None = None,
        reservation: float | None = None,
        limit: float | _Unset | None = _UNSET,
    ) -> None:
        """Change a VM's shares, reservation or limit (``limit=None`` removes the limit).

        Takes effect at the next scheduling decision. Checked like ``create_vm``: a bad value
        raises ValueError and changes nothing.
        """
        vm = self._own(vm, "set_resources")
        new_shares = vm.shares if shares is None else shares
        new_res = vm.reservation if reservation is None else reservation
        new_limit = vm.limit if isinstance(limit, _Unset) else limit
        check_resources(new_shares, new_res, new_limit)
        others = sum(o.reservation for o in self._vms.values() if o is not vm)
        self._check_reservation_fits(new_res, others)
        vm.shares, vm.reservation = new_shares, float(new_res)
        vm.limit = None if new_limit is None else float(new_limit)

    def _check_reservation_fits(self, reservation: float, others: float) -> None:
        """Raise ValueError if ``reservation`` (of one CPU) does not fit beside ``others``."""
        if others + reservation > self.cpus + 1e-9:
            where = "the host CPU is" if self.cpus == 1 else f"the host's {self.cpus} CPUs are"
            raise ValueError(
                f"reservation {reservation} does not fit: {where} already {others:.2f} reserved"
            )

    def _join(self, vm: VM) -> None:
        """Make the scheduler's record of a VM joining this host (created, cloned or imported).

        Made here and nowhere else, so ``seq`` (ties go to the older VM) is the order in which
        VMs joined: reading a VM's metrics or series never changes the schedule. The VM starts
        level with the others in virtual time.
        """
        self._sched[vm] = _Sched(
            seq=self._seq,
            vtime=self._vclock,
            account=VMAccount(series=Series(SERIES_KEYS, self.history_length), mark=self.clock),
        )
        self._seq += 1

    def _entry(self, vm: VM) -> _Sched:
        """The scheduler's record of ``vm`` (one of this host's VMs: made by ``_join``)."""
        return self._sched[vm]

    def _used_in_period(self, vm: VM, e: _Sched) -> int:
        """Host cycles ``vm`` used in the current period (with a limited VM's overshoot carried)."""
        period = self.clock // PERIOD_CYCLES
        if e.period != period:
            carry = 0
            if vm.limit is not None and e.period >= 0:
                allowance = int(vm.limit * PERIOD_CYCLES)
                carry = max(0, e.period_used - allowance * (period - e.period))
            e.period, e.period_used = period, carry
        return e.period_used

    def _throttled(self, vm: VM, e: _Sched | None = None) -> bool:
        """Whether ``vm`` has used its limit in the current period."""
        if vm.limit is None:
            return False
        e = e or self._entry(vm)
        return self._used_in_period(vm, e) >= int(vm.limit * PERIOD_CYCLES)

    def _enqueue(self, q: _RunQueue, vm: VM, rejoin: bool) -> None:
        """File a running-state VM where it belongs: ready, sleeping, throttled (or nowhere)."""
        if vm.state != "running":
            return
        e = self._entry(vm)
        if vm.left_cpu_at > self.clock:  # still on a CPU ahead of the host clock
            heapq.heappush(q.busy, (vm.left_cpu_at, e.seq, vm, rejoin))
            return
        wake = vm.wake_at
        if wake is not None and wake > self.clock:
            if wake < NEVER:  # a VM waiting for input (NEVER) wakes only from outside a run
                heapq.heappush(q.sleeping, (wake, e.seq, vm))
            return
        if self._throttled(vm, e):
            e.throttled_until = (self.clock // PERIOD_CYCLES + 1) * PERIOD_CYCLES
            q.throttled.append(vm)
            return
        if rejoin:  # no credit for time away: at most one slice behind the others
            bonus = min(self.slice_cycles, PERIOD_CYCLES) * _VT_SCALE // vm.shares
            e.vtime = max(e.vtime, self._vclock - bonus)
        if vm.reservation > 0:  # kept in age order, whatever order they came back in
            bisect.insort(q.reserved, vm, key=lambda v: self._sched[v].seq)
        else:
            heapq.heappush(q.ready, (e.vtime, e.seq, vm))

    def _seen(self) -> tuple[Any, ...]:
        """What the scheduler looks at between runs (a kept slice lives while it is unchanged)."""
        return (
            self.slice_cycles,
            *(
                (
                    vm,
                    vm.state,
                    vm.shares,
                    vm.reservation,
                    vm.limit,
                    vm.wake_at,
                    vm.stats.instructions,
                    vm.stats.consumed_cycles,
                )
                for vm in self._vms.values()
            ),
        )

    def _run_queue(self) -> _RunQueue:
        """The run queue at the start of ``run``: every powered-on VM, filed.

        The VM of a kept slice stays on the CPU (it is not filed); a kept slice whose
        circumstances changed since the last run ended is dropped first.
        """
        changed = self._seen() != self._slice_seen
        for cpu in self._cpus:
            sl = cpu.slice
            if sl is not None and (changed or not sl.vm.runnable):
                self._end_slice(sl.vm)
        on_cpu = {cpu.slice.vm for cpu in self._cpus if cpu.slice is not None}
        on_cpu |= {cpu.held for cpu in self._cpus if cpu.held is not None}
        q = _RunQueue()
        for vm in self._vms.values():
            acct = self._entry(vm).account
            acct.mark = max(self.clock, vm.left_cpu_at)
            self._sync(vm, acct)
            acct.exits = sum(e.count for e in vm.stats.exits.values())
            acct.exits_at_start = {
                name: (e.count, e.cycles, e.host_seconds) for name, e in vm.stats.exits.items()
            }
            if vm.state == "running":
                acct.active_from = acct.mark
                if vm not in on_cpu:
                    self._enqueue(q, vm, rejoin=True)
        return q

    def _sync(self, vm: VM, acct: VMAccount) -> None:
        """Follow a VM's counters changed between runs (a restored snapshot, a clone, an import).

        The VM's accounting travels with it, so its powered-on time moves with its counters:
        ``elapsed = guest + hypervisor + idle + ready + limited`` keeps holding. The host's own
        counters only ever count what happened on this host.
        """
        s = vm.stats
        now = s.guest_cycles + s.hypervisor_cycles + s.idle_cycles
        acct.elapsed_cycles += now - (acct.seen or 0)
        acct.seen = now

    def _count_exits(self, vm: VM, acct: VMAccount) -> None:
        """Bring the host's exit total up to date with ``vm``'s exit counters."""
        count = sum(e.count for e in vm.stats.exits.values())
        self._exits += count - acct.exits
        acct.exits = count

    def _wake(self, q: _RunQueue) -> None:
        """Move sleepers whose time has come, and (in a new period) throttled VMs, to ready."""
        now = self.clock
        while q.busy and q.busy[0][0] <= now:
            _, _, vm, rejoin = heapq.heappop(q.busy)
            self._enqueue(q, vm, rejoin)
        while q.sleeping and q.sleeping[0][0] <= now:
            _, _, vm = heapq.heappop(q.sleeping)
            self._enqueue(q, vm, rejoin=True)
        if q.throttled and now >= self._entry(q.throttled[0]).throttled_until:
            held, q.throttled = q.throttled, []
            for vm in held:
                self._enqueue(q, vm, rejoin=True)

    def _pick(self, q: _RunQueue) -> VM | None:
        """Take the VM that runs next off the run queue (reservation first, then fair share)."""
        if q.reserved:
            elapsed = self.clock % PERIOD_CYCLES
            behind, worst = None, 0.0
            for vm in q.reserved:
                deficit = vm.reservation * elapsed - self._used_in_period(vm, self._entry(vm))
                if deficit > worst:
                    behind, worst = vm, deficit
            if behind is not None:
                q.reserved.remove(behind)
                return behind
            first = min(q.reserved, key=lambda vm: (self._entry(vm).vtime, self._entry(vm).seq))
            e = self._entry(first)
            if not q.ready or (e.vtime, e.seq) < q.ready[0][:2]:
                q.reserved.remove(first)
                self._vclock = max(self._vclock, e.vtime)
                return first
        if not q.ready:
            return None
        vtime, _, vm = heapq.heappop(q.ready)
        self._vclock = max(self._vclock, vtime)
        return vm

    def _least_vtime(self, q: _RunQueue, *more: VM) -> int | None:
        """The least virtual time of the VMs ready to run (and of ``more``), if any."""
        low = q.ready[0][0] if q.ready else None
        for vm in (*q.reserved, *more):
            vtime = self._entry(vm).vtime
            low = vtime if low is None else min(low, vtime)
        return low

    def _advance_vclock(self, q: _RunQueue) -> None:
        """Move the virtual clock up to the least virtual time of the VMs ready to run."""
        low = self._least_vtime(q)
        if low is not None and low > self._vclock:
            self._vclock = low

    def _next_wake(self, q: _RunQueue) -> int:
        """The earliest host cycle at which a waiting VM wakes or a throttled one is released."""
        wake = q.sleeping[0][0] if q.sleeping else NEVER
        if q.throttled:
            wake = min(wake, self._entry(q.throttled[0]).throttled_until)
        return wake

    def _next_event(self, q: _RunQueue) -> int:
        """The earliest host cycle at which a VM may become ready (woken, released, freed)."""
        return min(self._next_wake(q), q.busy[0][0]) if q.busy else self._next_wake(q)

    def _budget(self, q: _RunQueue, vm: VM) -> int:
        """Host cycles the next slice of ``vm`` may take (a run's end does not shorten it)."""
        now = self.clock
        competing = bool(q.ready or q.reserved)
        budget = self.slice_cycles if competing else max(self.slice_cycles, LONE_SLICE_CYCLES)
        budget = min(budget, self._next_wake(q) - now)
        if vm.limit is not None or vm.reservation > 0 or q.reserved:
            budget = min(budget, PERIOD_CYCLES - now % PERIOD_CYCLES)  # per-period accounting
        if vm.limit is not None:
            room = int(vm.limit * PERIOD_CYCLES) - self._used_in_period(vm, self._entry(vm))
            budget = min(budget, room)
        return max(1, budget)

    def _settle(self, vm: VM, now: int, e: _Sched | None = None) -> None:
        """Account ``vm``'s time off the CPU up to ``now``: idle (waiting), limited, else ready."""
        e = e or self._entry(vm)
        acct = e.account
        t = acct.mark
        if t >= now:  # accounted up to there already (its slice ended on a CPU ahead)
            return
        acct.mark = now
        if vm.state != "running":
            return
        wake = vm.wake_at
        if wake is not None and wake > t:
            stop = min(now, wake)
            vm.stats.idle_cycles += stop - t
            t = stop
        if t < now and e.throttled_until > t:
            stop = min(now, e.throttled_until)
            acct.limited_cycles += stop - t
            t = stop
        acct.ready_cycles += now - t

    def _run_one(self, cpu: _CPU, end: int, instructions_left: int | None) -> int:
        """Run the slice on ``cpu`` on until it ends or reaches ``end`` or the instructions left.

        Its first part charges the world switch (if the CPU last ran another VM) and rolls the
        VM's period; the slice is done (``cpu.slice`` cleared) once its budget is used or the
        VM cannot run on. The host clock follows the CPU's meanwhile. Returns the guest
        instructions retired.
        """
        sl = cpu.slice
        assert sl is not None
        vm = sl.vm
        self.clock = cpu.clock
        e = self._entry(vm)
        self._settle(vm, self.clock, e)
        start = self.clock
        s = vm.stats
        g0, h0, i0 = s.guest_cycles, s.hypervisor_cycles, s.instructions
        budget = 0
        try:
            if not sl.begun:
                sl.begun = True
                self._used_in_period(vm, e)  # roll the period first: this slice counts in this one
                if cpu.last is not None and cpu.last is not vm:
                    switch = self.costs.world_switch
                    s.hypervisor_cycles += switch
                    stat = s.exits.get(WORLD_SWITCH)
                    if stat is None:
                        stat = s.exits[WORLD_SWITCH] = ExitStat()
                    stat.count += 1
                    stat.cycles += switch
                    self.clock += switch  # the guest sees the switch's time pass
                    sl.left = max(1, sl.left - switch)
                cpu.last = vm
            budget = min(sl.left, end - self.clock)
            if instructions_left is not None:
                budget = min(budget, instructions_left)  # an instruction takes at least a cycle
            if budget > 0:
                before = self.clock
                budget_exits = int(vm.cpu.st[STAT_EXITS + EXIT_BUDGET])
                vm.run_slice(budget)
                if sl.counted:  # the same slice, continued: vm.run_slice counted it again
                    s.slices -= 1
                sl.counted = True
                sl.left -= s.guest_cycles + s.hypervisor_cycles - g0 - h0 - (before - start)
                if sl.left > 0 and vm.runnable:  # cut by the run's end, not by the slice's:
                    vm.cpu.st[STAT_EXITS + EXIT_BUDGET] = budget_exits  # the core's count too
        finally:  # even on Ctrl-C the counters keep adding up
            guest, hyp = s.guest_cycles - g0, s.hypervisor_cycles - h0
            used, ran = guest + hyp, s.instructions - i0
            self.clock = cpu.clock = vm.left_cpu_at = start + used
            self.guest_cycles += guest
            self.hypervisor_cycles += hyp
            self.instructions += ran
            e.account.mark = self.clock
            e.account.consumed_on_host += used
            self._count_exits(vm, e.account)
            e.period_used += used
            total = used * _VT_SCALE + e.vrem
            e.vtime += total // vm.shares
            e.vrem = total % vm.shares
            if sl.left <= 0 or not vm.runnable:
                cpu.slice = None
        if vm.state != "running":
            e.account.power_off(self.clock)
        # a guest looping on a trap that emulation reflects (no instruction retires) still
        # costs hypervisor cycles: time moves on, so only a slice that used nothing is a hang
        if budget > 0 and used == 0 and ran == 0 and vm.runnable:
            cpu.slice = None
            raise RuntimeError(
                f"VM {vm.name!r} made no progress in a slice at pc {vm.pc:#010x} "
                f"({vm.message or 'no exit explains it'}); the hypervisor stopped to avoid a hang"
            )
        return ran

    def run(self, cycles: int | None = None, instructions: int | None = None) -> int:
        """Advance the host clock, running every started VM by its shares; returns cycles advanced.

        Runs until the host clock reaches ``cycles`` host cycles past the point where the
        previous run was asked to stop, and returns ``cycles``: the last slice ends past that
        point by less than one instruction, one exit's cost or a world switch (time with nothing
        to run ends exactly on it), and the next run takes that overshoot off its own budget.
        Or stops once the VMs together have retired ``instructions`` guest instructions (the
        last slice is cut to the instructions left; an exit that emulates an instruction can add
        one more), or when no VM can run any more (all stopped, paused, or waiting for input);
        then returns how far the clock moved. With neither budget a spinning guest keeps it
        running: interrupt with Ctrl-C. Ctrl-C (or a notebook's interrupt) stops the run at
        the end of the slice in progress and raises KeyboardInterrupt there, with nothing
        half done: the next run goes on exactly as if there had been no interrupt.

        Where a run ends is invisible to the schedule: ``run(cycles=a); run(cycles=b)`` leaves
        every VM, the accounting and the scheduler exactly as ``run(cycles=a + b)`` (the time
        series get one extra point at the end of each run). The slice in progress is kept for
        the next run unless something the scheduler looks at changes in between (see the
        scheduling notes above ``set_resources``).
        """
        for name, value in (("cycles", cycles), ("instructions", instructions)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ValueError(f"{name} must be an integer >= 0, not {value!r}")
        start = self.clock
        end = NEVER if cycles is None else self._due + cycles
        retired = 0
        t0 = time.perf_counter()
        q = self._run_queue()
        done = False
        with Held() as ctrl_c:  # (a Ctrl-C stops the run between slices, then is raised)
            try:
                while instructions is None or retired < instructions:
                    self._release(q)
                    cpu = self._next_cpu()
                    if cpu.clock >= end or ctrl_c.stop_requested:
                        break
                    self.clock = cpu.clock
                    if cpu.slice is None:
                        self._wake(q)
                        vm = self._pick(q)
                        if vm is None:
                            wake = self._next_event(q)
                            ahead = [c.clock for c in self._cpus if c.clock > cpu.clock]
                            if wake >= NEVER and not ahead:
                                break  # nothing will ever run again without outside help
                            until = min(wake, end, *ahead)
                            self.idle_cycles += until - cpu.clock
                            cpu.clock = until
                            self.clock = self._next_cpu().clock
                            if wake <= end:  # (idle cut by the run's end goes on in the next)
                                self._sample_host(regular=True)
                            continue
                        cpu.slice = _Slice(vm, self._budget(q, vm))
                    sl = cpu.slice
                    left = None if instructions is None else instructions - retired
                    retired += self._run_one(cpu, end, left)
                    if cpu.slice is None:  # (else cut by the run's end: it goes on in the next run)
                        cpu.held = sl.vm  # back in the queue once the host clock gets there
                        self._sample(sl.vm, regular=True)  # at the end of its slice
                self.clock = self._next_cpu().clock
                self._release(q)
                occupied = any(c.slice is not None or c.held is not None for c in self._cpus)
                if not occupied and self._next_event(q) >= NEVER:
                    self._idle_to(max(c.clock for c in self._cpus))  # nothing left: CPUs catch up
                self._wake(q)  # as the next look at this clock would: a 0-cycle run changes nothing
                done = True
            finally:
                for cpu in self._cpus:
                    if not done:
                        cpu.slice = None  # a run that failed ends its slices
                    if cpu.slice is not None:  # should it end here after all (see _end_slice)
                        low = self._least_vtime(q, cpu.slice.vm)
                        cpu.slice.vclock = max(self._vclock, low if low is not None else 0)
                self.clock = self._next_cpu().clock
                self._end_run()
                self.host_seconds += time.perf_counter() - t0
                kept = any(cpu.slice is not None for cpu in self._cpus)
                self._slice_seen = self._seen() if kept else ()
                self._due = end if self.clock >= end else self.clock
        return cycles if self.clock >= end else self.clock - start

    def _release(self, q: _RunQueue) -> None:
        """Put back in the queue each VM whose slice ended at the host clock (CPUs in order)."""
        now = self._next_cpu().clock
        for cpu in self._cpus:
            vm = cpu.held
            if vm is not None and cpu.clock == now:
                cpu.held = None
                self.clock = now
                self._enqueue(q, vm, rejoin=False)
                self._advance_vclock(q)
                self._sample_host(regular=True)

    def _next_cpu(self) -> _CPU:
        """The CPU that goes next: furthest behind (ties: one with a slice, then lower-numbered)."""
        if len(self._cpus) == 1:
            return self._cpus[0]
        return min(self._cpus, key=lambda c: (c.clock, c.slice is None, c.index))

    def _idle_to(self, clock: int) -> None:
        """Every CPU behind ``clock`` idles up to it (nothing is left to run on any)."""
        for cpu in self._cpus:
            if cpu.clock < clock:
                self.idle_cycles += clock - cpu.clock
                cpu.clock = clock
        self.clock = clock

    def _end_run(self) -> None:
        """Close the books at the end of a run: settle every VM, take a point of every series.

        Every VM's period is brought up to date (as the next look would), but that of the VM
        whose slice goes on: its slice counts in the period it began in.
        """
        on_cpu = {cpu.slice.vm for cpu in self._cpus if cpu.slice is not None}
        for vm in self._vms.values():
            e = self._entry(vm)
            if vm not in on_cpu:
                self._used_in_period(vm, e)
            now = max(self.clock, vm.left_cpu_at)  # a VM may have run on a CPU ahead
            self._settle(vm, now, e)
            e.account.power_off(now)
            s = vm.stats  # what changed in this run is already accounted for
            e.account.seen = s.guest_cycles + s.hypervisor_cycles + s.idle_cycles
            start = e.account.exits_at_start
            for name, stat in vm.stats.exits.items():  # the exits this run took, on the host
                count, cycles, seconds = start.get(name, (0, 0, 0.0))
                if stat.count != count:
                    kept = self._exit_stats.setdefault(name, ExitStat())
                    kept.count += stat.count - count
                    kept.cycles += stat.cycles - cycles
                    kept.host_seconds += stat.host_seconds - seconds
            e.account.exits_at_start = {}
            if e.account.last_sample < now:
                self._sample(vm)
        if self._host_sampled < self.clock or not len(self._host_series):
            self._sample_host()

    @property
    def total_instructions(self) -> int:
        """Guest instructions retired by all VMs."""
        return sum(vm.stats.instructions for vm in self._vms.values())

    @held
    def import_vm(self, path: str | os.PathLike[str], name: str | None = None) -> VM:
        """Load a VM exported by ``vm.export`` (from any hypervisor); it resumes exactly."""
        from .export import import_vm

        return import_vm(self, path, name)

    # ---- metrics ---------------------------------------------------------------------------
    def _sample(self, vm: VM, regular: bool = False) -> None:
        """Add a point to ``vm``'s time series (its counters now).

        ``regular``: only if its last regular point is ``sample_cycles`` old. Regular points
        are spaced by themselves: the extra point at the end of a run does not move them.
        """
        acct = self._entry(vm).account
        now = max(self.clock, vm.left_cpu_at)  # its own time (it may have run on a CPU ahead)
        if regular:
            if now - acct.last_regular < self.sample_cycles:
                return
            acct.last_regular = now
        if acct.last_sample == now and len(acct.series):
            return  # a point at this clock already (the end of the previous run)
        s = vm.stats
        if acct.memory_generation != self.memory.generation or acct.memory_p2m is not vm.p2m:
            shared = self.memory.refs[vm.p2m >> P2M_SHIFT]  # vm.memory_used, in fewer steps
            acct.memory_used = round(float((1.0 / shared).sum()) * PAGE_SIZE) if len(shared) else 0
            acct.memory_generation = self.memory.generation
            acct.memory_p2m = vm.p2m
        acct.series.append(
            (
                now,
                s.instructions,
                s.guest_cycles,
                s.hypervisor_cycles,
                s.idle_cycles,
                acct.ready_cycles,
                acct.limited_cycles,
                acct.exits,
                acct.memory_used,
            )
        )
        acct.last_sample = now

    def _sample_host(self, regular: bool = False) -> None:
        """Add a point to the host's time series (``regular``: as in ``_sample``)."""
        if regular:
            if self.clock - self._host_regular < self.sample_cycles:
                return
            self._host_regular = self.clock
        if self._host_sampled == self.clock and len(self._host_series):
            return  # a point at this clock already (the end of the previous run)
        self._host_series.append(
            (
                self.clock,
                self.instructions,
                self.guest_cycles,
                self.hypervisor_cycles,
                self.idle_cycles,
                self._exits,
                self.memory.used_bytes,
                sum(1 for vm in self._vms.values() if vm.state == "running"),
            )
        )
        self._host_sampled = self.clock

    def _retire(self, vm: VM) -> None:
        """Forget a deleted VM's scheduling record (the host's counters keep what it used)."""
        self._sched.pop(vm, None)
        for cpu in self._cpus:
            if cpu.last is vm:
                cpu.last = None
            if cpu.held is vm:
                cpu.held = None
        self._end_slice(vm)

    def _end_slice(self, vm: VM) -> None:
        """End the slice kept for ``vm`` between runs, if any, where the last run cut it.

        As a slice that ends in a run: its VM is back among the ready ones, so the virtual
        clock moves up to the least virtual time among them (a VM that comes back later gets
        no more credit than against a slice that had ended there).
        """
        for cpu in self._cpus:
            sl = cpu.slice
            if sl is not None and sl.vm is vm:
                cpu.slice = None
                self._vclock = max(self._vclock, sl.vclock)

    def metrics(self, vm: VM | str | None = None) -> HostMetrics | VMMetrics:
        """A snapshot of the host's counters, or of one VM's (``vm.metrics()`` is the same)."""
        if vm is not None:
            if not isinstance(vm, VM):  # (a VM of another host: _vm_metrics says so)
                vm = self._own(vm, "metrics")
            return self._vm_metrics(vm)
        return HostMetrics(
            clock=self.clock,
            guest_cycles=self.guest_cycles,
            hypervisor_cycles=self.hypervisor_cycles,
            idle_cycles=self.idle_cycles,
            instructions=self.instructions,
            host_seconds=self.host_seconds,
            memory_size=self.memory.size,
            memory_used=self.memory.used_bytes,
            vms=len(self._vms),
            vms_running=sum(1 for v in self._vms.values() if v.state == "running"),
            exits=exit_table(self._exit_stats.items()),
            cpus=self.cpus,
        )

    def _vm_metrics(self, vm: VM, entitled: dict[str, float] | None = None) -> VMMetrics:
        """A snapshot of one VM's counters (``entitled``: the entitlements, if already known)."""
        if vm.state == "deleted" or self._vms.get(vm.name) is not vm:
            raise ValueError(f"VM {vm.name!r} is not on this hypervisor (deleted?): no metrics")
        acct = self._entry(vm).account
        self._sync(vm, acct)
        s = vm.stats
        return VMMetrics(
            vm=vm.name,
            mode=vm.mode,
            state=vm.state,
            clock=self.clock,
            shares=vm.shares,
            reservation=vm.reservation,
            limit=vm.limit,
            entitlement=(entitled or entitlements(self._vms.values(), self.cpus)).get(vm.name, 0.0),
            instructions=s.instructions,
            guest_cycles=s.guest_cycles,
            hypervisor_cycles=s.hypervisor_cycles,
            idle_cycles=s.idle_cycles,
            ready_cycles=acct.ready_cycles,
            limited_cycles=acct.limited_cycles,
            elapsed_cycles=acct.elapsed_cycles,
            host_seconds=s.host_seconds,
            memory_size=vm.memory_size,
            memory_used=vm.memory_used,
            exits=exit_table(s.exits.items()),
            translated_pages=s.translated_pages,
            consumed_on_host=acct.consumed_on_host,
            elapsed_on_host=acct.elapsed_on_host,
        )

    def series(self, vm: VM | str | None = None) -> Series:
        """The time series of one VM's counters (keys ``SERIES_KEYS``), or the host's."""
        if vm is None:
            return self._host_series
        return self._entry(self._own(vm, "series")).account.series

    def samples(self, vm: VM | str, after: int = -1) -> list[Sample]:
        """One VM's time-series points taken after host cycle ``after``, oldest first (cheap)."""
        vm = self._own(vm, "samples")
        if isinstance(after, (bool, np.bool_)) or not isinstance(after, (int, np.integer)):
            raise TypeError(f"after must be a host cycle (an int), not {reprlib.repr(after)}")
        after = operator.index(after)  # (numpy ints too: a series' own clock column is int64)
        keys = SERIES_KEYS
        return [
            Sample(vm=vm.name, **dict(zip(keys, point, strict=True)))
            for point in self._entry(vm).account.series.since(after)
        ]

    @property
    def history(self) -> list[Sample]:
        """Every VM's time-series points, oldest first (ties in creation order); see ``samples``."""
        points = [
            (row["clock"], self._entry(vm).seq, Sample(vm=vm.name, **row))
            for vm in self._vms.values()
            for row in self._entry(vm).account.series.rows()
        ]
        return [p[2] for p in sorted(points, key=lambda p: p[:2])]

    def rows(self, kind: str = "vms") -> list[dict[str, Any]]:
        """Metrics as a list of dicts with stable keys, e.g. for ``pandas.DataFrame(rows)``.

        ``kind``: "vms" (one row per VM, keys ``VM_ROW_KEYS``), "exits" (one per VM and exit
        reason, ``EXIT_ROW_KEYS``), "series" (every VM's time series, ``SERIES_ROW_KEYS``) or
        "host" (the host's time series, ``HOST_SERIES_KEYS``); see ``vmlab.hypervisor.metrics``.
        """
        if kind not in ROW_KINDS:
            raise ValueError(f"unknown kind of rows {kind!r}; choose one of {', '.join(ROW_KINDS)}")
        if kind == "host":
            return self._host_series.rows()
        out: list[dict[str, Any]] = []
        entitled = entitlements(self._vms.values(), self.cpus)
        for vm in self._vms.values():
            if kind == "series":
                out += [{"vm": vm.name, **row} for row in self.series(vm).rows()]
                continue
            m = self._vm_metrics(vm, entitled)
            out += [m.row()] if kind == "vms" else m.exit_rows()
        return out

    def __repr__(self) -> str:
        return (
            f"<Hypervisor {format_size(self.memory.size)} clock={self.clock} "
            f"vms={[vm.name for vm in self._vms.values()]}>"
        )


__all__ = ["PERIOD_CYCLES", "SAMPLE_CYCLES", "SLICE_CYCLES", "Hypervisor", "Sample", "VMStateError"]
