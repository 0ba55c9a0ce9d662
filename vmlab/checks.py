"""Argument checks shared by the public API: ints (numpy's too, never bools) and 32-bit addresses."""

from __future__ import annotations

import operator

ADDR_LIMIT = 1 << 32  # one past the highest 32-bit address


def as_int(value: object, what: str) -> int:
    """``value`` as a Python int (numpy integers too); TypeError naming ``what`` otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None


def as_address(value: object, what: str) -> int:
    """``value`` as an address 0..2**32-1; TypeError or ValueError naming ``what``."""
    addr = as_int(value, what)
    if not 0 <= addr < ADDR_LIMIT:
        raise ValueError(f"{what} {addr:#x} is outside the 32-bit address space")
    return addr
