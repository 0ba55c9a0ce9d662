"""Readable Python handlers for every VM exit (the "userspace" path of the hypervisor).

Each handler takes the VM whose vCPU exited, does what a VMM does for that exit (emulate a
privileged instruction on the virtual control registers, reflect a trap into the guest kernel,
serve a device register, resolve a copy-on-write fault, ...) and returns the modelled cycles the
exit cost (``CostModel``). Architectural effects use the core's own primitives (``read_csr``,
``write_csr``, ``enter_trap``, the device models), so emulation and hardware cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core import cpu
from ..core.decode import CYCLES
from ..core.layout import (
    DEV_PWR_EXIT_CODE,
    EXIT_POWEROFF,
    EXIT_REBOOT,
    P2M_V,
    ST_EXIT,
    ST_GCSR,
    ST_PC,
)
from ..core.mmu import tlb_flush
from ..isa.arch import (
    A0,
    A1,
    A2,
    A3,
    CAUSE_ACCESS_FAULT,
    CAUSE_ILLEGAL,
    CAUSE_NAMES,
    CAUSE_PRIVILEGED,
    CSR_CAUSE,
    CSR_CYCLE,
    CSR_EPC,
    CSR_IE,
    CSR_INSTRET,
    CSR_NAMES,
    CSR_STATUS,
    CSR_TIMECMP,
    CSR_TVAL,
    IRQ_TIMER,
    PAGE_SIZE,
    ST_IE,
    ST_MODE,
    ST_PIE,
    ST_PMODE,
)
from ..isa.encoding import decode
from ..isa.table import OPCODE
from . import hypercalls as hc
from .host import HostMemoryError

if TYPE_CHECKING:
    from .vm import VM

M32 = 0xFFFFFFFF
G = ST_GCSR  # the guest's (shadow) control-register bank


def count(vm: VM, word: int) -> None:
    """Count an instruction the hypervisor executed (or that trapped) on the guest's behalf."""
    st = vm.cpu.st
    st[G + CSR_INSTRET] += 1
    st[G + CSR_CYCLE] += int(CYCLES[word & 0xFF])
    vm.stats.instructions += 1
    vm.stats.guest_cycles += int(CYCLES[word & 0xFF])


def retire(vm: VM, word: int) -> None:
    """Count an instruction the hypervisor executed on the guest's behalf, and step past it."""
    count(vm, word)
    vm.cpu.st[ST_PC] = (int(vm.cpu.st[ST_PC]) + 4) & M32


def no_vector_message(cause: int, tval: int, pc: int) -> str:
    """What a VM says when its guest takes a trap with no trap vector (every technique alike).

    >>> no_vector_message(11, 0x80000000, 0x1004)
    'unhandled guest access fault (tval 0x80000000) at pc 0x00001004: the guest has no trap ...'
    """
    name = CAUSE_NAMES.get(cause, f"trap (cause {cause:#x})")
    return (
        f"unhandled guest {name} (tval {tval:#010x}) at pc {pc:#010x}: "
        "the guest has no trap vector (tvec = 0)"
    )


def reflect(vm: VM, cause: int, tval: int) -> int:
    """Deliver a trap or interrupt to the guest kernel, as the hardware would have."""
    st = vm.cpu.st
    vec = cpu.enter_trap(st, G, int(st[ST_PC]), cause, tval)
    if vec < 0:
        vm._crash(no_vector_message(cause, tval, int(st[ST_PC])))
        return vm.hv.costs.reflect
    st[ST_PC] = vec
    return vm.hv.costs.reflect


def handle_guest_trap(vm: VM) -> int:
    """EXIT_GUEST_TRAP: a guest exception or interrupt the VMM must bounce into the guest kernel."""
    st = vm.cpu.st
    return reflect(vm, int(st[ST_EXIT + 2]), int(st[ST_EXIT + 3]))


