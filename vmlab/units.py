"""Parsing of human-friendly sizes such as "4M", "64MiB" or 4096."""

from __future__ import annotations

import operator
import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(value: int | str, what: str = "size") -> int:
    """Bytes in ``value``: an int (numpy's too), or a string like "512K", "4M", "1G", "4MiB"."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number of bytes or a string like '4M', not {value!r}")
    if isinstance(value, int) or (hasattr(value, "__index__") and not isinstance(value, str)):
        return operator.index(value)  # (numpy integers too)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a number of bytes or a string like '4M', not {value!r}")
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", value, flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"{what} {value!r} is not a size like '512K', '4M' or '1G'")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


def format_size(n: int) -> str:
    """A short human form of a byte count: 4194304 -> '4M'."""
    for unit in ("G", "M", "K"):
        if n >= _UNITS[unit] and n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]}{unit}"
    return str(n)
