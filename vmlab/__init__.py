"""vmlab: a Jupyter-first virtualization lab kit built on the VL32 machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .asm import AssembleError, assemble, assemble_file
from .compare import compare
from .devices.disk import Disk
from .image import Image, ImageFormatError
from .machine import Machine, MachineError, RunResult

if TYPE_CHECKING:
    from .hypervisor import (
        VM,
        CostModel,
        ExportFormatError,
        HostMemoryError,
        Hypervisor,
        VMStateError,
    )

__version__ = "0.1.0"


def lab(
    hv: Hypervisor | None = None, host_memory: int | str = "64M", cpus: int = 1, **kwargs: Any
) -> Any:
    """The lab dashboard (``vmlab.ui.Dashboard``) on ``hv`` or a new hypervisor, for Jupyter."""
    from .ui import lab as make_lab

    return make_lab(hv, host_memory=host_memory, cpus=cpus, **kwargs)


# The hypervisor is imported on first use of one of these names, not by ``import vmlab``: running a
# bare Machine (the common first step, and the benchmark's warm start) does not need it.
_LAZY = {"VM", "CostModel", "ExportFormatError", "HostMemoryError", "Hypervisor", "VMStateError"}


def __getattr__(name: str) -> Any:
    """Import the hypervisor's public names on first use."""
    if name in _LAZY:
        from . import hypervisor

        return getattr(hypervisor, name)
    raise AttributeError(f"module 'vmlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the lazy ones too (tab completion)."""
    return sorted(set(globals()) | _LAZY)


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
