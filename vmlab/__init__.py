"""vmlab: a Jupyter-first virtualization lab kit built on the VL32 machine."""

from .asm import AssembleError, assemble, assemble_file
from .compare import compare
from .hypervisor import VM, CostModel, Hypervisor, VMStateError
from .image import Image
from .machine import Machine, MachineError, RunResult

__version__ = "0.1.0"

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
