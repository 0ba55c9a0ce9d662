"""A virtual machine: its configuration, lifecycle, vCPU state, memory map and devices.

Lifecycle (every request says when it is legal; an illegal one raises ``VMStateError`` naming the
VM, its state and what is allowed)::

    created --start--> running --pause--> paused --resume--> running
    created/running/paused --stop--> stopped          (the guest may also stop itself)
    any state but deleted --reset--> created          (power-on state, image reloaded)
    created/stopped --delete--> deleted               (its host memory is returned)

Inspection works in every state: ``vm.regs["a0"]`` (as ``Machine.regs``) and ``vm.csr("status")``
(the guest's virtual CSRs; ``guest=False`` for the real bank). Writing a register is legal when
created, paused or stopped: not while ``hv.run`` may be running the vCPU, nor once deleted.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._interrupts import held
from ..core import cpu
from ..core.layout import (
    EXIT_BREAKPOINT,
    EXIT_BT,
    EXIT_BUDGET,
    EXIT_CONSOLE,
    EXIT_FAULT,
    EXIT_GUEST_TRAP,
    EXIT_HALT,
    EXIT_HCALL,
    EXIT_IDLE,
    EXIT_MMIO,
    EXIT_NAMES,
    EXIT_NPF,
    EXIT_POWEROFF,
    EXIT_PRIV,
    EXIT_REBOOT,
    EXIT_TRANSLATE,
    P2M_SHIFT,
    P2M_V,
    P2M_W,
    ST_CSR,
    ST_EXIT,
    ST_GCSR,
    ST_PC,
    ST_VMCTL,
    VM_DEPRIV,
    VM_EXIT_IDLE,
    VM_EXIT_MMIO,
    VM_EXIT_TRAP,
    VM_GUEST,
    VM_TRANSLATE,
)
from ..core.state import CpuState
from ..devices.console import Console
from ..devices.disk import NO_DISK, Disk, DiskFileError
from ..image import Image
from ..isa.arch import (
    CSR_CYCLE,
    CSR_IE,
    CSR_INSTRET,
    CSR_STATUS,
    CSR_TIMECMP,
    PAGE_SIZE,
    SP,
    ST_IE,
    ST_PG,
)
from ..machine import Registers
from ..units import format_size
from . import exits
from .bt import translate_page
from .host import HostMemoryError
from .metrics import check_exit_reason

if TYPE_CHECKING:
    from ..ui.vmwidget import VMWidget
    from .hypervisor import Hypervisor
    from .metrics import Baseline, Overhead, VMMetrics
    from .snapshot import Snapshot

MODES = ("trap-and-emulate", "binary-translation", "paravirtual", "hw-assist")
_BASE_CTL = {
    "trap-and-emulate": VM_GUEST | VM_DEPRIV | VM_EXIT_TRAP | VM_EXIT_IDLE,
    "binary-translation": VM_GUEST | VM_DEPRIV | VM_EXIT_TRAP | VM_EXIT_IDLE | VM_TRANSLATE,
    "paravirtual": VM_GUEST | VM_DEPRIV | VM_EXIT_TRAP | VM_EXIT_IDLE,
    "hw-assist": VM_GUEST | VM_EXIT_IDLE,
}
# what a deprivileged guest kernel would see in the real status register: user mode, paging and
# interrupts on (the host's own settings while the guest runs)
REAL_STATUS_WHILE_GUEST_RUNS = ST_IE | ST_PG
NEVER = 1 << 62
HORIZON = 1 << 61  # a timer wake-up later than this host cycle counts as never (73 years at 1 GHz)
STUCK_EXITS = 10_000  # exits in a row without time passing or progress that stop a VM


MAX_NAME = 100  # characters in a VM or snapshot name


def name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a VM or snapshot name, or None if it is a good one."""
    if not isinstance(name, str):
        return f"not a string ({type(name).__name__})"
    if not name.strip():
        return "empty or blank"
    if not name.isprintable():
        return "not printable"
    if len(name) > MAX_NAME:
        return f"{len(name):,} characters long (at most {MAX_NAME})"
    return None


