"""The paravirtual interface: hypercall numbers a guest passes in a0 to ``hcall``.

Arguments go in a1..a3, the result comes back in a0 (negative values are errors). A paravirtualized
guest kernel (``images/minikernel`` built with ``PV=1``) uses these instead of privileged
instructions, so it never traps into the hypervisor.
"""

from __future__ import annotations

HC_VERSION = 0  # -> interface version
HC_CSR_READ = 1  # a1 = csr -> value
HC_CSR_WRITE = 2  # a1 = csr, a2 = value -> 0
HC_ERET = 3  # return from the guest kernel's trap handler (like eret)
HC_IDLE = 4  # wait for an interrupt (like wfi)
HC_TLBFLUSH = 5  # -> 0
HC_POWEROFF = 6  # a1 = exit code; does not return
HC_CONSOLE_WRITE = 7  # a1 = guest-physical buffer, a2 = length -> bytes written
HC_SET_TIMER = 8  # a1 = cycles from now -> 0 (timecmp = now + a1)
HC_BATCH = 9  # a1 = guest-physical address of a2 (num, arg1, arg2) word triples -> count done
HC_CSR_SET = 10  # a1 = csr, a2 = bits -> 0 (csr |= bits)
HC_CSR_CLEAR = 11  # a1 = csr, a2 = bits -> 0 (csr &= ~bits)

VERSION = 1
E_BADCALL = -1  # unknown hypercall number
E_BADARG = -2  # bad argument (unknown CSR, buffer outside guest memory, ...)

NAMES: dict[int, str] = {
    HC_VERSION: "version",
    HC_CSR_READ: "csr_read",
    HC_CSR_WRITE: "csr_write",
    HC_ERET: "eret",
    HC_IDLE: "idle",
    HC_TLBFLUSH: "tlbflush",
    HC_POWEROFF: "poweroff",
    HC_CONSOLE_WRITE: "console_write",
    HC_SET_TIMER: "set_timer",
    HC_BATCH: "batch",
    HC_CSR_SET: "csr_set",
    HC_CSR_CLEAR: "csr_clear",
}
