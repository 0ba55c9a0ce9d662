"""vmlab: a Jupyter-first virtualization lab kit built on the VL32 machine."""

from .asm import AssembleError, assemble, assemble_file
from .image import Image
from .machine import Machine, MachineError, RunResult

__version__ = "0.1.0"

__all__ = [
    "AssembleError",
    "Image",
    "Machine",
    "MachineError",
    "RunResult",
    "__version__",
    "assemble",
    "assemble_file",
]