def check_name(name: object, what: str) -> str:
    """``name`` if it is a good VM or snapshot name (``what``: "VM" or "snapshot"); else ValueError."""
    problem = name_problem(name)
    if problem is not None:
        shown = (
            repr(name) if not isinstance(name, str) or len(name) <= 40 else repr(name[:40]) + "..."
        )
        raise ValueError(
            f"a {what} name must be a non-empty printable string of at most {MAX_NAME} "
            f"characters, not {shown}: it is {problem}"
        )
    return name  # type: ignore[return-value]


class _Unset:
    """The type of "argument not given" where None means something."""


_UNSET = _Unset()


class VMStateError(RuntimeError):
    """A lifecycle request that the VM's current state does not allow."""


@dataclass
class ExitStat:
    """One kind of exit: how often, its modelled cost and the host time spent handling it."""

    count: int = 0
    cycles: int = 0
    host_seconds: float = 0.0


@dataclass
class VMStats:
    """Per-VM accounting (what the live charts plot).

    The counters add up over the VM's whole life: a reset or a guest's reboot does not clear
    them (a chart's lines go on); restoring a snapshot brings back the values it recorded.
    """

    instructions: int = 0  # guest instructions retired
    guest_cycles: int = 0  # modelled cycles spent running guest instructions
    hypervisor_cycles: int = 0  # modelled cycles the VMM spent on this VM's exits
    idle_cycles: int = 0  # host cycles this VM spent waiting (costing nothing)
    host_seconds: float = 0.0  # wall-clock time the host spent on this VM (measured)
    slices: int = 0
    translated_pages: int = 0  # code pages binary-translated (binary-translation mode)
    exits: dict[str, ExitStat] = field(default_factory=dict)
    hypercalls: dict[str, int] = field(default_factory=dict)  # by name; "batch.<name>": in a batch

    @property
    def consumed_cycles(self) -> int:
        """Host CPU cycles this VM used (guest + hypervisor work)."""
        return self.guest_cycles + self.hypervisor_cycles

    def exit_count(self, name: str) -> int:
        """How many exits of one kind (``"privileged"``, ``"hcall"``, ...) happened.

        0 for a kind that has not happened; ValueError listing the kinds for an unknown name
        (``metrics.EXIT_REASONS``, and any other kind these counters hold).
        """
        check_exit_reason(name, self.exits)
        stat = self.exits.get(name)
        return 0 if stat is None else stat.count


