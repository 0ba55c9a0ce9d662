"""The hypervisor: owns the host's memory and CPU time, creates VMs and schedules them by shares.

Time is the host's modelled clock (``hv.clock``, in cycles). Each VM's guest clock runs with it
(offset to start at 0 when the VM starts), so a guest sees time pass while other VMs run and while
the VMM handles its exits: the overhead of virtualization is visible from inside, as on real
hardware. Scheduling is weighted fair queuing over host cycles consumed, with vSphere-style
reservation and limit per period; runs are deterministic.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from ..devices.disk import Disk
from ..image import Image
from ..units import format_size, parse_size
from .costs import CostModel
from .host import HostMemory
from .vm import MODES, NEVER, VM, VMStateError

SLICE_CYCLES = 20_000  # a vCPU's time slice
PERIOD_CYCLES = 1_000_000  # the period over which reservations and limits are enforced
HISTORY = 2_000  # samples kept per time series (older ones roll off)


@dataclass
class Sample:
    """One point of a VM's time series (taken after each of its slices)."""

    clock: int
    vm: str
    instructions: int
    guest_cycles: int
    hypervisor_cycles: int
    idle_cycles: int
    exits: int
    memory_used: int


class Hypervisor:
    """A host with ``host_memory`` of RAM and ``cpus`` CPUs, running many isolated VMs.

    >>> from vmlab import Hypervisor, images
    >>> hv = Hypervisor(host_memory="16M")
    >>> vm = hv.create_vm("a", images.load("hello"), memory="1M", mode="hw-assist")
    >>> vm.start(); hv.run(cycles=1_000_000); vm.console.output.splitlines()[0]
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
        if cpus != 1:
            raise ValueError("this host model has one CPU (cpus=1); more are not modelled yet")
        self.memory = HostMemory(parse_size(host_memory, "host_memory"))
        self.cpus = cpus
        self.costs = costs or CostModel()
        self.slice_cycles = int(slice_cycles)
        self.UNSAFE_unchecked_hypercall_buffers = bool(UNSAFE_unchecked_hypercall_buffers)
        self.clock = 0  # host cycles since the hypervisor started
        self.idle_cycles = 0  # host cycles with no VM to run
        self._vms: dict[str, VM] = {}
        self._period_start = 0
        self._period_used: dict[str, int] = {}
        self.history: deque[Sample] = deque(maxlen=HISTORY * 8)
        self._last: VM | None = None

    # ---- VMs ------------------------------------------------------------------------------
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
    ) -> VM:
        """Create a VM (state "created") with its own memory, devices and vCPU.

        ``mode`` is one of "trap-and-emulate", "binary-translation", "paravirtual", "hw-assist";
        ``reservation`` and ``limit`` are fractions of the host CPU; ``exits`` chooses the exit
        handlers ("python": readable, slower; "jit": compiled fast path). Fails with a clear error
        and changes nothing if the name is taken, an argument is bad or memory does not fit.
        """
        if not isinstance(name, str) or not name or not name.isprintable():
            raise ValueError(f"a VM name must be a non-empty printable string, not {name!r}")
        if name in self._vms:
            raise ValueError(f"a VM named {name!r} already exists")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if exits not in ("python", "jit"):
            raise ValueError(f"exits must be 'python' or 'jit', not {exits!r}")
        if not isinstance(image, Image):
            raise TypeError(f"image must be a vmlab Image, not {type(image).__name__}")
        size = parse_size(memory, "memory")
        if size <= 0 or size % 4096 or size > (1 << 30):
            raise ValueError(f"VM memory {memory!r} must be a positive multiple of 4K up to 1G")
        if not isinstance(shares, int) or shares <= 0:
            raise ValueError(f"shares must be a positive integer, not {shares!r}")
        if not 0.0 <= reservation <= 1.0:
            raise ValueError(
                f"reservation must be a fraction of the CPU in 0..1, not {reservation}"
            )
        if limit is not None and not 0.0 < limit <= 1.0:
            raise ValueError(f"limit must be a fraction of the CPU in (0, 1], not {limit}")
        if limit is not None and limit < reservation:
            raise ValueError(f"limit {limit} is below the reservation {reservation}")
        reserved = sum(vm.reservation for vm in self._vms.values()) + reservation
        if reserved > 1.0 + 1e-9:
            raise ValueError(
                f"reservation {reservation} does not fit: the host CPU is already "
                f"{reserved - reservation:.2f} reserved"
            )
        vm = VM(self, name, image, size, mode, shares, reservation, limit, strict, disk, exits)
        self._vms[name] = vm
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
        self._vms.pop(vm.name, None)

    # ---- scheduling ------------------------------------------------------------------------
    def _pick(self) -> VM | None:
        """The runnable VM that should run next (reservation first, then fair share by shares)."""
        runnable = [vm for vm in self._vms.values() if vm.runnable and not self._throttled(vm)]
        if not runnable:
            return None
        elapsed = max(1, self.clock - self._period_start)
        behind = [
            vm
            for vm in runnable
            if vm.reservation > 0 and self._period_used.get(vm.name, 0) < vm.reservation * elapsed
        ]
        pool = behind or runnable
        return min(pool, key=lambda vm: vm.stats.consumed_cycles * 1000 / vm.shares)

    def _throttled(self, vm: VM) -> bool:
        if vm.limit is None:
            return False
        return self._period_used.get(vm.name, 0) >= vm.limit * PERIOD_CYCLES

    def _next_wake(self) -> int:
        """The earliest host cycle at which a waiting VM wakes or a new period starts."""
        wakes = [
            vm.wake_at
            for vm in self._vms.values()
            if vm.state == "running" and vm.wake_at is not None and vm.wake_at > self.clock
        ]
        candidates = [w for w in wakes if w < NEVER]
        if any(vm.limit is not None and vm.state == "running" for vm in self._vms.values()):
            candidates.append(self._period_start + PERIOD_CYCLES)
        return min(candidates) if candidates else NEVER

    def run(self, cycles: int | None = None, instructions: int | None = None) -> int:
        """Advance the host clock, running every started VM by its shares; returns cycles advanced.

        Stops after ``cycles`` host cycles, or once ``instructions`` guest instructions (all VMs
        together) have run, or when no VM can run any more (all stopped, or waiting for input).
        With neither budget a spinning guest keeps it running: interrupt with Ctrl-C.
        """
        for name, value in (("cycles", cycles), ("instructions", instructions)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, not {value}")
        start = self.clock
        end = NEVER if cycles is None else start + int(cycles)
        target = None if instructions is None else self.total_instructions + int(instructions)
        while self.clock < end:
            if target is not None and self.total_instructions >= target:
                break
            if self.clock - self._period_start >= PERIOD_CYCLES:
                self._period_start += PERIOD_CYCLES * (
                    (self.clock - self._period_start) // PERIOD_CYCLES
                )
                self._period_used.clear()
            vm = self._pick()
            if vm is None:
                wake = min(self._next_wake(), end)
                if wake >= NEVER:
                    break  # nothing will ever run again without outside help
                self.idle_cycles += wake - self.clock
                for other in self._vms.values():
                    if other.state == "running" and other.wake_at is not None:
                        other.stats.idle_cycles += wake - self.clock
                self.clock = wake
                continue
            budget = min(self.slice_cycles, end - self.clock)
            wake = self._next_wake()
            if wake < NEVER:
                budget = max(1, min(budget, wake - self.clock))
            if vm.limit is not None:
                room = int(vm.limit * PERIOD_CYCLES) - self._period_used.get(vm.name, 0)
                budget = max(1, min(budget, room))
            if target is not None:
                budget = max(1, min(budget, target - self.total_instructions))
            switch = 0
            if self._last is not vm and self._last is not None:
                switch = self.costs.world_switch
                vm.stats.hypervisor_cycles += switch
            self._last = vm
            used = vm.run_slice(budget) + switch
            self.clock += used
            self._period_used[vm.name] = self._period_used.get(vm.name, 0) + used
            self._sample(vm)
        return self.clock - start

    @property
    def total_instructions(self) -> int:
        """Guest instructions retired by all VMs."""
        return sum(vm.stats.instructions for vm in self._vms.values())

    def import_vm(self, path: str | os.PathLike[str], name: str | None = None) -> VM:
        """Load a VM exported by ``vm.export`` (from any hypervisor); it resumes exactly."""
        from .export import import_vm

        return import_vm(self, path, name)

    # ---- metrics ---------------------------------------------------------------------------
    def _sample(self, vm: VM) -> None:
        s = vm.stats
        self.history.append(
            Sample(
                clock=self.clock,
                vm=vm.name,
                instructions=s.instructions,
                guest_cycles=s.guest_cycles,
                hypervisor_cycles=s.hypervisor_cycles,
                idle_cycles=s.idle_cycles,
                exits=sum(e.count for e in s.exits.values()),
                memory_used=vm.memory_used,
            )
        )

    def __repr__(self) -> str:
        return (
            f"<Hypervisor {format_size(self.memory.size)} clock={self.clock} "
            f"vms={[vm.name for vm in self._vms.values()]}>"
        )


__all__ = ["Hypervisor", "Sample", "VMStateError"]
