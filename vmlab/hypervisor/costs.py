"""The cost model of virtualization: modelled cycles charged for each kind of VM exit.

Guest instructions cost what they cost on bare metal (the instruction table's cycle classes). Every
exit adds the cycles below to the host's clock, which the guest also sees pass: that is the
overhead a technique costs. The numbers are a model, documented and configurable, chosen to keep
the relative costs of real systems (a trap into the VMM costs more than a translated call-out, a
userspace exit more than one handled in the kernel).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CostModel:
    """Modelled cycles per exit kind (change one with ``dataclasses.replace``)."""

    trap: int = 300  # a privileged instruction trapping into the VMM and being emulated
    reflect: int = 300  # a guest trap or interrupt bounced into the guest kernel by the VMM
    bt_call: int = 40  # a translated sensitive instruction calling out to the VMM (no trap)
    translate_page: int = 2000  # binary-translating one 4 KiB page of guest code
    hcall: int = 100  # a paravirtual hypercall
    vmexit: int = 400  # a hardware VM exit and re-entry (hw-assist: device, idle, fault)
    npf: int = 600  # a second-stage fault handled by the VMM (e.g. copy-on-write)
    userspace: int = 1200  # extra for an exit handled by the Python (userspace) path
    world_switch: int = 800  # switching the host CPU from one VM to another

    def as_dict(self) -> dict[str, int]:
        """The model as a plain dict."""
        return asdict(self)
