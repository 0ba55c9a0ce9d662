"""The hypervisor: many isolated VMs on one emulated host, four virtualization techniques."""

from .costs import CostModel
from .host import HostMemory, HostMemoryError
from .hypervisor import Hypervisor
from .vm import MODES, VM, VMStateError

__all__ = [
    "MODES",
    "VM",
    "CostModel",
    "HostMemory",
    "HostMemoryError",
    "Hypervisor",
    "VMStateError",
]
