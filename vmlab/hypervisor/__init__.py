"""The hypervisor: many isolated VMs on one emulated host, four virtualization techniques."""

from .costs import CostModel
from .export import ExportFormatError
from .host import HostMemory, HostMemoryError
from .hypervisor import Hypervisor
from .metrics import baseline, format_exits, overhead
from .snapshot import Snapshot, format_tree
from .vm import MODES, VM, VMStateError

__all__ = [
    "MODES",
    "VM",
    "CostModel",
    "ExportFormatError",
    "HostMemory",
    "HostMemoryError",
    "Hypervisor",
    "Snapshot",
    "VMStateError",
    "baseline",
    "format_exits",
    "format_tree",
    "overhead",
]