class VM:
    """One virtual machine on a ``Hypervisor`` (create it with ``hv.create_vm``)."""

    def __init__(
        self,
        hv: Hypervisor,
        name: str,
        image: Image,
        memory: int,
        mode: str,
        shares: int,
        reservation: float,
        limit: float | None,
        strict: bool,
        disk: Disk | None,
        exits_path: str,
        *,
        shared_frames: np.ndarray | None = None,
    ) -> None:
        self.hv = hv
        self.name = name
        self.image = image
        self.memory_size = memory
        self.mode = mode
        self.shares = shares
        self.reservation = reservation
        self.limit = limit
        self.strict = strict
        self.disk = disk
        self.exits_path = exits_path
        self.state = "created"
        self.stop_reason: str | None = None
        self.exit_code: int | None = None
        self.message = ""
        self.cpu = CpuState()
        self.console = Console(self.cpu.st)
        self.stats = VMStats()
        self.wake_at: int | None = None  # host cycle at which a waiting VM becomes runnable
        self.clock_offset = 0  # host cycle at which the guest's cycle counter was 0
        self.paused_at: int | None = None  # host cycle of the pause (guest time stands still)
        self.left_cpu_at = 0  # host cycle at which its last slice ended (on its CPU's clock)
        if shared_frames is None:
            pages = memory // PAGE_SIZE
            frames = hv.memory.alloc(pages, f"VM {name!r} ({format_size(memory)})")
            self.p2m = (frames << P2M_SHIFT) | P2M_V | P2M_W
            try:
                self._power_on()
            except BaseException:  # e.g. the image does not fit: give the frames back
                hv.memory.release(frames)
                raise
        else:  # a linked clone: frames shared read-only (copy-on-write); the caller loads it
            hv.memory.share(shared_frames)
            self.p2m = (np.asarray(shared_frames, dtype=np.int64) << P2M_SHIFT) | P2M_V

    # ---- configuration ---------------------------------------------------------------------
    @property
    def vmctl(self) -> int:
        """The core's virtualization controls for this VM's technique."""
        ctl = _BASE_CTL[self.mode]
        if self.exits_path == "python":
            ctl |= VM_EXIT_MMIO
        return ctl

    def disk_data(self) -> np.ndarray:
        """The disk's bytes (empty without a disk)."""
        return self.disk.data if self.disk is not None else NO_DISK

    @property
    def frames(self) -> np.ndarray:
        """Host frame of each guest page."""
        return self.p2m >> P2M_SHIFT

    # ---- lifecycle ---------------------------------------------------------------------------
    def _require(self, action: str, *allowed: str) -> None:
        if self.state not in allowed:
            raise VMStateError(
                f"cannot {action} VM {self.name!r}: it is {self.state}; "
                f"{action} is allowed when {' or '.join(allowed)}"
            )

    @held
    def start(self) -> None:
        """Power on a created VM so that ``hv.run`` schedules it. Legal when: created."""
        self._require("start", "created")
        self.state = "running"
        self.clock_offset = self.now - int(self.cpu.st[ST_GCSR + CSR_CYCLE])

    @held
    def pause(self) -> None:
        """Stop scheduling the VM, keeping all its state. Legal when: running.

        Time stands still for a paused guest: its cycle counter, timer deadline and wake-up time
        continue on resume from where they were, so a paused VM runs on exactly as a snapshot
        of it would, however long it stayed paused.
        """
        self._require("pause", "running")
        self.state = "paused"
        self.paused_at = self.now

    @held
    def resume(self) -> None:
        """Schedule a paused VM again (its guest time goes on from the pause). Legal when: paused."""
        self._require("resume", "paused")
        self.message = ""  # (a pause for host memory said why)
        if self.paused_at is not None:
            gone = self.now - self.paused_at  # host time the guest did not see
            self.clock_offset += gone
            if self.wake_at is not None and self.wake_at < NEVER:
                self.wake_at += gone
        self.paused_at = None
        self.state = "running"

    @property
    def now(self) -> int:
        """The host cycle this VM has reached: the host clock, or later where its last slice ran.

        With several host CPUs, a slice can end on a CPU ahead of the host clock (the
        earliest CPU's); the VM's time is then that CPU's, and it does not run again before.
        """
        return max(self.hv.clock, self.left_cpu_at)

    @property
    def guest_clock(self) -> int:
        """The guest's time (its cycle counter) now: host clock minus the time it was not on."""
        if self.state == "created":
            return int(self.cpu.st[ST_GCSR + CSR_CYCLE])
        now = self.paused_at if self.state == "paused" and self.paused_at is not None else None
        return (self.now if now is None else now) - self.clock_offset

    @held
    def stop(self) -> None:
        """Power off (its state is kept for inspection). Legal when: created, running, paused."""
        self._require("stop", "created", "running", "paused")
        self.state = "stopped"
        self.stop_reason = "stopped"
        self.message = "stopped by the user"

    @held
    def reset(self) -> None:
        """Back to power-on: image reloaded, registers and devices reset. Legal unless deleted."""
        self._require("reset", "created", "running", "paused", "stopped")
        self._power_on()
        self.state = "created"

    @held
    def delete(self) -> None:
        """Remove the VM and return its memory to the host. Legal when: created, stopped."""
        self._require("delete", "created", "stopped")
        self.hv._forget(self)
        self.hv.memory.release(self.frames)
        self.p2m = np.zeros(0, dtype=np.int64)
        self.state = "deleted"

    def _power_on(self, keep_output: bool = False) -> None:
        """Zeroed RAM (a frame of its own per page), the image loaded, CPU and devices reset.

        ``keep_output``: the console keeps what the guest printed (a reboot the guest asked
        for, as on bare metal: a panic message printed just before it must not vanish).

        Raises HostMemoryError before changing anything if pages it shares with a linked clone
        need frames of their own and the host has too few.
        """
        from .snapshot import make_private

        hv = self.hv
        make_private(self, f"powering on VM {self.name!r} (frames for the pages it shares)")
        if keep_output:
            self.console.drain()  # (what the guest wrote last is still in the device's buffer)
        hv.memory.scrub(self.frames)  # (in one go: a guest may reboot itself again and again)
        for seg in self.image.segments:
            if seg.addr + len(seg.data) > self.memory_size:
                raise ValueError(
                    f"image segment at {seg.addr:#010x} ({len(seg.data)} bytes) does not fit "
                    f"in the {format_size(self.memory_size)} of RAM of VM {self.name!r}"
                )
            self.write_guest(seg.addr, seg.data)
        hv.memory.dirty[self.frames] = 1  # all of memory was rewritten (snapshots, migration)
        self.cpu.reset(self.memory_size, self.strict)
        st = self.cpu.st
        st[ST_VMCTL] = self.vmctl
        st[ST_CSR + CSR_STATUS] = REAL_STATUS_WHILE_GUEST_RUNS
        st[ST_PC] = self.image.entry
        self.cpu.regs[SP] = self.memory_size
        if not keep_output:
            self.console.clear()
        self.stop_reason = None
        self.exit_code = None
        self.message = ""
        self.wake_at = None

    # ---- guest memory --------------------------------------------------------------------
    def _host_addr(self, gpa: int) -> int:
        return int(self.p2m[gpa // PAGE_SIZE] >> P2M_SHIFT) * PAGE_SIZE + gpa % PAGE_SIZE

    def in_guest_ram(self, gpa: int, n: int) -> bool:
        """Whether the ``n`` bytes from guest-physical ``gpa`` are all inside guest RAM."""
        return n >= 0 and gpa >= 0 and gpa + n <= self.memory_size

    def read_guest(self, gpa: int, n: int) -> bytes | None:
        """``n`` bytes of guest-physical memory, or None if the range is outside guest RAM."""
        if not self.in_guest_ram(gpa, n):
            return None
        raw = self.hv.memory.mem.view(np.uint8)
        out = bytearray()
        while n > 0:
            chunk = min(n, PAGE_SIZE - gpa % PAGE_SIZE)
            ha = self._host_addr(gpa)
            out += raw[ha : ha + chunk].tobytes()
            gpa += chunk
            n -= chunk
        return bytes(out)

    def read_host_unchecked(self, gpa: int, n: int) -> bytes | None:
        """UNSAFE: bytes at "this VM's first frame + gpa" in host memory, not limited to the VM.

        This is the planted bug behind ``Hypervisor(UNSAFE_unchecked_hypercall_buffers=True)``:
        it assumes guest memory is one contiguous run of host frames and never checks ``gpa``
        against the VM's size, so a large ``gpa`` reads whatever lies beyond (other VMs' RAM).
        """
        start = int(self.p2m[0] >> P2M_SHIFT) * PAGE_SIZE + gpa
        n = max(0, min(n, 1 << 16))
        if gpa < 0 or start + n > self.hv.memory.size:
            return None
        return self.hv.memory.mem.view(np.uint8)[start : start + n].tobytes()

    @held
    def write_guest(self, gpa: int, data: bytes) -> None:
        """Write guest-physical memory from the host side (copy-on-write pages are copied)."""
        if gpa < 0 or gpa + len(data) > self.memory_size:
            raise IndexError(
                f"guest-physical range {gpa:#x}+{len(data)} is outside VM {self.name!r}'s RAM"
            )
        raw = self.hv.memory.mem.view(np.uint8)
        pos = 0
        while pos < len(data):
            chunk = min(len(data) - pos, PAGE_SIZE - gpa % PAGE_SIZE)
            gfn = gpa // PAGE_SIZE
            if not self.p2m[gfn] & P2M_W:
                self._copy_on_write(gfn)
            ha = self._host_addr(gpa)
            raw[ha : ha + chunk] = np.frombuffer(data[pos : pos + chunk], np.uint8)
            self.hv.memory.dcache[ha // 4 : (ha + chunk + 3) // 4] = 0
            self.hv.memory.dirty[ha // PAGE_SIZE] = 1
            gpa += chunk
            pos += chunk

    def read_guest_word_at_pc(self, pc: int) -> int:
        """The instruction word at the guest's pc (0 if it cannot be read)."""
        try:
            gpa = self.guest_physical(pc)
        except ValueError:
            return 0
        data = self.read_guest(gpa & ~3, 4)
        return int.from_bytes(data, "little") if data else 0

    def guest_physical(self, va: int) -> int:
        """Guest-physical address of guest-virtual ``va`` under the guest's page tables."""
        st = self.cpu.st
        if not st[ST_GCSR + CSR_STATUS] & ST_PG:
            return va
        from ..isa.arch import CSR_PTBR, PTE_R, PTE_V, PTE_W, PTE_X

        def word(gpa: int) -> int:
            data = self.read_guest(gpa, 4)
            if data is None:
                raise ValueError(f"page table at {gpa:#x} is outside guest RAM")
            return int.from_bytes(data, "little")

        pte = word((int(st[ST_GCSR + CSR_PTBR]) & 0xFFFFF000) + ((va >> 22) << 2))
        if not pte & PTE_V:
            raise ValueError(f"guest-virtual {va:#010x} is not mapped")
        if pte & (PTE_R | PTE_W | PTE_X):
            return (pte & 0xFFC00000) | (va & 0x3FFFFF)
        pte = word((pte & 0xFFFFF000) + (((va >> 12) & 0x3FF) << 2))
        if not pte & PTE_V:
            raise ValueError(f"guest-virtual {va:#010x} is not mapped")
        return (pte & 0xFFFFF000) | (va & 0xFFF)

    def _copy_on_write(self, gfn: int) -> None:
        """Give guest page ``gfn`` a private writable frame (copying it if it is shared)."""
        mem = self.hv.memory
        frame = int(self.p2m[gfn] >> P2M_SHIFT)
        if mem.refs[frame] > 1:
            (new,) = mem.alloc(1, f"copy-on-write for VM {self.name!r}").tolist()
            mem.copy_frame(frame, new)
            mem.release(np.array([frame]))
            frame = new
        self.p2m[gfn] = (frame << P2M_SHIFT) | P2M_V | P2M_W
        self.cpu.flush_tlb()

    @held
    def feed(self, data: str | bytes) -> None:
        """Type ``data`` into the VM's console (the guest reads it from its RX register).

        Legal in every state but deleted. A running guest waiting in ``wfi`` for nothing but input
        becomes runnable again; ValueError (nothing queued) if the input queue has no room.
        """
        self._require("feed", "created", "running", "paused", "stopped")
        self.console.feed(data)
        if self.wake_at is not None and self.wake_at >= NEVER:
            self.wake_at = None  # it waited for input: look again

    def console_write(self, data: bytes) -> None:
        """Append bytes to the console output (a paravirtual console write)."""
        self.console.write(data)

    # ---- running -------------------------------------------------------------------------
    @property
    def runnable(self) -> bool:
        """Running and not waiting for an interrupt."""
        return self.state == "running" and (self.wake_at is None or self.wake_at <= self.now)

    def _idle(self) -> None:
        """The guest waits for an interrupt: sleep until its timer, or until input arrives."""
        st = self.cpu.st
        now = int(st[ST_GCSR + CSR_CYCLE])
        if cpu.pending_irqs(st, ST_GCSR, now) & int(st[ST_GCSR + CSR_IE]):
            self.wake_at = None
            return
        if exits.timer_armed(st):
            deadline = int(st[ST_GCSR + CSR_TIMECMP])
            wake = self.clock_offset + max(deadline, now)
            # (a guest may arm its timer for cycle 2**62: idling the host clock up to there
            # would leave no room for any later time; such a wake-up is as good as never)
            self.wake_at = wake if wake < HORIZON else NEVER
        else:
            self.wake_at = NEVER

    def _guest_stopped(self, reason: str, code: int | None) -> None:
        self.state = "stopped"
        self.stop_reason = reason
        self.exit_code = code
        self.message = f"the guest stopped ({reason}" + (
            f", exit code {code})" if code is not None else ")"
        )

    def _guest_reboot(self) -> int:
        """Power the VM on again from inside a slice; returns what zeroing its RAM costs.

        A host without the frames the reboot needs (for pages shared with a linked clone)
        stops the VM with a message saying so; nothing else changes.
        """
        now = self.clock_offset + int(self.cpu.st[ST_GCSR + CSR_CYCLE])  # host time, mid-slice
        try:
            self._power_on(keep_output=True)  # the guest's cycle counter starts again at 0 ...
        except HostMemoryError as exc:
            self._crash(f"the guest asked for a reboot, and {exc}")
            return 0
        self.state = "running"
        self.clock_offset = now  # ... from now (slices measure host time through the offset)
        return self.memory_size // PAGE_SIZE * self.hv.costs.power_on_page

    def _pause_for_memory(self, problem: str) -> None:
        """Pause from inside a slice: the host has no frame for a page the guest writes.

        Only this VM waits; resuming it (once memory is free) retries the write. Its time
        stands still from the end of the exit (``_exit_in_python`` sets ``paused_at``).
        """
        self.state = "paused"
        self.paused_at = None
        self.message = (
            f"VM {self.name!r} paused: {problem}; free host memory (stop and delete a VM) "
            "and resume it"
        )

    def _crash(self, message: str) -> None:
        self.state = "stopped"
        self.stop_reason = "fault"
        self.message = f"VM {self.name!r} stopped: {message}"

    def run_slice(self, max_cycles: int) -> int:
        """Run this VM's vCPU for up to ``max_cycles`` host cycles; returns the cycles used."""
        if self.disk is not None:
            try:
                self.disk.check()  # (a disk file truncated under the VM would crash the core)
            except DiskFileError as exc:
                raise DiskFileError(f"VM {self.name!r} ({self.state}): {exc}") from None
        if self.exits_path == "jit":
            from .fastpath import run_slice_jit

            return run_slice_jit(self, max_cycles)
        return self._run_slice_python(max_cycles)

    def _run_slice_python(self, max_cycles: int) -> int:
        hv = self.hv
        st = self.cpu.st
        st[ST_GCSR + CSR_CYCLE] = hv.clock - self.clock_offset
        used = 0
        self.stats.slices += 1
        t_slice = time.perf_counter()
        stuck = 0
        try:
            while used < max_cycles and self.runnable:
                start_cyc = int(st[ST_GCSR + CSR_CYCLE])
                start_ins = int(st[ST_GCSR + CSR_INSTRET])
                try:
                    reason = int(
                        cpu.run(
                            self.cpu.regs,
                            st,
                            hv.memory.mem,
                            hv.memory.dcache,
                            self.p2m,
                            hv.memory.dirty,
                            self.console.out_buffer,
                            self.console.in_buffer,
                            self.disk_data(),
                            1 << 62,
                            max_cycles - used,
                        )
                    )
                finally:  # a Ctrl-C during the run lands here, as the core returns: count it
                    self.stats.instructions += int(st[ST_GCSR + CSR_INSTRET]) - start_ins
                    self.stats.guest_cycles += int(st[ST_GCSR + CSR_CYCLE]) - start_cyc
                if reason == EXIT_BUDGET:
                    break
                self._exit_in_python(reason)
                used = self._slice_used()
                stuck = self._check_progress(stuck, start_cyc)
        finally:
            self.console.drain()
            self.stats.host_seconds += time.perf_counter() - t_slice
        return self._slice_used()

    def _check_progress(self, stuck: int, start_cyc: int) -> int:
        """Count exits in a row that took no time; stop the VM once there are STUCK_EXITS.

        Possible only with a cost model that charges 0 for an exit (a guest reflecting a
        fault to a vector that faults again: a faulting fetch costs nothing itself): time
        would stand still, so the slice would never end and hv.run never return.
        """
        if int(self.cpu.st[ST_GCSR + CSR_CYCLE]) != start_cyc:
            return 0
        stuck += 1
        if stuck >= STUCK_EXITS:
            self._crash(
                f"no progress: {stuck:,} exits in a row at pc {self.pc:#010x} took no time "
                "(the cost model charges 0 cycles for them)"
            )
        return stuck

    def _slice_used(self) -> int:
        """Host cycles the current slice has used so far.

        The guest clock is the host clock: it has advanced by everything the slice cost,
        including instructions the handlers executed for the guest.
        """
        return self.clock_offset + int(self.cpu.st[ST_GCSR + CSR_CYCLE]) - self.hv.clock

    def _exit_in_python(self, reason: int) -> None:
        """Handle one exit with its Python handler and charge it (both exit paths use this)."""
        t0 = time.perf_counter()
        cost = self._handle_exit(reason)
        if cost:
            cost += self.hv.costs.userspace
        self.cpu.st[ST_GCSR + CSR_CYCLE] += cost
        self.stats.hypervisor_cycles += cost
        self._account(reason, cost, time.perf_counter() - t0)
        if self.state == "paused" and self.paused_at is None:  # paused by the handler
            self.paused_at = self.clock_offset + int(self.cpu.st[ST_GCSR + CSR_CYCLE])

    def _account(self, reason: int, cycles: int, seconds: float) -> None:
        name = EXIT_NAMES.get(reason, str(reason))
        stat = self.stats.exits.get(name)
        if stat is None:
            stat = self.stats.exits[name] = ExitStat()
        stat.count += 1
        stat.cycles += cycles
        stat.host_seconds += seconds

    def _handle_exit(self, reason: int) -> int:
        """Dispatch one exit to its Python handler; returns its modelled cost in cycles."""
        st = self.cpu.st
        if reason == EXIT_CONSOLE:
            self.console.drain()
            return 0
        if reason == EXIT_PRIV:
            return exits.handle_priv(self)
        if reason == EXIT_GUEST_TRAP:
            return exits.handle_guest_trap(self)
        if reason == EXIT_HCALL:
            return exits.handle_hcall(self)
        if reason == EXIT_MMIO:
            return exits.handle_mmio(self)
        if reason == EXIT_NPF:
            return exits.handle_npf(self)
        if reason == EXIT_IDLE:
            return exits.handle_idle(self)
        if reason == EXIT_TRANSLATE:
            translate_page(self.hv.memory.mem, self.hv.memory.dcache, st, int(st[ST_EXIT + 2]))
            self.stats.translated_pages += 1
            return self.hv.costs.translate_page
        if reason == EXIT_BT:
            return exits.handle_bt(self)
        if reason == EXIT_HALT:
            self._guest_stopped("halt", int(st[ST_EXIT + 2]))
            return self.hv.costs.vmexit
        if reason == EXIT_POWEROFF:
            self._guest_stopped("poweroff", int(st[ST_EXIT + 2]))
            return self.hv.costs.vmexit
        if reason == EXIT_REBOOT:
            return self.hv.costs.vmexit + self._guest_reboot()
        if reason == EXIT_FAULT:
            cause, tval = int(st[ST_EXIT + 2]), int(st[ST_EXIT + 3])
            self._crash(exits.no_vector_message(cause, tval, int(st[ST_PC])))
            return self.hv.costs.vmexit
        if reason == EXIT_BREAKPOINT:
            return 0
        raise AssertionError(f"unknown exit reason {reason}")

    @held
    def set_resources(
        self,
        *,
        shares: int | None = None,
        reservation: float | None = None,
        limit: float | _Unset | None = _UNSET,
    ) -> None:
        """Change shares, reservation or limit (``limit=None`` removes it): ``hv.set_resources``."""
        self.hv.set_resources(self, shares=shares, reservation=reservation, limit=limit)

    # ---- encapsulation: snapshots, clones, export (vmlab/hypervisor/snapshot.py, export.py) ---
    @held
    def snapshot(self, name: str, incremental: bool = True) -> Snapshot:
        """Record the VM's whole state as a named snapshot. Legal when: created, paused, stopped."""
        from .snapshot import take_snapshot

        return take_snapshot(self, name, incremental)

    @held
    def restore(self, snap: Snapshot | str) -> None:
        """Return to a snapshot (or its name): same output from there on. Legal unless deleted."""
        from .snapshot import restore_snapshot

        restore_snapshot(self, snap)

    @property
    def snapshots(self) -> list[Snapshot]:
        """This VM's snapshots, in the order they were taken (each knows its parent, children)."""
        from .snapshot import tree

        return list(tree(self).snapshots)

    @property
    def current_snapshot(self) -> Snapshot | None:
        """The snapshot taken or restored last (the parent of the next one), if any."""
        from .snapshot import tree

        return tree(self).current

    @held
    def delete_snapshot(self, snap: Snapshot | str) -> None:
        """Delete a snapshot (or its name); its children keep working. Legal in every state."""
        from .snapshot import delete_snapshot

        delete_snapshot(self, snap)

    @held
    def clone(self, name: str, linked: bool = True) -> VM:
        """A new VM with this one's state; linked clones share memory copy-on-write."""
        from .snapshot import clone_vm

        return clone_vm(self, name, linked)

    @held
    def export(self, path: str | os.PathLike[str]) -> None:
        """Write the VM to one portable file (atomically). Legal when: created, paused, stopped."""
        from .export import export_vm

        export_vm(self, path)

    # ---- accounting (vmlab/hypervisor/metrics.py) ------------------------------------------------
    def metrics(self) -> VMMetrics:
        """A snapshot of this VM's counters: time split, exits, memory, CPU share vs entitlement."""
        return self.hv._vm_metrics(self)

    def overhead(self, baseline: Baseline) -> Overhead:
        """Extra cycles and host time against the same image on bare metal (``metrics.baseline``).

        ValueError if ``baseline`` ran another image (any in paravirtual mode) or memory size.
        """
        from .metrics import vm_overhead

        return vm_overhead(self, baseline)

    def widget(self, autorun: bool = True) -> VMWidget:
        """A Jupyter widget: state, lifecycle buttons, console, live charts (``vmlab.ui``)."""
        from ..ui.vmwidget import VMWidget

        return VMWidget(self, autorun=autorun)

    # ---- inspection ----------------------------------------------------------------------------
    @property
    def regs(self) -> Registers:
        """The vCPU's general registers (r0..r15) by index or ABI name, as ``Machine.regs``.

        Reading is legal in every state. Writing is legal when: created, paused, stopped (not
        while the VM is running, i.e. scheduled by ``hv.run``: pause it first); otherwise
        ``VMStateError``.

        >>> from vmlab import Hypervisor, assemble
        >>> vm = Hypervisor().create_vm("doc", assemble("_start: addi a0, a0, 1\\n halt"))
        >>> vm.regs["a0"] = 41
        >>> vm.start()
        >>> _ = vm.hv.run()
        >>> (vm.regs["a0"], vm.exit_code, vm.csr("status"))
        (42, 42, 1)
        """
        return Registers(self.cpu.regs, self._check_register_write)

    def _check_register_write(self, name: str) -> None:
        if self.state not in ("created", "paused", "stopped"):
            raise VMStateError(
                f"cannot write register {name} of VM {self.name!r}: it is {self.state}; "
                "registers may be written when created or paused or stopped"
            )

    def csr(self, name: str | int, guest: bool = True) -> int:
        """Value of a control/status register by name or number (counters as full 64-bit).

        By default the guest's virtual CSR: the bank the guest kernel reads and writes (what
        ``Machine.csr`` would show had the guest run on bare metal). ``guest=False`` reads the
        real bank, as the hardware holds it while the guest runs. Legal in every state; an
        unknown name or number raises KeyError listing the known names.
        """
        return self.cpu.csr(name, guest=guest)

    @property
    def pc(self) -> int:
        """The vCPU's program counter."""
        return int(self.cpu.st[ST_PC])

    @property
    def guest_cycles(self) -> int:
        """The guest's own cycle counter."""
        return int(self.cpu.st[ST_GCSR + CSR_CYCLE])

    @property
    def memory_used(self) -> int:
        """Bytes of host memory this VM holds privately (shared frames counted by share)."""
        refs = self.hv.memory.refs[self.frames]
        return round(float(np.sum(1.0 / refs)) * PAGE_SIZE)

    def __repr__(self) -> str:
        return (
            f"<VM {self.name!r} {self.mode} {format_size(self.memory_size)} {self.state} "
            f"pc={self.pc:#010x} instructions={self.stats.instructions}>"
        )
