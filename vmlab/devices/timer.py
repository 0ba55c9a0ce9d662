"""The timer: reads the modelled cycle counter and programs the CPU's timer-compare register."""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from ..isa.arch import CSR_TIMECMP
from .memmap import TMR_CMP_HI, TMR_CMP_LO, TMR_INTERVAL, TMR_NOW_HI, TMR_NOW_LO

NEVER = (1 << 63) - 1  # timecmp value that never fires (the reset value)


@kernel
def timer_read(st: np.ndarray, bank: int, off: int, cyc: int) -> int:
    """Read timer register ``off`` at cycle ``cyc``; -1 means no such register."""
    cmp = st[bank + CSR_TIMECMP]
    if off == TMR_NOW_LO:
        return cyc & 0xFFFFFFFF
    if off == TMR_NOW_HI:
        return (cyc >> 32) & 0xFFFFFFFF
    if off == TMR_CMP_LO:
        return cmp & 0xFFFFFFFF
    if off == TMR_CMP_HI:
        return (cmp >> 32) & 0xFFFFFFFF
    if off == TMR_INTERVAL:
        left = cmp - cyc
        if left < 0:
            return 0
        return min(left, 0xFFFFFFFF)
    return -1


@kernel
def timer_write(st: np.ndarray, bank: int, off: int, value: int, cyc: int) -> int:
    """Write timer register ``off`` at cycle ``cyc``: 0 done, -1 no such register."""
    if off == TMR_CMP_LO:
        st[bank + CSR_TIMECMP] = value & 0xFFFFFFFF
        return 0
    if off == TMR_CMP_HI:
        st[bank + CSR_TIMECMP] = ((value & 0x7FFFFFFF) << 32) | (
            st[bank + CSR_TIMECMP] & 0xFFFFFFFF
        )
        return 0
    if off == TMR_INTERVAL:
        st[bank + CSR_TIMECMP] = cyc + (value & 0xFFFFFFFF)
        return 0
    if off == TMR_NOW_LO or off == TMR_NOW_HI:
        return 0  # the counter is read-only; writes are ignored
    return -1
