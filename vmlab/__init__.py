"""vmlab: a Jupyter-first virtualization lab kit built on the VL32 machine."""

from typing import Any

from .asm import AssembleError, assemble, assemble_file
from .compare import compare
from .hypervisor import VM, CostModel, Hypervisor, VMStateError
from .image import Image
from .machine import Machine, MachineError, RunResult

__version__ = "0.1.0"


def lab(hv: Hypervisor | None = None, host_memory: int | str = "64M", **kwargs: Any) -> Any:
    """The lab dashboard (``vmlab.ui.Dashboard``) on ``hv`` or a new hypervisor, for Jupyter."""
    from .ui import lab as make_lab

    return make_lab(hv, host_memory=host_memory, **kwargs)


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
    "lab",
]