def emulate_privileged(vm: VM, word: int, cost: int) -> int:
    """Execute one privileged instruction on the guest's virtual control registers."""
    st = vm.cpu.st
    regs = vm.cpu.regs
    d = decode(word)
    if d is None:
        count(vm, word)  # a faulting instruction counts, as in the core
        return cost + reflect(vm, CAUSE_ILLEGAL, word)
    name = d.name
    # as the core reads them: the counters include the reading instruction itself (its cycles
    # and its retirement), which the core left out when it exited before retiring it
    cyc = int(st[G + CSR_CYCLE]) + int(CYCLES[word & 0xFF])
    if name == "csrr":
        value = cpu.read_csr(st, G, d.imm, cyc, 1)
        if d.rd:  # r0 stays zero
            regs[d.rd] = value
    elif name in ("csrw", "csrrw", "csrs", "csrc"):
        old = cpu.read_csr(st, G, d.imm, cyc, 1)
        value = int(regs[d.rs1]) if d.rs1 else 0
        if name == "csrs":
            value = old | value
        elif name == "csrc":
            value = old & ~value & M32
        if not cpu.write_csr(st, G, d.imm, value):  # read-only: an illegal instruction
            count(vm, word)  # a faulting instruction counts, as in the core
            return cost + reflect(vm, CAUSE_ILLEGAL, word)
        if name == "csrrw" and d.rd:
            regs[d.rd] = old
    elif name == "eret":
        s = int(st[G + CSR_STATUS])
        mode = (s & ST_PMODE) >> 2
        ie = (s & ST_PIE) >> 2
        st[G + CSR_STATUS] = (s & ~(ST_MODE | ST_IE)) | mode | ie
        st[G + CSR_INSTRET] += 1
        st[G + CSR_CYCLE] += int(CYCLES[word & 0xFF])
        vm.stats.instructions += 1
        vm.stats.guest_cycles += int(CYCLES[word & 0xFF])  # the host clock follows (hv.run)
        st[ST_PC] = int(st[G + CSR_EPC])
        return cost
    elif name == "wfi":
        retire(vm, word)
        vm._idle()
        return cost
    elif name == "halt":
        count(vm, word)  # (the pc stays on the halt, as on bare metal and with hw-assist)
        vm._guest_stopped("halt", int(regs[A0]))
        return cost
    elif name == "tlbflush":
        tlb_flush(st)
    else:  # not privileged: cannot exit here
        raise AssertionError(f"unexpected privileged exit for {name}")
    retire(vm, word)
    return cost


def handle_priv(vm: VM) -> int:
    """EXIT_PRIV (trap-and-emulate): the deprivileged guest kernel ran a privileged instruction."""
    return emulate_privileged(vm, int(vm.cpu.st[ST_EXIT + 2]), vm.hv.costs.trap)


def handle_bt(vm: VM) -> int:
    """EXIT_BT: translated code called out to the VMM instead of running a sensitive instruction."""
    st = vm.cpu.st
    word = int(st[ST_EXIT + 2])
    if not st[G + CSR_STATUS] & ST_MODE:  # guest user mode: what the hardware would do there
        d = decode(word)
        if d is not None and d.name == "csrr" and d.imm == CSR_STATUS and not vm.strict:
            if d.rd:  # (r0 stays zero)
                vm.cpu.regs[d.rd] = int(st[G + CSR_STATUS]) & M32
            retire(vm, word)
            return vm.hv.costs.bt_call
        count(vm, word)  # a faulting instruction counts, as in the core
        return vm.hv.costs.bt_call + reflect(vm, CAUSE_PRIVILEGED, word)
    return emulate_privileged(vm, word, vm.hv.costs.bt_call)


