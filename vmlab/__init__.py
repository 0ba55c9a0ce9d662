"""vmlab: a Jupyter-first virtualization lab kit built on the VL32 machine."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .asm import AssembleError, assemble, assemble_file
    from .comparison import compare
    from .devices.disk import Disk
    from .hypervisor import (
        VM,
        CostModel,
        ExportFormatError,
        HostMemoryError,
        Hypervisor,
        VMStateError,
    )
    from .image import Image, ImageFormatError
    from .machine import Machine, MachineError, RunResult

__version__ = "0.1.0"


def lab(
    hv: Hypervisor | None = None, host_memory: int | str = "64M", cpus: int = 1, **kwargs: Any
) -> Any:
    """The lab dashboard (``vmlab.ui.Dashboard``) on ``hv`` or a new hypervisor, for Jupyter."""
    from .ui import lab as make_lab

    return make_lab(hv, host_memory=host_memory, cpus=cpus, **kwargs)


# Every public name is imported on first use, not by ``import vmlab`` (a name -> its module): the
# command line can then catch a Ctrl-C while Numba loads, and a bare Machine does not load the
# hypervisor.
_HOMES = {
    "AssembleError": "asm",
    "assemble": "asm",
    "assemble_file": "asm",
    "compare": "comparison",
    "Disk": "devices.disk",
    "Image": "image",
    "ImageFormatError": "image",
    "Machine": "machine",
    "MachineError": "machine",
    "RunResult": "machine",
    **dict.fromkeys(
        ("VM", "CostModel", "ExportFormatError", "HostMemoryError", "Hypervisor", "VMStateError"),
        "hypervisor",
    ),
}


# the subpackages a user reaches as ``vmlab.NAME`` after ``import vmlab`` (imported on first use)
_SUBMODULES = ("asm", "devices", "hypervisor", "images", "isa", "ui", "units")


def __getattr__(name: str) -> Any:
    """Import a public name's module, or a public subpackage, on first use."""
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value  # (found directly from now on)
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # (which sets it on the package)
    raise AttributeError(f"module 'vmlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the lazy ones too (tab completion)."""
    return sorted(set(globals()) | set(_HOMES) | set(_SUBMODULES))


__all__ = [
    "VM",
    "AssembleError",
    "CostModel",
    "Disk",
    "ExportFormatError",
    "HostMemoryError",
    "Hypervisor",
    "Image",
    "ImageFormatError",
    "Machine",
    "MachineError",
    "RunResult",
    "VMStateError",
    "__version__",
    "assemble",
    "assemble_file",
    "compare",
    "lab",
]
