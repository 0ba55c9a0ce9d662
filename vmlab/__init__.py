"""vmlab: a Jupyter-first virtualization lab kit built on the VL32 machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .asm import AssembleError, assemble, assemble_file
from .compare import compare
from .image import Image
from .machine import Machine, MachineError, RunResult

if TYPE_CHECKING:
    from .hypervisor import VM, CostModel, Hypervisor, VMStateError

__version__ = "0.1.0"

# The hypervisor is imported on first use of one of these names, not by ``import vmlab``: running a
# bare Machine (the common first step, and the benchmark's warm start) does not need it.
_LAZY = {"VM", "CostModel", "Hypervisor", "VMStateError"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import hypervisor

        return getattr(hypervisor, name)
    raise AttributeError(f"module 'vmlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)  # tab completion lists the lazy names too


__all__ = [
    "VM",
    "AssembleError",
    "CostModel",
    "Hypervisor",
    "Image",
    "Machine",
    "MachineError",
    "RunResult",
    "VMStateError",
    "__version__",
    "assemble",
    "assemble_file",
    "compare",
]