def handle_hcall(vm: VM) -> int:
    """EXIT_HCALL: a paravirtual request (number in a0, arguments in a1..a3, result in a0).

    The calls and their arguments are documented in ``hypercalls.py``. Every call costs one
    ``costs.hcall`` (plus the userspace trip on this path); a ``batch`` also costs
    ``costs.batch_entry`` for each call it carries out, which is still far less than one exit per
    call: that is why a paravirtual guest batches. A long batch is carried out in pieces of at
    most ``hc.BATCH_LIMIT`` calls, one exit each (``handle_batch``), so that one hypercall cannot
    hold the CPU far past its time slice. ``vm.stats.hypercalls`` counts each call by name (each
    piece of a batch as one ``"batch"``), and the calls done inside a batch as
    ``"batch.<name>"`` (so the names without a dot still add up to the hypercall exits).

    Only the guest *kernel* may make hypercalls: they are its privileged operations. An ``hcall``
    from the guest's user mode is what it is on bare metal, an illegal instruction, reflected into
    the guest kernel (which kills the process); otherwise any process of a paravirtual guest could
    power the VM off or rewrite its kernel's trap vector and page tables.
    """
    regs = vm.cpu.regs
    st = vm.cpu.st
    num = int(regs[A0])
    word = OPCODE["hcall"]
    cost = vm.hv.costs.hcall
    calls = vm.stats.hypercalls
    if not st[G + CSR_STATUS] & ST_MODE:
        count(vm, word)  # a faulting instruction counts, as in the core
        return cost + reflect(vm, CAUSE_ILLEGAL, word)
    if num & hc.BATCH_CONTINUED:  # a batch the hypervisor split: its next piece
        calls["batch"] = calls.get("batch", 0) + 1
        return handle_batch(vm, num & ~hc.BATCH_CONTINUED)
    key = hc.name(num)
    calls[key] = calls.get(key, 0) + 1
    if num == hc.HC_BATCH:
        return handle_batch(vm, 0)
    if num == hc.HC_ERET:
        return emulate_privileged(vm, OPCODE["eret"], cost)
    if num == hc.HC_TRAP_INFO:  # the guest's trap CSRs, as the trap left them
        regs[A0] = int(st[G + CSR_CAUSE]) & M32
        regs[A1] = int(st[G + CSR_EPC]) & M32
        regs[A2] = int(st[G + CSR_TVAL]) & M32
        regs[A3] = int(st[G + CSR_STATUS]) & M32
        retire(vm, word)
        return cost
    if num == hc.HC_ERET_REGS:  # eret to a2, loading a0..a3 from the 4 words at a1
        frame = vm.read_guest(int(regs[A1]), 16)
        if frame is None:
            regs[A0] = hc.E_BADARG & M32
            retire(vm, word)
            return cost
        cpu.write_csr(st, G, CSR_EPC, int(regs[A2]))
        regs[A0 : A3 + 1] = np.frombuffer(frame, dtype="<u4")
        return emulate_privileged(vm, OPCODE["eret"], cost)
    if num == hc.HC_IDLE:
        retire(vm, word)
        regs[A0] = 0
        vm._idle()
        return cost
    if num == hc.HC_POWEROFF:
        retire(vm, word)
        vm._guest_stopped("poweroff", int(regs[A1]))
        return cost
    if num == hc.HC_CONSOLE_WRITE:
        buffer, length = int(regs[A1]), int(regs[A2])
        if vm.hv.UNSAFE_unchecked_hypercall_buffers:  # the planted bug: no bounds check
            data = vm.read_host_unchecked(buffer, min(length, hc.CONSOLE_WRITE_MAX))
        elif not vm.in_guest_ram(buffer, length):
            data = None
        else:
            data = vm.read_guest(buffer, min(length, hc.CONSOLE_WRITE_MAX))
        if data is None:
            regs[A0] = hc.E_BADARG & M32
        else:
            vm.console_write(data)
            regs[A0] = len(data)
        retire(vm, word)
        return cost
    result = _simple_call(vm, num, int(regs[A1]), int(regs[A2]))
    regs[A0] = (hc.E_BADCALL if result is None else result) & M32
    retire(vm, word)
    return cost


