"""The bare-metal VL32 computer: one core, RAM and the devices, with no hypervisor in between.

>>> from vmlab import Machine, assemble
>>> m = Machine(memory="1M")
>>> m.load(assemble("_start: li a0, 7\\n halt"))
>>> m.run().exit_code
7
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ._interrupts import Held, held
from .core import cpu
from .core.layout import (
    DEV_PWR_EXIT_CODE,
    EXIT_BREAKPOINT,
    EXIT_BUDGET,
    EXIT_CONSOLE,
    EXIT_FAULT,
    EXIT_HALT,
    EXIT_IDLE,
    EXIT_NAMES,
    EXIT_POWEROFF,
    EXIT_REBOOT,
    MAX_BREAKPOINTS,
    ST_BP,
    ST_CSR,
    ST_EXIT,
    ST_NBP,
    ST_SKIP_BP,
    STAT_CAUSES,
    STAT_CYCLES,
    STAT_EXITS,
    STAT_IDLE_CYCLES,
    STAT_INSTRUCTIONS,
    STAT_INTERRUPTS,
    STAT_IRQS,
    STAT_MMIO,
    STAT_TLB_MISSES,
    STAT_TRAPS,
    STAT_WALK_REFS,
)
from .core.state import CpuState
from .devices.console import Console
from .devices.disk import NO_DISK, Disk
from .devices.memmap import DEFAULT_RAM
from .image import Image
from .isa.arch import (
    CAUSE_NAMES,
    CSR_CYCLE,
    CSR_INSTRET,
    CSR_PTBR,
    CSR_STATUS,
    PAGE_SIZE,
    PTE_R,
    PTE_V,
    PTE_W,
    PTE_X,
    REG_ALIASES,
    REG_NAMES,
    SP,
    ST_PG,
)
from .units import format_size, parse_size

if TYPE_CHECKING:
    from .ui.debugger import Debugger

SLICE = 20_000_000  # instructions per call into the core when no budget is given (Ctrl-C works)
UNLIMITED = 1 << 62
MIN_RAM = 64 * 1024
MAX_RAM = 1 << 30


class MachineError(Exception):
    """A machine was asked to do something its current state does not allow."""


@dataclass
class RunResult:
    """Why a run stopped, and what it did."""

    reason: str  # "halt", "poweroff", "reboot", "fault", "idle", "breakpoint", "budget"
    instructions: int  # retired during this run
    cycles: int  # modelled cycles during this run
    pc: int
    exit_code: int | None = None  # halt / poweroff
    cause: int | None = None  # fault: the trap cause
    tval: int | None = None  # fault: the trap value
    message: str = ""
    host_seconds: float = 0.0  # wall-clock time the host spent (measured, not modelled)

    @property
    def stopped(self) -> bool:
        """True when the machine cannot continue without a reset."""
        return self.reason in ("halt", "poweroff", "fault")

    def __str__(self) -> str:
        """One line: reason, counts and the message."""
        text = f"{self.reason}: {self.instructions} instructions, {self.cycles} cycles"
        if self.exit_code is not None:
            text += f", exit code {self.exit_code}"
        return f"{text} ({self.message})" if self.message else text


class Registers:
    """The 16 general registers by index (``regs[4]``) or ABI name (``regs["a0"]``); r0 stays 0.

    Names are ABI names (``a0``, ``sp``, ``fp`` for ``s0``) or ``r0``..``r15``, in any case; an
    unknown name raises KeyError, an index outside 0..15 IndexError. Values are unsigned 32-bit
    (``signed`` gives the signed view); a write keeps the low 32 bits and a write to r0 is dropped.
    ``check_write``, if given, is called with the register's name before every write and may
    refuse it by raising (a ``VM``'s registers are writable only while its vCPU is not scheduled).

    >>> regs = Registers(np.zeros(17, dtype=np.int64))
    >>> regs["a0"] = -1
    >>> (regs["r4"], regs.signed("a0"), regs["zero"])
    (4294967295, -1, 0)
    """

    def __init__(self, arr: np.ndarray, check_write: Callable[[str], None] | None = None) -> None:
        self._arr = arr
        self._check_write = check_write

    def _index(self, key: int | str) -> int:
        if isinstance(key, str):
            if key.lower() not in REG_ALIASES:
                raise KeyError(f"no register {key!r}; use r0..r15 or {', '.join(REG_NAMES)}")
            return REG_ALIASES[key.lower()]
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"a register is a name or an index 0..15, not {key!r}")
        if not 0 <= key < 16:
            raise IndexError(f"register index {key} out of range 0..15")
        return int(key)

    def __getitem__(self, key: int | str) -> int:
        """Unsigned 32-bit value of a register."""
        i = self._index(key)
        return 0 if i == 0 else int(self._arr[i])

    def __setitem__(self, key: int | str, value: int) -> None:
        i = self._index(key)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"register {REG_NAMES[i]} takes an int, not {value!r}")
        if self._check_write is not None:
            self._check_write(REG_NAMES[i])
        if i != 0:
            self._arr[i] = int(value) & 0xFFFFFFFF

    def __len__(self) -> int:
        return 16

    def __iter__(self) -> Iterator[int]:
        return (self[i] for i in range(16))

    def signed(self, key: int | str) -> int:
        """Signed 32-bit value of a register."""
        v = self[key]
        return v - (1 << 32) if v & 0x80000000 else v

    def as_dict(self) -> dict[str, int]:
        """ABI name -> value."""
        return {name: self[i] for i, name in enumerate(REG_NAMES)}

    def __repr__(self) -> str:
        cells = [f"{name:>4}={self[i]:08x}" for i, name in enumerate(REG_NAMES)]
        return "\n".join("  ".join(cells[i : i + 4]) for i in range(0, 16, 4))


@dataclass
class MachineStats:
    """Counters since the machine was created (host-side; the guest cannot see them)."""

    instructions: int
    cycles: int
    idle_cycles: int
    tlb_misses: int
    walk_refs: int  # memory references made by page walks (WALK_REF_CYCLES each)
    traps: int
    interrupts: int
    device_accesses: int
    exits: dict[str, int] = field(default_factory=dict)
    traps_by_cause: dict[str, int] = field(default_factory=dict)
    interrupts_by_line: dict[str, int] = field(default_factory=dict)


class Machine:
    """A bare-metal VL32 computer: ``load`` an image, ``run`` it, inspect registers and memory.

    Parameters
    ----------
    memory : RAM size, e.g. "4M" (64 KiB .. 1 GiB, a multiple of 4 KiB).
    strict : with False, ``csrr status`` does not trap in user mode (not virtualizable).
    disk : an optional ``vmlab.devices.disk.Disk`` attached as the block device.
    """

    def __init__(
        self, memory: int | str = DEFAULT_RAM, strict: bool = True, disk: Disk | None = None
    ) -> None:
        size = parse_size(memory, "memory")
        if size % PAGE_SIZE or not MIN_RAM <= size <= MAX_RAM:
            raise ValueError(
                f"memory {memory!r} must be a multiple of 4K between "
                f"{format_size(MIN_RAM)} and {format_size(MAX_RAM)}"
            )
        self.memory_size = size
        self.strict = bool(strict)
        self.cpu = CpuState()
        self.mem = np.zeros(size // 4, dtype=np.uint32)
        self.dcache = np.zeros(size // 4, dtype=np.int64)
        self.dirty = np.zeros(size // PAGE_SIZE, dtype=np.uint8)
        self.p2m = np.zeros(0, dtype=np.int64)  # no second stage on bare metal
        self.console = Console(self.cpu.st)
        self.disk = disk
        self.image: Image | None = None
        self._stopped: RunResult | None = None
        self._breakpoints: dict[int, str] = {}
        self._breakpoint_stop: int | None = None  # pc of the breakpoint the last run stopped at
        self.cpu.reset(size, self.strict)

    # ---- loading and resetting ---------------------------------------------------------
    @held
    def load(self, image: Image) -> None:
        """Clear RAM, copy the image's segments in, set pc to its entry and sp to the top of RAM."""
        if not isinstance(image, Image):
            raise TypeError(
                "load() takes a vmlab Image (vmlab.images.load(name), vmlab.assemble(source) "
                f"or vmlab.Image.load(path)), not {type(image).__name__}"
            )
        for seg in image.segments:
            if seg.addr < 0 or seg.addr + len(seg.data) > self.memory_size:
                raise ValueError(
                    f"image segment at {seg.addr:#010x} ({len(seg.data)} bytes) does not fit "
                    f"in {format_size(self.memory_size)} of RAM"
                )
        self.image = image
        self.reset()

    @held
    def reset(self) -> None:
        """Power-cycle: CPU and devices to their reset state, RAM reloaded from the image."""
        self.cpu.reset(self.memory_size, self.strict)
        self.mem[:] = 0
        self.dcache[:] = 0
        self.dirty[:] = 0
        if self.image is not None:
            raw = self.mem.view(np.uint8)
            for seg in self.image.segments:
                raw[seg.addr : seg.addr + len(seg.data)] = np.frombuffer(seg.data, np.uint8)
            self.cpu.pc = self.image.entry
        self.cpu.regs[SP] = self.memory_size
        self._stopped = None
        self._breakpoint_stop = None
        self._sync_breakpoints()

    # ---- running -----------------------------------------------------------------------
    def run(self, max_instructions: int | None = None, max_cycles: int | None = None) -> RunResult:
        """Run until the guest stops, a breakpoint, or a budget (``None`` = no limit) runs out.

        Legal once an image is loaded, unless the machine has stopped (halt, power off, fault):
        then ``reset()`` first. Ctrl-C stops the run within a tenth of a second or so, between
        two calls into the core, and raises KeyboardInterrupt: running on continues exactly.
        """
        if self.image is None:
            raise MachineError("no program is loaded: call load(image) before run() or step()")
        if self._stopped is not None:
            raise MachineError(
                f"machine is stopped ({self._stopped.reason}: {self._stopped.message}); "
                "call reset() or load() before running it again"
            )
        for name, value in (("max_instructions", max_instructions), ("max_cycles", max_cycles)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, not {value}")
        budget = UNLIMITED if max_instructions is None else int(max_instructions)
        cycle_budget = UNLIMITED if max_cycles is None else int(max_cycles)
        st = self.cpu.st
        start_instr = int(st[ST_CSR + CSR_INSTRET])
        start_cyc = int(st[ST_CSR + CSR_CYCLE])
        t0 = time.perf_counter()
        reason = EXIT_BUDGET
        # continuing from the breakpoint the last run stopped at steps over it; any other
        # breakpoint under the pc (one just set, or at the entry point) stops the run at once
        with Held() as ctrl_c:  # Ctrl-C: the run stops between calls, then it is raised
            if budget > 0:
                if self._breakpoint_stop == self.cpu.pc and self._at_breakpoint():
                    reason = self._step_over_breakpoint(cycle_budget)
                self._breakpoint_stop = None
            while reason == EXIT_BUDGET or reason == EXIT_CONSOLE:
                done = int(st[ST_CSR + CSR_INSTRET]) - start_instr
                spent = int(st[ST_CSR + CSR_CYCLE]) - start_cyc
                if done >= budget or spent >= cycle_budget or ctrl_c.stop_requested:
                    reason = EXIT_BUDGET
                    break
                # at most SLICE instructions per call, so that Ctrl-C is noticed between calls
                reason = self._enter(min(budget - done, SLICE), cycle_budget - spent)
                self.console.drain()
            return self._result(reason, start_instr, start_cyc, time.perf_counter() - t0)

    def step(self, count: int = 1) -> RunResult:
        """Execute ``count`` instructions (stopping early at a breakpoint or a stop)."""
        return self.run(max_instructions=count)

    def _enter(self, max_instructions: int, max_cycles: int) -> int:
        """One call into the jitted core."""
        disk = self.disk.data if self.disk is not None else NO_DISK
        return int(
            cpu.run(
                self.cpu.regs,
                self.cpu.st,
                self.mem,
                self.dcache,
                self.p2m,
                self.dirty,
                self.console.out_buffer,
                self.console.in_buffer,
                disk,
                max_instructions,
                max_cycles,
            )
        )

    def _at_breakpoint(self) -> bool:
        if not self._breakpoints:
            return False
        try:
            return self.translate(self.cpu.pc) in self._breakpoints
        except (ValueError, IndexError):
            return False

    def _step_over_breakpoint(self, cycle_budget: int) -> int:
        """Execute the instruction under a breakpoint once, then re-arm the breakpoint."""
        pa = self.translate(self.cpu.pc)
        st = self.cpu.st
        st[ST_SKIP_BP] = pa
        self.dcache[pa >> 2] = 0
        try:
            reason = self._enter(1, cycle_budget)
        finally:
            st[ST_SKIP_BP] = -1
            self.dcache[pa >> 2] = 0
        self.console.drain()
        return reason

    def _result(self, reason: int, start_instr: int, start_cyc: int, seconds: float) -> RunResult:
        st = self.cpu.st
        pc = self.cpu.pc
        res = RunResult(
            reason=EXIT_NAMES[reason],
            instructions=int(st[ST_CSR + CSR_INSTRET]) - start_instr,
            cycles=int(st[ST_CSR + CSR_CYCLE]) - start_cyc,
            pc=pc,
            host_seconds=seconds,
        )
        where = self.describe_address(pc)
        if reason == EXIT_HALT:
            res.exit_code = int(st[ST_EXIT + 2])
            res.message = f"halt at {where}"
        elif reason == EXIT_POWEROFF:
            res.exit_code = int(st[DEV_PWR_EXIT_CODE])
            res.message = "powered off"
        elif reason == EXIT_REBOOT:
            res.message = "the guest asked for a reboot; the machine was reset"
            self.reset()
            return res
        elif reason == EXIT_FAULT:
            res.cause = int(st[ST_EXIT + 2])
            res.tval = int(st[ST_EXIT + 3])
            name = CAUSE_NAMES.get(res.cause, f"cause {res.cause:#x}")
            res.message = (
                f"unhandled trap ({name}, tval {res.tval:#010x}) at {where}: "
                "no trap vector is set (tvec = 0)"
            )
        elif reason == EXIT_IDLE:
            res.message = f"wfi at {where} with nothing that can wake it (waiting for input?)"
        elif reason == EXIT_BREAKPOINT:
            res.message = f"breakpoint at {where}"
            self._breakpoint_stop = pc
        if res.stopped:
            self._stopped = res
        return res

    # ---- breakpoints -------------------------------------------------------------------
    @held
    def add_breakpoint(self, where: int | str) -> int:
        """Stop before executing the instruction at an address or symbol; returns the address.

        The address is physical (the same as virtual while paging is off or identity-mapped).
        A breakpoint under the current pc stops the next run at once; continuing after a stop at
        a breakpoint executes its instruction first.
        """
        addr = self._resolve(where)
        if addr & 3:
            raise ValueError(f"breakpoint address {addr:#x} is not 4-byte aligned")
        if addr not in self._breakpoints and len(self._breakpoints) >= MAX_BREAKPOINTS:
            raise ValueError(f"at most {MAX_BREAKPOINTS} breakpoints can be set")
        self._breakpoints[addr] = str(where)
        self._sync_breakpoints()
        return addr

    @held
    def remove_breakpoint(self, where: int | str) -> None:
        """Remove a breakpoint set by ``add_breakpoint``."""
        addr = self._resolve(where)
        if addr not in self._breakpoints:
            raise KeyError(f"no breakpoint at {addr:#010x}")
        del self._breakpoints[addr]
        self._sync_breakpoints()

    @held
    def clear_breakpoints(self) -> None:
        """Remove every breakpoint."""
        self._breakpoints.clear()
        self._sync_breakpoints()

    @property
    def breakpoints(self) -> list[int]:
        """Addresses with a breakpoint."""
        return sorted(self._breakpoints)

    def _sync_breakpoints(self) -> None:
        st = self.cpu.st
        bps = sorted(self._breakpoints)
        st[ST_NBP] = len(bps)
        st[ST_BP : ST_BP + len(bps)] = bps
        self.dcache[:] = 0  # entries re-decode and pick up (or drop) the markers

    def _resolve(self, where: int | str) -> int:
        if isinstance(where, str):
            if self.image is None:
                raise ValueError(f"no image is loaded, so symbol {where!r} is unknown")
            return self.image.symbol(where)
        return int(where)

    # ---- inspection ----------------------------------------------------------------------
    @property
    def regs(self) -> Registers:
        """General registers (r0..r15) by index or ABI name."""
        return Registers(self.cpu.regs)

    @property
    def pc(self) -> int:
        """The program counter."""
        return self.cpu.pc

    @pc.setter
    def pc(self, value: int) -> None:
        self.cpu.pc = value

    def csr(self, name: str | int) -> int:
        """Value of a control/status register by name or number (counters as full 64-bit)."""
        return self.cpu.csr(name)

    @property
    def instructions(self) -> int:
        """Instructions retired since reset."""
        return self.cpu.csr(CSR_INSTRET)

    @property
    def cycles(self) -> int:
        """Modelled cycles since reset."""
        return self.cpu.csr(CSR_CYCLE)

    @property
    def state(self) -> str:
        """ "ready" or the reason the machine stopped ("halt", "poweroff", "fault")."""
        return "ready" if self._stopped is None else self._stopped.reason

    def _check_range(self, addr: int, n: int) -> None:
        if n < 0 or addr < 0 or addr + n > self.memory_size:
            raise IndexError(
                f"physical range {addr:#x}..{addr + n:#x} is outside RAM (0..{self.memory_size:#x})"
            )

    def read(self, addr: int, n: int) -> bytes:
        """``n`` bytes of physical memory at ``addr``."""
        self._check_range(addr, n)
        return self.mem.view(np.uint8)[addr : addr + n].tobytes()

    @held
    def write(self, addr: int, data: bytes) -> None:
        """Write bytes into physical memory (the decode cache forgets those words)."""
        self._check_range(addr, len(data))
        self.mem.view(np.uint8)[addr : addr + len(data)] = np.frombuffer(bytes(data), np.uint8)
        self.dcache[addr >> 2 : (addr + len(data) + 3) >> 2] = 0

    def read_word(self, addr: int) -> int:
        """The 32-bit word at a 4-aligned physical address."""
        if addr & 3:
            raise ValueError(f"address {addr:#x} is not 4-byte aligned")
        self._check_range(addr, 4)
        return int(self.mem[addr >> 2])

    def write_word(self, addr: int, value: int) -> None:
        """Store a 32-bit word at a 4-aligned physical address."""
        self.write(addr, (int(value) & 0xFFFFFFFF).to_bytes(4, "little"))

    def translate(self, va: int) -> int:
        """Physical address of virtual ``va`` under the current page tables (no side effects)."""
        st = self.cpu.st
        if not st[ST_CSR + CSR_STATUS] & ST_PG:
            return va
        l1 = (int(st[ST_CSR + CSR_PTBR]) & 0xFFFFF000) + ((va >> 22) << 2)
        pte = self.read_word(l1)
        if not pte & PTE_V:
            raise ValueError(f"virtual address {va:#010x} is not mapped (level-1 entry invalid)")
        if pte & (PTE_R | PTE_W | PTE_X):
            return (pte & 0xFFC00000) | (va & 0x3FFFFF)
        pte = self.read_word((pte & 0xFFFFF000) + (((va >> 12) & 0x3FF) << 2))
        if not pte & PTE_V:
            raise ValueError(f"virtual address {va:#010x} is not mapped (level-2 entry invalid)")
        return (pte & 0xFFFFF000) | (va & 0xFFF)

    def describe_address(self, addr: int) -> str:
        """``0x00001008 (main+8, prog.s:12)`` using the loaded image's symbols and source map."""
        text = f"{addr:#010x}"
        if self.image is None:
            return text
        extra = []
        best = None
        for name, value in self.image.labels.items():
            if value <= addr and (best is None or value > best[1]):
                best = (name, value)
        if best is not None and addr - best[1] < 0x10000:
            extra.append(best[0] if addr == best[1] else f"{best[0]}+{addr - best[1]}")
        loc = self.image.source_map.get(addr)
        if loc is not None:
            from .images import shown_path  # (vmlab's own images show as images/...)

            extra.append(f"{shown_path(loc[0])}:{loc[1]}")
        return f"{text} ({', '.join(extra)})" if extra else text

    @property
    def stats(self) -> MachineStats:
        """Host-side counters: instructions, cycles, idle cycles, TLB misses, traps, exits."""
        st = self.cpu.st
        exits = {EXIT_NAMES[i]: int(st[STAT_EXITS + i]) for i in EXIT_NAMES if st[STAT_EXITS + i]}
        causes = {
            CAUSE_NAMES[c]: int(st[STAT_CAUSES + c])
            for c in CAUSE_NAMES
            if c < 16 and st[STAT_CAUSES + c]
        }
        lines = {
            CAUSE_NAMES[0x80000000 | i]: int(st[STAT_IRQS + i])
            for i in range(3)
            if st[STAT_IRQS + i]
        }
        return MachineStats(
            instructions=int(st[STAT_INSTRUCTIONS]),
            cycles=int(st[STAT_CYCLES]),
            idle_cycles=int(st[STAT_IDLE_CYCLES]),
            tlb_misses=int(st[STAT_TLB_MISSES]),
            walk_refs=int(st[STAT_WALK_REFS]),
            traps=int(st[STAT_TRAPS]),
            interrupts=int(st[STAT_INTERRUPTS]),
            device_accesses=int(st[STAT_MMIO]),
            exits=exits,
            traps_by_cause=causes,
            interrupts_by_line=lines,
        )

    # ---- save / restore ------------------------------------------------------------------
    def save_state(self) -> dict:
        """Everything needed to resume this machine exactly: CPU, RAM, console, disk."""
        return {
            "memory_size": self.memory_size,
            "strict": self.strict,
            "cpu": self.cpu.save(),
            "mem": self.mem.copy(),
            "console": self.console.save(),
            "disk": None if self.disk is None else self.disk.data.copy(),
            "stopped": self._stopped,
            "breakpoint_stop": self._breakpoint_stop,
        }

    @held
    def restore_state(self, state: dict) -> None:
        """Return to a state made by ``save_state`` on a machine of the same memory size."""
        if state["memory_size"] != self.memory_size:
            raise ValueError(
                f"saved state is for {format_size(state['memory_size'])} of RAM, this machine "
                f"has {format_size(self.memory_size)}"
            )
        if (state["disk"] is None) != (self.disk is None) or (
            self.disk is not None and len(state["disk"]) != len(self.disk.data)
        ):
            raise ValueError("saved state's disk does not match this machine's disk")
        self.strict = bool(state["strict"])
        self.cpu.restore(state["cpu"])
        self.mem[:] = state["mem"]
        self.dcache[:] = 0
        self.console.restore(state["console"])
        if self.disk is not None:
            self.disk.data[:] = state["disk"]
        self._stopped = state["stopped"]
        self._breakpoint_stop = state.get("breakpoint_stop")
        self._sync_breakpoints()

    def debugger(self, sources: dict[str, str] | str | None = None) -> Debugger:
        """An interactive debugger widget (Jupyter); ``sources``: program text to show by file."""
        from .ui.debugger import Debugger

        return Debugger(self, sources=sources)

    def __repr__(self) -> str:
        return (
            f"<Machine {format_size(self.memory_size)} strict={self.strict} pc={self.pc:#010x} "
            f"state={self.state} instructions={self.instructions}>"
        )


__all__ = ["Machine", "MachineError", "MachineStats", "Registers", "RunResult"]
