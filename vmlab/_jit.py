"""The one decorator for vmlab's jitted kernels, with a Numba cache that notices every source edit.

Numba keys its on-disk cache on the file of the decorated function only, so an edit to a helper it
inlines from another module (the MMU, a device, the instruction table) would go unnoticed. vmlab's
kernels therefore cache into a directory named after a hash of *all* the sources they are built
from: any edit gives a fresh directory. The directory is the user's ``NUMBA_CACHE_DIR`` if set, else
``~/.cache/vmlab/numba`` (or ``VMLAB_CACHE_DIR``), with a ``src-<hash>`` subdirectory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numba
from numba.core import config

F = TypeVar("F", bound=Callable[..., Any])

_PACKAGE = Path(__file__).resolve().parent
# globs, relative to the package, of every source a kernel is built from (the hypervisor's jitted
# exit path inlines the binary translator and the hypercall numbers)
_KERNEL_SOURCES = (
    "core/*.py",
    "devices/*.py",
    "isa/*.py",
    "hypervisor/bt.py",
    "hypervisor/hypercalls.py",
)


def _source_hash() -> str:
    """Hash of every Python source the jitted kernels may be built from."""
    digest = hashlib.sha256(numba.__version__.encode())
    for pattern in _KERNEL_SOURCES:
        for path in sorted(_PACKAGE.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """The directory where this version of vmlab's kernels are cached."""
    base = os.environ.get("VMLAB_CACHE_DIR") or config.CACHE_DIR
    root = Path(base) if base else Path.home() / ".cache" / "vmlab" / "numba"
    return root / f"src-{_SOURCE_HASH}"


_SOURCE_HASH = _source_hash()


def kernel(fn: F) -> F:
    """Compile ``fn`` with ``@njit(nogil=True, cache=True)`` into vmlab's source-keyed cache."""
    if config.DISABLE_JIT:
        return fn
    saved = config.CACHE_DIR
    config.CACHE_DIR = str(cache_dir())
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    finally:
        config.CACHE_DIR = saved
