"""The bare-metal VL32 computer: one core, RAM and the devices, with no hypervisor in between.

>>> from vmlab import Machine, assemble
>>> m = Machine(memory="1M")
>>> m.load(assemble("_start: li a0, 7\\n halt"))
>>> m.run().exit_code
7
"""

from __future__ import annotations

import dataclasses
import operator
import reprlib
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
    ST_GCSR,
    ST_NBP,
    ST_PC,
    ST_RAMSIZE,
    ST_SKIP_BP,
    ST_STRICT,
    ST_TLB_DATA,
    ST_TLB_TAG,
    ST_VMCTL,
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
    TLB_IO,
)
from .core.state import CpuState
from .devices.console import MAX_KEPT_OUTPUT, Console
from .devices.disk import NO_DISK, Disk
from .devices.memmap import DEFAULT_RAM
from .devices.timer import NEVER
from .image import Image
from .isa.arch import (
    CAUSE_NAMES,
    CSR_CYCLE,
    CSR_CYCLEH,
    CSR_INSTRET,
    CSR_INSTRETH,
    CSR_NAMES,
    CSR_PTBR,
    CSR_STATUS,
    CSR_TIMECMP,
    CSR_TIMECMPH,
    PAGE_SIZE,
    PTE_R,
    PTE_V,
    PTE_W,
    PTE_X,
    REG_ALIASES,
    REG_NAMES,
    SP,
    ST_PG,
    TLB_ENTRIES,
)
from .units import format_size, parse_size

if TYPE_CHECKING:
    from .ui.debugger import Debugger

SLICE = 20_000_000  # instructions per call into the core when no budget is given (Ctrl-C works)
UNLIMITED = cpu.NO_LIMIT  # a budget the core treats as no limit (larger ones are clamped to it)
MIN_RAM = 64 * 1024
MAX_RAM = 1 << 30
M32 = 0xFFFFFFFF
ADDR_LIMIT = 1 << 32  # one past the last 32-bit address
# CSRs whose values are 32-bit words (the counters and the timer compare are held as 64-bit)
WORD_CSRS = frozenset(CSR_NAMES) - {
    CSR_CYCLE,
    CSR_CYCLEH,
    CSR_INSTRET,
    CSR_INSTRETH,
    CSR_TIMECMP,
    CSR_TIMECMPH,
}
STOP_REASONS = ("halt", "poweroff", "fault")  # the reasons a run leaves the machine stopped
_STATE_KEYS = (
    "memory_size",
    "strict",
    "cpu",
    "mem",
    "console",
    "disk",
    "image",
    "stopped",
    "breakpoint_stop",
)


def _show(value: object) -> str:
    """A short repr of a caller's value for an error message (a 1 MB string stays short)."""
    return reprlib.repr(value)


def _as_int(value: object, what: str) -> int:
    """``value`` as a Python int (numpy integers too); TypeError naming ``what`` otherwise.

    Floats, strings, None and bools are refused: ``operator.index`` accepts only true integers,
    and a bool is refused because ``True`` as an address or a count is always a mistake.
    """
    if not isinstance(value, bool | np.bool_):
        try:
            return operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
    raise TypeError(f"{what} must be an int, not {_show(value)}")


