"""Shared helpers for the spec tests of the core, the devices and the bare-metal Machine.

The helpers keep each test down to "this assembly, these registers, this result":

* ``run_asm(source)`` assembles a program, loads it into a fresh ``Machine`` (RAM outside the
  image pre-filled with the poison byte 0xA5, which is not an opcode, so a stray fetch faults and
  a stray read shows) and runs it; it returns ``(machine, result)``.
* ``OneInstruction("add a0, a1, a2")`` is the single-instruction harness: set registers, run that
  one instruction, read registers back. The program is assembled once, so hypothesis can drive it.
* ``PageTables`` writes two-level page tables into a machine's RAM from Python (the programs then
  only switch paging on), so that paging tests state the mapping in one line each.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from vmlab import Machine, RunResult, assemble
from vmlab.devices.disk import Disk
from vmlab.image import Image
from vmlab.isa.arch import PAGE_SIZE, PTE_V, REG_ALIASES

M32 = 0xFFFFFFFF
POISON = 0xA5  # not an opcode: executing poisoned RAM is an illegal instruction
POISON_WORD = 0xA5A5A5A5
ORG = 0x1000  # where .text starts


def pytest_configure(config: pytest.Config) -> None:
    """Keep hypothesis's failure reports readable under ``filterwarnings = error``.

    Reporting a falsifying example makes hypothesis touch ``mypy_extensions.TypedDict``, whose
    DeprecationWarning would otherwise turn the report into an INTERNALERROR.
    """
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


def to_signed(v: int) -> int:
    """The signed value of a 32-bit word."""
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


def poison(m: Machine) -> None:
    """Fill every RAM byte outside the loaded image's segments with POISON."""
    raw = m.mem.view(np.uint8)
    keep = raw.copy()
    raw[:] = POISON
    assert m.image is not None
    for seg in m.image.segments:
        raw[seg.addr : seg.addr + len(seg.data)] = keep[seg.addr : seg.addr + len(seg.data)]
    m.dcache[:] = 0


def load_asm(
    source: str | Image,
    memory: int | str = "1M",
    strict: bool = True,
    disk: Disk | None = None,
    poisoned: bool = True,
    regs: Mapping[str, int] | None = None,
) -> Machine:
    """A fresh machine with ``source`` (assembly text or an Image) loaded, ready to run."""
    image = assemble(source) if isinstance(source, str) else source
    m = Machine(memory=memory, strict=strict, disk=disk)
    m.load(image)
    if poisoned:
        poison(m)
    for name, value in (regs or {}).items():
        m.regs[name] = value
    return m


def run_asm(
    source: str | Image,
    memory: int | str = "1M",
    strict: bool = True,
    max_instructions: int | None = 100_000,
    max_cycles: int | None = None,
    disk: Disk | None = None,
    poisoned: bool = True,
    regs: Mapping[str, int] | None = None,
) -> tuple[Machine, RunResult]:
    """Assemble, load and run ``source``; returns the machine and the run's result."""
    m = load_asm(source, memory=memory, strict=strict, disk=disk, poisoned=poisoned, regs=regs)
    return m, m.run(max_instructions=max_instructions, max_cycles=max_cycles)


def halted(source: str, **kw) -> Machine:
    """Run ``source`` and insist that it stops with ``halt``; returns the machine."""
    m, res = run_asm(source, **kw)
    assert res.reason == "halt", f"expected halt, got {res} at pc {res.pc:#x}"
    return m


class OneInstruction:
    """The single-instruction harness: one instruction at 0x1000, registers in, registers out.

    >>> add = OneInstruction("add a0, a1, a2")
    >>> add(a1=2, a2=3).regs["a0"]
    5
    """

    def __init__(self, instr: str, memory: int | str = "64K") -> None:
        self.instr = instr
        self.machine = Machine(memory=memory)
        self.machine.load(assemble(f"_start: {instr}\n halt\n"))

    def __call__(self, mem: Mapping[int, bytes] | None = None, **regs: int) -> Machine:
        """Reset (RAM poisoned), write ``mem`` (address -> bytes), set ``regs``, run once."""
        m = self.machine
        m.reset()
        poison(m)
        for addr, data in (mem or {}).items():
            m.write(addr, data)
        for name, value in regs.items():
            assert name in REG_ALIASES, name
            m.regs[name] = value & M32
        res = m.step(1)
        assert res.reason == "budget" and res.instructions == 1, (self.instr, res)
        return m

    def result(self, rd: str = "a0", mem: Mapping[int, bytes] | None = None, **regs: int) -> int:
        """Run once and return the unsigned value of ``rd``."""
        return self(mem, **regs).regs[rd]


class PageTables:
    """Builds VL32 two-level page tables in a machine's RAM (level-1 table at ``root``).

    Level-2 tables are taken from a bump allocator that starts right after the root.
    """

    def __init__(self, m: Machine, root: int = 0x80000) -> None:
        assert root % PAGE_SIZE == 0
        self.m = m
        self.root = root
        self.next_table = root + PAGE_SIZE
        m.write(root, bytes(PAGE_SIZE))

    def l1_index_addr(self, va: int) -> int:
        """Physical address of the level-1 entry for ``va``."""
        return self.root + ((va >> 22) << 2)

    def pte_addr(self, va: int) -> int:
        """Physical address of the level-2 entry for ``va`` (creating its table if needed)."""
        l1 = self.l1_index_addr(va)
        entry = self.m.read_word(l1)
        if not entry & PTE_V:
            table = self.next_table
            self.next_table += PAGE_SIZE
            self.m.write(table, bytes(PAGE_SIZE))
            entry = table | PTE_V
            self.m.write_word(l1, entry)
        return (entry & ~0xFFF) + (((va >> 12) & 0x3FF) << 2)

    def map(self, va: int, pa: int, flags: int, pages: int = 1) -> None:
        """Map ``pages`` 4 KiB pages from ``va`` to ``pa`` with PTE ``flags`` (V is added)."""
        for i in range(pages):
            off = i * PAGE_SIZE
            self.m.write_word(self.pte_addr(va + off), ((pa + off) & ~0xFFF) | flags | PTE_V)

    def map_super(self, va: int, pa: int, flags: int) -> None:
        """Map a 4 MiB superpage (``flags`` must include one of R/W/X)."""
        assert va % (4 << 20) == 0 and pa % (4 << 20) == 0
        self.m.write_word(self.l1_index_addr(va), pa | flags | PTE_V)

    def pte(self, va: int) -> int:
        """The current level-2 PTE of ``va``."""
        return self.m.read_word(self.pte_addr(va))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Mark a test whose call failed (the browser tests then save a screenshot)."""
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True  # type: ignore[attr-defined]
    return report