def handle_batch(vm: VM, before: int) -> int:
    """One exit's piece of a ``batch`` hypercall: at most ``hc.BATCH_LIMIT`` of its calls.

    ``before`` is how many calls earlier pieces did (0 for a new batch). If calls remain after
    this piece, the hcall is not retired: the guest's a0..a2 say where the batch goes on (a0 =
    ``BATCH_CONTINUED`` | calls done, a1 = next triple, a2 = triples left) and the guest runs the
    same ``hcall`` again when it is next scheduled, as a Xen hypercall continuation. The last
    piece gives a1 and a2 back as the guest passed them, a0 = all the calls done, and retires
    the hcall once. Each piece is an exit: ``hcall`` plus ``batch_entry`` per call it did.
    """
    regs = vm.cpu.regs
    calls = vm.stats.hypercalls
    base, left = int(regs[A1]), int(regs[A2])
    done = 0
    stopped = False
    for i in range(min(left, hc.BATCH_LIMIT)):
        triple = vm.read_guest(base + 12 * i, 12)
        if triple is None:
            stopped = True
            break
        call, a, b = np.frombuffer(triple, dtype="<u4").tolist()
        result = _simple_call(vm, call, a, b)
        if result is None or result < 0:  # not batchable, or failed: stop here
            stopped = True
            break
        name = f"batch.{hc.NAMES[call]}"  # a call _simple_call did has a name
        calls[name] = calls.get(name, 0) + 1
        done += 1
    cost = vm.hv.costs.hcall + done * vm.hv.costs.batch_entry
    total = before + done
    if not stopped and done < left:  # more to do: continue in a new exit, pc on the hcall
        regs[A0] = (hc.BATCH_CONTINUED | total) & M32
        regs[A1] = (base + 12 * done) & M32  # inside guest RAM: the triples before were
        regs[A2] = left - done
        return cost
    regs[A0] = total & M32
    regs[A1] = (base - 12 * before) & M32  # as the guest passed them
    regs[A2] = (left + before) & M32
    retire(vm, OPCODE["hcall"])
    return cost


def _simple_call(vm: VM, num: int, a: int, b: int) -> int | None:
    """Hypercalls that may appear in a batch; None for an unknown or failed one."""
    st = vm.cpu.st
    cyc = int(st[G + CSR_CYCLE])
    if num == hc.HC_VERSION:
        return hc.VERSION
    if num in (hc.HC_CSR_READ, hc.HC_CSR_WRITE, hc.HC_CSR_SET, hc.HC_CSR_CLEAR):
        if a not in CSR_NAMES:
            return hc.E_BADARG
        if num == hc.HC_CSR_READ:
            return cpu.read_csr(st, G, a, cyc, 0)
        old = cpu.read_csr(st, G, a, cyc, 0)
        value = b if num == hc.HC_CSR_WRITE else (old | b if num == hc.HC_CSR_SET else old & ~b)
        return 0 if cpu.write_csr(st, G, a, value & M32) else hc.E_BADARG
    if num == hc.HC_TLBFLUSH:
        tlb_flush(st)
        return 0
    if num == hc.HC_SET_TIMER:
        st[G + CSR_TIMECMP] = cyc + (a & M32)
        return 0
    return None