def _word_value(value: object, what: str) -> int:
    """A value to store in a 32-bit register or word: an int, of which the low 32 bits are kept."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{what} takes an int, not {_show(value)}")
    return int(value) & M32


def _address(value: object, what: str) -> int:
    """A 32-bit address (0..2**32-1) given as an int; TypeError/ValueError naming ``what``."""
    addr = _as_int(value, what)
    if not 0 <= addr < ADDR_LIMIT:
        raise ValueError(f"{what} {addr:#x} is outside the 32-bit address space (0..0xffffffff)")
    return addr


def _budget(value: object, what: str) -> int:
    """A run budget: None (no limit) or an int >= 0, clamped to what the core can take."""
    if value is None:
        return UNLIMITED
    n = _as_int(value, what)
    if n < 0:
        raise ValueError(f"{what} must be >= 0, not {n}")
    return min(n, UNLIMITED)


def _bad_state(key: str, why: str, kind: type[Exception] = ValueError) -> Exception:
    """The error for a saved state whose ``key`` (like ``['cpu']['regs']``) is not as saved."""
    return kind(f"saved state{key} {why}")


def _saved_array(key: str, value: object, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` if it is a numpy array of ``dtype`` and ``shape``; else an error naming ``key``."""
    if not isinstance(value, np.ndarray):
        raise _bad_state(key, f"must be a numpy array, not {type(value).__name__}", TypeError)
    if value.dtype != dtype or value.shape != shape:
        raise _bad_state(
            key,
            f"is a {value.dtype} array of shape {value.shape}, expected "
            f"{np.dtype(dtype)} of shape {shape}",
        )
    return value


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
    unknown name raises KeyError, an index outside 0..15 IndexError (``in`` tests the same names
    and indexes, not the values). Values are unsigned 32-bit
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
        word = _word_value(value, f"register {REG_NAMES[i]}")
        if self._check_write is not None:
            self._check_write(REG_NAMES[i])
        if i != 0:
            self._arr[i] = word

    def __len__(self) -> int:
        return 16

    def __contains__(self, key: object) -> bool:
        """True for a register name (any case) or an index 0..15, as ``regs[key]`` accepts."""
        if isinstance(key, str):
            return key.lower() in REG_ALIASES
        if isinstance(key, bool | np.bool_) or not isinstance(key, int | np.integer):
            return False
        return 0 <= key < 16

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
    memory : RAM size, e.g. "4M" or 4194304 (64 KiB .. 1 GiB, a multiple of 4 KiB). The host
        needs about three times as much: RAM plus the core's decode cache (8 bytes per word), so
        "1G" takes some 3 GB (more than a Binder session has).
    strict : with False, ``csrr status`` does not trap in user mode (not virtualizable).
    disk : an optional ``vmlab.Disk`` attached as the block device.
    """

    def __init__(
        self, memory: int | str = DEFAULT_RAM, strict: bool = True, disk: Disk | None = None
    ) -> None:
        size = parse_size(memory, "memory")  # (numpy integers too)
        if size % PAGE_SIZE or not MIN_RAM <= size <= MAX_RAM:
            raise ValueError(
                f"memory {memory!r} must be a multiple of 4K between "
                f"{format_size(MIN_RAM)} and {format_size(MAX_RAM)}"
            )
        if not isinstance(strict, bool):
            raise TypeError(f"strict must be True or False, not {_show(strict)}")
        if disk is not None and not isinstance(disk, Disk):
            raise TypeError(
                "disk must be a vmlab Disk: Disk.memory(size), Disk.from_bytes(data) or "
                f"Disk.file(path), not {type(disk).__name__}"
            )
        self.memory_size = size
        self.strict = strict
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
        self._check_image_fits(image)
        self.image = image
        self.reset()

    def _check_image_fits(self, image: Image) -> None:
        """ValueError unless every segment of ``image`` lies inside this machine's RAM."""
        for seg in image.segments:
            if seg.addr < 0 or seg.addr + len(seg.data) > self.memory_size:
                raise ValueError(
                    f"image segment at {seg.addr:#010x} ({len(seg.data)} bytes) does not fit "
                    f"in {format_size(self.memory_size)} of RAM"
                )

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
        self._set_breakpoints(self._breakpoints)

    # ---- running -----------------------------------------------------------------------
    def run(self, max_instructions: int | None = None, max_cycles: int | None = None) -> RunResult:
        """Run until the guest stops, a breakpoint, or a budget (``None`` = no limit) runs out.

        Budgets are ints >= 0 (a budget beyond what the core counts means no limit).
        Legal once an image is loaded, unless the machine has stopped (halt, power off, fault):
        then ``reset()`` first. Ctrl-C stops the run within a tenth of a second or so, between
        two calls into the core, and raises KeyboardInterrupt: running on continues exactly.
        """
        budget = _budget(max_instructions, "max_instructions")
        cycle_budget = _budget(max_cycles, "max_cycles")
        return self._run(budget, cycle_budget)

    def step(self, count: int = 1) -> RunResult:
        """Execute ``count`` instructions (stopping early at a breakpoint or a stop)."""
        if count is None:  # run(None) means no limit; step(None) would run to the end
            raise TypeError("count must be an int >= 0, not None (use run() to run to the end)")
        return self._run(_budget(count, "count"), UNLIMITED)

    def _run(self, budget: int, cycle_budget: int) -> RunResult:
        """``run`` with checked budgets (ints 0..UNLIMITED)."""
        if self.image is None:
            raise MachineError("no program is loaded: call load(image) before run() or step()")
        if self._stopped is not None:
            raise MachineError(
                f"machine is stopped ({self._stopped.reason}: {self._stopped.message}); "
                "call reset() or load() before running it again"
            )
        if self.disk is not None:
            self.disk.check()  # (a disk file truncated under the machine would crash the core)
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

        ``where`` is a symbol of the loaded image or an int: a 4-aligned physical address in
        RAM (the same as virtual while paging is off or identity-mapped), as breakpoints match
        the physical address of the pc. A breakpoint under the current pc stops the next run at
        once; continuing after a stop at a breakpoint executes its instruction first.
        """
        addr = self._resolve(where)
        new = dict(self._breakpoints)
        new[addr] = str(where)
        self._set_breakpoints(new)
        return addr

    @held
    def remove_breakpoint(self, where: int | str) -> None:
        """Remove a breakpoint set by ``add_breakpoint``."""
        addr = self._resolve(where, check=False)
        if addr not in self._breakpoints:
            shown = f"{addr:#010x}" if addr >= 0 else f"{addr:#x}"
            raise KeyError(f"no breakpoint at {shown}")
        new = dict(self._breakpoints)
        del new[addr]
        self._set_breakpoints(new)

    @held
    def clear_breakpoints(self) -> None:
        """Remove every breakpoint."""
        self._set_breakpoints({})

    @property
    def breakpoints(self) -> list[int]:
        """Addresses with a breakpoint."""
        return sorted(self._breakpoints)

    def _set_breakpoints(self, new: dict[int, str]) -> None:
        """Make ``new`` the breakpoints, in the core and here together (checked before either)."""
        if len(new) > MAX_BREAKPOINTS:
            raise ValueError(f"at most {MAX_BREAKPOINTS} breakpoints can be set")
        for addr in new:
            if addr & 3 or not 0 <= addr < self.memory_size:
                raise ValueError(f"breakpoint address {addr:#x} is not an instruction in RAM")
        bps = np.zeros(MAX_BREAKPOINTS, dtype=np.int64)  # (cannot fail below: all fit in int64)
        bps[: len(new)] = sorted(new)
        st = self.cpu.st
        st[ST_NBP] = len(new)
        st[ST_BP : ST_BP + MAX_BREAKPOINTS] = bps
        self._breakpoints = new
        self.dcache[:] = 0  # entries re-decode and pick up (or drop) the markers

    def _resolve(self, where: int | str, check: bool = True) -> int:
        """The address of a breakpoint given as a symbol or an int; ``check``: one that can be set."""
        if isinstance(where, str):
            if self.image is None:
                raise ValueError(f"no image is loaded, so symbol {where!r} is unknown")
            value: object = self.image.symbol(where)
            name = f"symbol {where!r}"
        else:
            value = where
            name = "breakpoint address"
        try:
            if isinstance(value, bool | np.bool_):
                raise TypeError
            addr = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            if isinstance(where, str):
                raise TypeError(f"{name} has the value {_show(value)}, not an address") from None
            raise TypeError(
                f"a breakpoint is a symbol name or an int address, not {_show(where)}"
            ) from None
        if not check:
            return addr
        if isinstance(where, str):
            name = f"breakpoint address {addr:#x} ({name})"
        else:
            name = f"breakpoint address {addr:#x}"
        if not 0 <= addr < self.memory_size:
            raise ValueError(
                f"{name} is outside RAM (0..{self.memory_size - 1:#x}): a breakpoint is the "
                "physical address of an instruction in RAM"
            )
        if addr & 3:
            raise ValueError(f"{name} is not 4-byte aligned")
        return addr

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
        self.cpu.pc = _word_value(value, "pc")  # an int; the low 32 bits are kept, as registers

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
        """IndexError unless the ``n`` bytes at ``addr`` (Python ints, ``n`` >= 0) are in RAM."""
        if addr < 0 or addr + n > self.memory_size:
            raise IndexError(
                f"physical range {addr:#x}..{addr + n:#x} is outside RAM (0..{self.memory_size:#x})"
            )

    def read(self, addr: int, n: int) -> bytes:
        """``n`` bytes of physical memory at ``addr`` (both ints)."""
        addr = _as_int(addr, "addr")
        n = _as_int(n, "n")
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        self._check_range(addr, n)
        return self.mem.view(np.uint8)[addr : addr + n].tobytes()

    @held
    def write(self, addr: int, data: bytes) -> None:
        """Write bytes (bytes, bytearray or memoryview) into physical memory at ``addr``.

        The decode cache forgets the words written.
        """
        addr = _as_int(addr, "addr")
        if not isinstance(data, bytes | bytearray | memoryview):  # bytes(5) is five zero bytes
            raise TypeError(
                f"data must be bytes, bytearray or memoryview, not {type(data).__name__}"
            )
        raw = bytes(data)
        self._check_range(addr, len(raw))
        self.mem.view(np.uint8)[addr : addr + len(raw)] = np.frombuffer(raw, np.uint8)
        self.dcache[addr >> 2 : (addr + len(raw) + 3) >> 2] = 0

    def _word_address(self, addr: object) -> int:
        """A 4-aligned physical address of a word in RAM, given as an int."""
        a = _as_int(addr, "addr")
        if a & 3:
            raise ValueError(f"address {a:#x} is not 4-byte aligned")
        self._check_range(a, 4)
        return a

    def read_word(self, addr: int) -> int:
        """The 32-bit word at a 4-aligned physical address."""
        return int(self.mem[self._word_address(addr) >> 2])

    @held
    def write_word(self, addr: int, value: int) -> None:
        """Store a 32-bit word (an int; its low 32 bits) at a 4-aligned physical address."""
        a = self._word_address(addr)
        word = _word_value(value, "write_word value")
        self.mem[a >> 2] = word
        self.dcache[a >> 2] = 0

    def translate(self, va: int) -> int:
        """Physical address of virtual ``va`` (0..2**32-1) under the current page tables.

        No side effects (no TLB fill, no accessed/dirty bits). ValueError if ``va`` is not
        mapped, or its page-table entry lies outside RAM.
        """
        va = _address(va, "virtual address")
        st = self.cpu.st
        if not st[ST_CSR + CSR_STATUS] & ST_PG:
            return va
        l1 = (int(st[ST_CSR + CSR_PTBR]) & 0xFFFFF000) + ((va >> 22) << 2)
        pte = self._page_table_entry(va, l1, 1)
        if not pte & PTE_V:
            raise ValueError(f"virtual address {va:#010x} is not mapped (level-1 entry invalid)")
        if pte & (PTE_R | PTE_W | PTE_X):
            return (pte & 0xFFC00000) | (va & 0x3FFFFF)
        pte = self._page_table_entry(va, (pte & 0xFFFFF000) + (((va >> 12) & 0x3FF) << 2), 2)
        if not pte & PTE_V:
            raise ValueError(f"virtual address {va:#010x} is not mapped (level-2 entry invalid)")
        return (pte & 0xFFFFF000) | (va & 0xFFF)

    def _page_table_entry(self, va: int, pa: int, level: int) -> int:
        """The level-``level`` page-table entry for ``va``, stored at physical ``pa``."""
        if pa + 4 > self.memory_size:
            raise ValueError(
                f"virtual address {va:#010x} is not mapped: its level-{level} page-table entry "
                f"at {pa:#010x} is outside RAM (0..{self.memory_size:#x})"
            )
        return int(self.mem[pa >> 2])

    def describe_address(self, addr: int) -> str:
        """``0x00001008 (main+8, prog.s:12)`` using the loaded image's symbols and source map."""
        addr = _address(addr, "address")
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
        """Everything needed to resume this machine exactly: CPU, RAM, console, disk, image.

        The dict holds copies of the arrays and the loaded ``Image`` itself (images are not
        changed by running them); ``restore_state`` takes it back, on this machine or another
        of the same memory size and disk size.
        """
        return {
            "memory_size": self.memory_size,
            "strict": self.strict,
            "cpu": self.cpu.save(),
            "mem": self.mem.copy(),
            "console": self.console.save(),
            "disk": None if self.disk is None else self.disk.data.copy(),
            "image": self.image,
            "stopped": None if self._stopped is None else dataclasses.replace(self._stopped),
            "breakpoint_stop": self._breakpoint_stop,
        }

    @held
    def restore_state(self, state: dict) -> None:
        """Return to a state made by ``save_state`` on a machine of the same memory size.

        The whole dict is checked first (its keys, and each value's type, dtype, shape and
        range): a bad one raises an error naming the key and changes nothing. Breakpoints are
        the debugger's, not the machine's: they stay as they are.
        """
        self._check_state(state)
        self.strict = state["strict"]
        self.cpu.restore(state["cpu"])
        self.mem[:] = state["mem"]
        self.dcache[:] = 0
        self.console.restore(state["console"])
        if self.disk is not None:
            self.disk.data[:] = state["disk"]
        self.image = state["image"]
        stopped = state["stopped"]
        self._stopped = None if stopped is None else dataclasses.replace(stopped)
        self._breakpoint_stop = state["breakpoint_stop"]
        self._set_breakpoints(self._breakpoints)

    def _check_state(self, state: object) -> None:
        """Raise TypeError/ValueError naming the first key of ``state`` that is not as saved."""
        if not isinstance(state, dict):
            raise TypeError(
                f"restore_state() takes a dict made by save_state(), not {type(state).__name__}"
            )
        missing = [k for k in _STATE_KEYS if k not in state]
        extra = [repr(k) for k in state if k not in _STATE_KEYS]
        if missing or extra:
            what = [f"missing {', '.join(map(repr, missing))}"] if missing else []
            what += [f"unknown {', '.join(extra)}"] if extra else []
            raise ValueError(f"saved state is not one made by save_state(): {'; '.join(what)}")
        size = state["memory_size"]
        if isinstance(size, bool) or not isinstance(size, int):
            raise _bad_state("['memory_size']", f"must be an int, not {_show(size)}", TypeError)
        if size != self.memory_size:
            raise ValueError(
                f"saved state is for {format_size(size)} of RAM, this machine "
                f"has {format_size(self.memory_size)}"
            )
        strict = state["strict"]
        if not isinstance(strict, bool):
            raise _bad_state("['strict']", f"must be True or False, not {_show(strict)}", TypeError)
        self._check_saved_cpu(state["cpu"], strict)
        _saved_array("['mem']", state["mem"], np.uint32, self.mem.shape)
        self._check_saved_console(state["console"])
        self._check_saved_disk(state["disk"])

        image = state["image"]
        if image is not None:
            if not isinstance(image, Image):
                raise _bad_state(
                    "['image']",
                    f"must be a vmlab Image or None, not {type(image).__name__}",
                    TypeError,
                )
            try:
                self._check_image_fits(image)
            except ValueError as e:
                raise _bad_state("['image']", f"does not fit this machine: {e}") from None

        stopped = state["stopped"]
        if stopped is not None:
            if not isinstance(stopped, RunResult):
                raise _bad_state(
                    "['stopped']",
                    f"must be None or a RunResult, not {type(stopped).__name__}",
                    TypeError,
                )
            if stopped.reason not in STOP_REASONS:
                raise _bad_state(
                    "['stopped']",
                    f"is a RunResult with reason {stopped.reason!r}, which does not stop a "
                    f"machine ({', '.join(STOP_REASONS)} do)",
                )
        pc = state["breakpoint_stop"]
        if pc is not None and (
            isinstance(pc, bool) or not isinstance(pc, int) or not 0 <= pc <= M32
        ):
            raise _bad_state("['breakpoint_stop']", f"must be None or a 32-bit pc, not {_show(pc)}")

    def _check_saved_cpu(self, saved: object, strict: bool) -> None:
        """Check ``state["cpu"]``: this machine's arrays, 32-bit registers, its RAM, bare metal."""
        if not isinstance(saved, dict) or set(saved) != {"regs", "st"}:
            raise _bad_state(
                "['cpu']", "must be a dict with 'regs' and 'st' as made by save_state()"
            )
        regs = _saved_array("['cpu']['regs']", saved["regs"], np.int64, self.cpu.regs.shape)
        st = _saved_array("['cpu']['st']", saved["st"], np.int64, self.cpu.st.shape)
        where = "['cpu']['st']"
        if ((regs < 0) | (regs > M32)).any():
            raise _bad_state(
                "['cpu']['regs']", "holds a value outside 0..0xffffffff (registers are 32-bit)"
            )
        for bank, kind in ((ST_CSR, "CSR"), (ST_GCSR, "guest CSR")):
            for num, name in CSR_NAMES.items():
                value = int(st[bank + num])
                if not 0 <= value <= (M32 if num in WORD_CSRS else NEVER):
                    raise _bad_state(where, f"has {kind} {name} = {value:#x}, out of range")
        if not 0 <= st[ST_PC] <= M32:
            raise _bad_state(where, f"has pc {int(st[ST_PC]):#x}, not a 32-bit address")
        if st[ST_RAMSIZE] != self.memory_size:
            raise _bad_state(where, f"is for {int(st[ST_RAMSIZE])} bytes of RAM")
        if st[ST_STRICT] != int(strict):
            raise _bad_state(where, f"has strict={int(st[ST_STRICT])}, state['strict'] is {strict}")
        if st[ST_VMCTL] != 0:
            raise _bad_state(where, "is in guest mode, which a bare machine has not")
        # the core trusts the TLB: an entry pointing past RAM would let it write outside the array
        tags = st[ST_TLB_TAG : ST_TLB_TAG + TLB_ENTRIES]
        data = st[ST_TLB_DATA : ST_TLB_DATA + TLB_ENTRIES]
        valid = tags != -1
        ram_page = (data & TLB_IO) == 0
        if (
            ((tags < -1) | (tags >= 1 << 20)).any()
            or (valid & ((data < 0) | (data >= ADDR_LIMIT))).any()
            or (valid & ram_page & ((data & ~0xFFF) >= self.memory_size)).any()
        ):
            raise _bad_state(where, "has TLB entries that point outside RAM")

    def _check_saved_console(self, con: object) -> None:
        """Check ``state["console"]``: output and pending input as bytes that fit, a count."""
        if not isinstance(con, dict) or set(con) != {"output", "dropped", "input"}:
            raise _bad_state(
                "['console']",
                "must be a dict with 'output', 'dropped' and 'input' from save_state()",
            )
        for key in ("output", "input"):
            if not isinstance(con[key], bytes):
                raise _bad_state(
                    f"['console']['{key}']",
                    f"must be bytes, not {type(con[key]).__name__}",
                    TypeError,
                )
        if len(con["output"]) > MAX_KEPT_OUTPUT:
            raise _bad_state(
                "['console']['output']", f"is longer than the {MAX_KEPT_OUTPUT} bytes kept"
            )
        room = len(self.console.in_buffer)
        if len(con["input"]) > room:
            raise _bad_state(
                "['console']['input']",
                f"holds {len(con['input'])} bytes, more than the {room} the input queue takes",
            )
        dropped = con["dropped"]
        if isinstance(dropped, bool) or not isinstance(dropped, int) or dropped < 0:
            raise _bad_state("['console']['dropped']", f"must be an int >= 0, not {_show(dropped)}")

    def _check_saved_disk(self, disk: object) -> None:
        """Check ``state["disk"]``: None without a disk, else a byte array of this disk's size."""
        mismatch = "saved state's disk does not match this machine's disk: state['disk']"
        if self.disk is None:
            if disk is not None:
                raise ValueError(f"{mismatch} holds a disk, this machine has none")
        elif disk is None:
            raise ValueError(f"{mismatch} is None, this machine has a disk")
        else:
            arr = _saved_array("['disk']", disk, np.uint8, getattr(disk, "shape", ()))
            if arr.shape != self.disk.data.shape:
                raise ValueError(
                    f"{mismatch} holds {arr.size} bytes, this machine's disk {self.disk.data.size}"
                )

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
