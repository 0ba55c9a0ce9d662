"""The cost model of virtualization: modelled cycles charged for each kind of VM exit.

Guest instructions cost what they cost on bare metal (the instruction table's cycle classes), plus
the second-stage TLB misses a guest takes (``WALK_REF_CYCLES`` per memory reference of the
walk: guest-physical addresses go through the VM's p2m map, one reference with guest paging off,
2g + 1 for g guest page-table levels, as nested paging's 2D walk; see docs/machine.md "Paging");
those count as *guest* cycles. Everything the VMM does for a VM is
*hypervisor* cycles, charged per exit as below. The host clock advances by both, and the guest's
own cycle counter runs with the host clock, so the guest sees the overhead pass, as on real
hardware. ``vm.metrics().exits`` lists count, cycles and host time per exit reason.

=================  ===================================  =======================================
exit reason        when                                 modelled cycles (Python path)
=================  ===================================  =======================================
``privileged``     trap-and-emulate / paravirtual: the  ``trap`` (+ ``reflect`` if the emulated
                   deprivileged guest kernel runs a     instruction must raise a guest trap)
                   privileged instruction
``guest-trap``     a guest exception or interrupt the   ``reflect``
                   VMM bounces into the guest kernel
                   (every mode but hw-assist)
``bt-call``        binary translation: translated code  ``bt_call`` (+ ``reflect`` if it traps)
                   calls out for a sensitive
                   instruction instead of trapping
``translate``      binary translation: first execution  ``translate_page`` per 4 KiB page
                   of a (new or rewritten) code page
``hcall``          paravirtual: an explicit hypercall   ``hcall`` per call; a ``batch`` also
                                                        ``batch_entry`` per call it carries
                                                        out (the exit is paid once: why
                                                        paravirtual guests batch); a batch
                                                        longer than ``BATCH_LIMIT`` calls
                                                        (``hypercalls.py``) goes on in more
                                                        exits, each paying ``hcall`` again
``mmio``           a device-register access served by   ``vmexit`` (+ ``reflect`` if it faults)
                   the VMM (Python exit path only: the
                   jitted path lets the core's device
                   models serve it, without an exit)
``idle``           ``wfi`` with nothing pending (hw-    ``vmexit``; the wait itself is free
                   assist; in the other modes the
                   guest's ``wfi`` is already their own
                   exit: privileged, bt-call or hcall)
``npf``            a second-stage fault: the first      ``npf``
                   write to a copy-on-write page
``halt``,          the guest stops, powers off,         ``vmexit``
``poweroff``,      reboots, or faults with no trap      (a reboot also pays ``power_on_page``
``reboot``,        vector                               for each page of the VM's RAM, which
``fault``                                               the VMM zeroes before reloading the
                                                        image)
``console``,       host-side housekeeping (a full       0
``breakpoint``     console buffer drained; a debugger
                   stop), not guest events
``world-switch``   the host CPU switches from one VM    ``world_switch``, charged to the VM
                   to another (a pseudo-exit)           switched to
=================  ===================================  =======================================

Every exit handled by the readable Python handlers (``exits="python"``, the default) also pays
``userspace``: the trip from the kernel-level exit to the userspace VMM and back, as a KVM exit
that QEMU must handle. The jitted fast path (``exits="jit"``) handles the frequent exits in
compiled code and does not pay it; the rare ones it leaves to Python do.

The numbers are a model, documented and configurable (``dataclasses.replace(CostModel(), ...)``).
A VL32 instruction costs about one cycle, so they read as "this many simple instructions". What
they keep from real systems are the ratios: a trap into the VMM and its emulation (``trap``)
costs several times a translated call-out that needs no trap (``bt_call``), which is why binary
translation beat trap-and-emulate on kernel-heavy code (Adams & Agesen, ASPLOS 2006); a hardware
VM exit and re-entry (``vmexit``) costs a few hundred cycles more than a bare trap; an exit that
goes out to the userspace VMM (``userspace``) costs several times one handled in the kernel, as
KVM's in-kernel versus QEMU-handled exits; a hypercall (``hcall``) is cheaper than a trap because
the VMM need not decode and emulate an instruction, and each call carried out inside a batch
(``batch_entry``, as a Xen multicall's entries) costs a fraction of a hypercall, because the exit
and the return to the guest are paid once for the whole batch; copying a 4 KiB page on a copy-on-write fault
(``npf``) and translating a code page (``translate_page``) cost in proportion to the page; a world
switch saves and restores a whole vCPU and loses the TLB, about two exits' worth. Overheads are
therefore meaningful as comparisons between techniques and against bare metal, not as absolute
predictions for a real CPU.
"""

from __future__ import annotations

import reprlib
from dataclasses import asdict, dataclass, fields

import numpy as np

MAX_COST = 10**9  # the most modelled cycles one exit kind may cost (see CostModel)


@dataclass(frozen=True)
class CostModel:
    """Modelled cycles per exit kind (change one with ``dataclasses.replace``).

    Every field is a whole number of cycles from 0 to ``MAX_COST`` (10**9, a second of a 1 GHz
    CPU per exit): far above any real exit, and small enough that the int64 cycle counters can
    never overflow (nor a negative cost send time backwards). Anything else raises TypeError
    (not an int; a bool is not) or ValueError (out of range) naming the field.
    """

    trap: int = 300  # a privileged instruction trapping into the VMM and being emulated
    reflect: int = 300  # a guest trap or interrupt bounced into the guest kernel by the VMM
    bt_call: int = 40  # a translated sensitive instruction calling out to the VMM (no trap)
    translate_page: int = 2000  # binary-translating one 4 KiB page of guest code
    hcall: int = 100  # a paravirtual hypercall
    batch_entry: int = 20  # each call a batch hypercall carries out (on top of its one hcall)
    vmexit: int = 400  # a hardware VM exit and re-entry (hw-assist: device, idle, fault)
    npf: int = 600  # a second-stage fault handled by the VMM (e.g. copy-on-write)
    userspace: int = 1200  # extra for an exit handled by the Python (userspace) path
    world_switch: int = 800  # switching the host CPU from one VM to another
    power_on_page: int = 300  # zeroing one 4 KiB page of a VM's RAM when the guest reboots

    def __post_init__(self) -> None:
        """Check every field: an int (numpy ints too, stored as int) from 0 to ``MAX_COST``."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise TypeError(
                    f"CostModel.{f.name} must be a whole number of cycles (an int), not {reprlib.repr(value)}"
                )
            if not 0 <= value <= MAX_COST:
                shown = (
                    repr(value) if abs(value) < 10**30 else f"a {int(value).bit_length()}-bit int"
                )
                raise ValueError(
                    f"CostModel.{f.name} must be from 0 to {MAX_COST:,} cycles, not {shown}"
                )
            object.__setattr__(self, f.name, int(value))

    def as_dict(self) -> dict[str, int]:
        """The model as a plain dict."""
        return asdict(self)