def handle_mmio(vm: VM) -> int:
    """EXIT_MMIO: serve a guest's device-register access with the device models, in Python."""
    st = vm.cpu.st
    regs = vm.cpu.regs
    pc = int(st[ST_PC])
    gpa, is_write, value = int(st[ST_EXIT + 2]), int(st[ST_EXIT + 3]), int(st[ST_EXIT + 4])
    word = vm.read_guest_word_at_pc(pc)
    cyc = int(st[G + CSR_CYCLE])
    hv = vm.hv
    cost = hv.costs.vmexit
    if is_write:
        while True:
            r = cpu.mmio_write(
                st,
                G,
                gpa,
                value,
                cyc,
                hv.memory.mem,
                hv.memory.dcache,
                hv.memory.dirty,
                vm.p2m,
                vm.console.out_buffer,
                vm.disk_data(),
                True,
            )
            if r == cpu.CONSOLE_FULL:
                vm.console.drain()
                continue
            if r == cpu.FAULT_NPF:  # a disk transfer into a page shared copy-on-write: copy
                cost += hv.costs.npf  # it, then the write again (as the core's npf exit does)
                if make_writable(vm, int(st[ST_EXIT + 2]), int(st[ST_EXIT + 3])):
                    continue
                return cost  # not retired: the store runs again when the VM goes on
            break
        if r == cpu.STOP_POWER:
            retire(vm, word)
            reason = int(st[ST_EXIT + 2])
            if reason == EXIT_POWEROFF:
                vm._guest_stopped("poweroff", int(st[DEV_PWR_EXIT_CODE]))
            elif reason == EXIT_REBOOT:
                cost += vm._guest_reboot()
            return cost
        if r < 0:
            count(vm, word)  # a trapping instruction counts, as in the core
            return cost + reflect(vm, CAUSE_ACCESS_FAULT, _access_address(vm, word))
        st[G + CSR_CYCLE] += r
        vm.stats.guest_cycles += r
    else:
        v = cpu.mmio_read(st, G, gpa, cyc, vm.console.in_buffer, vm.disk_data())
        if v < 0:
            count(vm, word)  # a trapping instruction counts, as in the core
            return cost + reflect(vm, CAUSE_ACCESS_FAULT, _access_address(vm, word))
        if value:
            regs[value] = v & M32
    retire(vm, word)
    return cost


def _access_address(vm: VM, word: int) -> int:
    """The virtual address the load or store ``word`` accessed (a fault's tval, as the core's).

    The exit reports the guest-physical address; the instruction has not retired, so its
    base register still holds what it had.
    """
    d = decode(word)
    assert d is not None  # (the core decoded it to make this access)
    return (int(vm.cpu.regs[d.rs1]) + d.imm) & M32


def handle_npf(vm: VM) -> int:
    """EXIT_NPF: copy a shared (copy-on-write) page on its first write; anything else is fatal."""
    st = vm.cpu.st
    make_writable(vm, int(st[ST_EXIT + 2]), int(st[ST_EXIT + 3]))
    return vm.hv.costs.npf


def make_writable(vm: VM, gpa: int, access: int) -> bool:
    """A second-stage fault at ``gpa``: True once a write there can be retried.

    A write to a page shared copy-on-write gets a private copy. With no host frame for it the
    VM is paused (only it waits; the write is retried on resume); any other fault stops it.
    """
    gfn = gpa // PAGE_SIZE
    if gpa < vm.memory_size and access == 2 and vm.p2m[gfn] & P2M_V:
        try:
            vm._copy_on_write(gfn)
            return True
        except HostMemoryError as exc:
            vm._pause_for_memory(str(exc))
            return False
    vm._crash(f"second-stage fault at guest-physical {gpa:#010x} (access {access})")
    return False


def handle_idle(vm: VM) -> int:
    """EXIT_IDLE: the guest waits for an interrupt; it costs nothing until one can arrive."""
    vm._idle()
    return vm.hv.costs.vmexit


def timer_armed(st: np.ndarray) -> bool:
    """Whether the guest's timer can wake it."""
    return bool(st[G + CSR_IE] & (1 << IRQ_TIMER)) and int(st[G + CSR_TIMECMP]) < (1 << 62)


__all__ = [
    "emulate_privileged",
    "handle_batch",
    "handle_bt",
    "handle_guest_trap",
    "handle_hcall",
    "handle_idle",
    "handle_mmio",
    "handle_npf",
    "handle_priv",
    "no_vector_message",
    "reflect",
    "retire",
    "timer_armed",
]
