"""The power controller: lets the guest power the machine off (with an exit code) or reboot it."""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from ..core.layout import DEV_PWR_EXIT_CODE, EXIT_POWEROFF, EXIT_REBOOT
from .memmap import PWR_CTRL, PWR_EXIT_CODE, PWR_OFF, PWR_REBOOT


@kernel
def power_read(st: np.ndarray, off: int) -> int:
    """Read power register ``off``; -1 means no such register."""
    if off == PWR_EXIT_CODE:
        return st[DEV_PWR_EXIT_CODE]
    if off == PWR_CTRL:
        return 0
    return -1


@kernel
def power_write(st: np.ndarray, off: int, value: int) -> int:
    """Write power register ``off``: 0 done, EXIT_POWEROFF/EXIT_REBOOT to stop, -1 fault."""
    if off == PWR_EXIT_CODE:
        st[DEV_PWR_EXIT_CODE] = value & 0xFFFFFFFF
        return 0
    if off == PWR_CTRL:
        if value == PWR_OFF:
            return EXIT_POWEROFF
        if value == PWR_REBOOT:
            return EXIT_REBOOT
        return 0  # other values are ignored
    return -1
