"""A processor's state as data: the register array and the int64 state array, with save/restore."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from ..devices.timer import NEVER
from ..isa.arch import CSR_NAMES, CSR_NUMBERS, CSR_STATUS, CSR_TIMECMP, NUM_CSRS, ST_MODE
from .layout import (
    ST_CSR,
    ST_GCSR,
    ST_NBP,
    ST_PC,
    ST_RAMSIZE,
    ST_SIZE,
    ST_SKIP_BP,
    ST_STATS,
    ST_STRICT,
    ST_TLB_TAG,
    STATS_WORDS,
    TLB_ENTRIES,
)

NUM_REG_SLOTS = 17  # r0..r15 plus the scratch slot that absorbs writes to r0


def csr_number(which: int | str) -> int:
    """The number of a CSR given by name (``"status"``, any case) or int; KeyError names the known.

    Only a name or an int (numpy's too) is a CSR: ``1.0`` and ``True`` are refused.
    """
    num: int | None = None
    if isinstance(which, str):
        num = CSR_NUMBERS.get(which.lower())
    elif not isinstance(which, bool | np.bool_):
        try:
            num = operator.index(which)  # type: ignore[arg-type]
        except TypeError:
            pass
    if num is None or num not in CSR_NAMES:
        raise KeyError(
            f"no CSR {which!r}; known: {', '.join(CSR_NUMBERS)} "
            f"(or their numbers {min(CSR_NAMES)}..{max(CSR_NAMES)})"
        )
    return num


@dataclass
class CpuState:
    """Registers (unsigned 32-bit values in int64) and every other scalar of one processor."""

    regs: np.ndarray = field(default_factory=lambda: np.zeros(NUM_REG_SLOTS, dtype=np.int64))
    st: np.ndarray = field(default_factory=lambda: np.zeros(ST_SIZE, dtype=np.int64))

    def reset(self, ram_size: int, strict: bool = True) -> None:
        """Power-on state: kernel mode, paging and interrupts off, timer never fires."""
        nbp = int(self.st[ST_NBP])
        bps = self.st[ST_NBP : ST_NBP + 1 + nbp].copy()
        stats = self.st[ST_STATS : ST_STATS + STATS_WORDS].copy()
        self.regs[:] = 0
        self.st[:] = 0
        for bank in (ST_CSR, ST_GCSR):
            self.st[bank + CSR_STATUS] = ST_MODE
            self.st[bank + CSR_TIMECMP] = NEVER
        self.st[ST_RAMSIZE] = ram_size
        self.st[ST_STRICT] = 1 if strict else 0
        self.st[ST_SKIP_BP] = -1
        self.st[ST_NBP : ST_NBP + 1 + nbp] = bps
        self.st[ST_STATS : ST_STATS + STATS_WORDS] = stats
        self.flush_tlb()

    def flush_tlb(self) -> None:
        """Invalidate every TLB entry (after the host changes page tables or the p2m map)."""
        self.st[ST_TLB_TAG : ST_TLB_TAG + TLB_ENTRIES] = -1

    @property
    def pc(self) -> int:
        """The program counter."""
        return int(self.st[ST_PC])

    @pc.setter
    def pc(self, value: int) -> None:
        self.st[ST_PC] = value & 0xFFFFFFFF

    def csr(self, which: int | str, guest: bool = False) -> int:
        """Raw value of a CSR, by name or number, in the host or guest bank (counters 64-bit).

        ``guest=True`` reads the guest bank: the virtual CSRs a VM's guest kernel sees.
        An unknown name or number raises KeyError listing the known names.

        >>> CpuState().csr("ie") == CpuState().csr(7) == 0
        True
        """
        return int(self.st[(ST_GCSR if guest else ST_CSR) + csr_number(which)])

    def save(self) -> dict[str, np.ndarray]:
        """A copy of the whole state."""
        return {"regs": self.regs.copy(), "st": self.st.copy()}

    def restore(self, saved: dict[str, np.ndarray]) -> None:
        """Restore a state made by ``save`` (in place: jitted code keeps the same arrays)."""
        regs, st = saved["regs"], saved["st"]
        if regs.shape != self.regs.shape or st.shape != self.st.shape:
            raise ValueError(
                f"CPU state has shapes {regs.shape}/{st.shape}, expected "
                f"{self.regs.shape}/{self.st.shape}"
            )
        self.regs[:] = regs
        self.st[:] = st


assert NUM_CSRS == ST_GCSR - ST_CSR
