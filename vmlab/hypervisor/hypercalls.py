"""The paravirtual interface: hypercall numbers a guest passes in a0 to ``hcall``.

Arguments go in a1..a3, the result comes back in a0 (negative values are errors). A paravirtualized
guest kernel (``images/minikernel`` built with ``PV=1``, whose HAL is ``images/minikernel/hal_pv.s``)
uses these instead of privileged instructions, so it never traps into the hypervisor: it *asks*,
and it asks for several things at once where it can. On bare metal ``hcall`` is an illegal
instruction, and so it is in a VM when the guest is in user mode: only the guest kernel may make
hypercalls (from a process, the hypervisor reflects an illegal-instruction trap to the guest
kernel instead).

Addresses passed to a hypercall are guest-physical (the minikernel maps itself 1:1, so its kernel
addresses are guest-physical too). CSR numbers are the ``csr*`` instructions' (``vmlab.isa.arch``).
The CSRs a hypercall reads or writes are the guest's *virtual* ones (the shadow bank), never the
host's: unlike a ``csrr status`` on a machine with ``strict=False``, a hypercall cannot see the
real status register.

====  =============  ====================================================================  =======
a0    name           arguments -> result                                                   batch
====  =============  ====================================================================  =======
0     version        -> VERSION                                                            yes
1     csr_read       a1 = csr -> its value                                                 yes [1]
2     csr_write      a1 = csr, a2 = value -> 0                                             yes
3     eret           like eret: pc = epc, MODE = PMODE, IE = PIE (a0 keeps the number)     no
4     idle           wait until an enabled interrupt is pending (like wfi) -> 0            no
5     tlbflush       -> 0                                                                  yes
6     poweroff       a1 = exit code; does not return                                       no
7     console_write  a1 = buffer, a2 = length -> bytes written (at most CONSOLE_WRITE_MAX)  no
8     set_timer      a1 = cycles from now -> 0 (timecmp = now + a1)                        yes
9     batch          a1 = address of a2 (num, arg1, arg2) word triples -> calls done       no
10    csr_set        a1 = csr, a2 = bits -> 0 (csr = csr OR bits)                          yes
11    csr_clear      a1 = csr, a2 = bits -> 0 (csr = csr AND NOT bits)                     yes
12    trap_info      -> a0 = cause, a1 = epc, a2 = tval, a3 = status                       no
13    eret_regs      a1 = address of 4 words, a2 = pc: epc = pc, eret, a0..a3 = the words  no
====  =============  ====================================================================  =======

[1] a read inside a batch is done, but its value is not returned (only the count of calls done).

"Now" (``csr_read`` of ``cycle``, ``set_timer``) is the guest's cycle counter as the ``hcall``
starts, like a ``csrr cycle`` just before it: the call's own cost (``hcall`` in ``costs.py``) is
not in it, and the guest's clock has moved on by that cost when it runs again.

``console_write`` checks the whole buffer but writes at most ``CONSOLE_WRITE_MAX`` bytes of it (a
page) per call and returns how many it wrote; a guest with more to say calls again from there, as
with a ``write`` system call. So one exit cannot make the host copy a guest's whole RAM.

Errors: an unknown number returns ``E_BADCALL`` (and is counted as ``"unknown"``); an unknown or
read-only CSR, or a buffer or frame that is not inside guest RAM, returns ``E_BADARG`` (and the call
does nothing). A batch stops at the first call that fails or that may not be batched; its result is
the number of calls done before.
It costs one ``hcall`` for the exit plus ``batch_entry`` for each call done (``costs.py``), and
``vm.stats.hypercalls`` counts those calls as ``"batch.<name>"`` beside the one ``"batch"``.

A long batch is carried out in pieces: one exit does at most ``BATCH_LIMIT`` calls, so that a
guest cannot hold the host CPU far past its time slice with one hypercall (a batch can name
hundreds of thousands of calls). If calls remain, the hypervisor returns to the guest without
retiring the ``hcall``, with a0 = ``BATCH_CONTINUED | calls done so far``, a1 = the address of
the next triple and a2 = the triples left; the guest executes the same ``hcall`` again when it is
next scheduled (or after an interrupt handler that kept a0..a2, as any must), and the batch goes
on where it stopped: a hypercall *continuation*, as in Xen. The last piece puts a1 and a2 back as
the guest passed them and returns all the calls done in a0, so the guest sees what one long exit
would have given it (only time has passed between the pieces: a ``set_timer`` in a later piece
counts from a later "now"). Each piece is an exit and pays like one: ``hcall`` plus
``batch_entry`` per call it did, and is counted as one more ``"batch"``. A guest issues
``HC_BATCH`` (9); an a0 with ``BATCH_CONTINUED`` set is a batch in progress (do not forge one:
it would only skew the batch's own result and a1, a2).

How the minikernel uses them (``hal_pv.s``), per trap from a process:

* ``trap_info`` (12) replaces the trap entry's four privileged reads (status, epc, cause, tval) by
  one exit. It returns four values, in a0..a3, so the guest parks its own a0..a3 first.
* ``eret_regs`` (13) replaces ``csrw epc`` + ``eret`` by one exit. Any hypercall needs a0 for its
  number (and here a1, a2 for its arguments), so a guest returning to user mode cannot restore the
  user's a0..a2 itself before the call: it passes where they are saved (the PCB's a0..a3 words are
  consecutive) and the hypervisor loads them on the way out, like Xen's ``iret`` hypercall.
* ``batch`` (9) sets the timer's two compare words in one exit (and ptbr + status at boot).
* ``console_write`` (7) prints a whole line in one exit instead of one device exit per byte.
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
HC_TRAP_INFO = 12  # -> a0 = cause, a1 = epc, a2 = tval, a3 = status (one exit instead of four)
HC_ERET_REGS = 13  # a1 = guest-physical address of 4 words, a2 = pc: epc = pc, eret, a0..a3 = words

CONSOLE_WRITE_MAX = 4096  # most bytes one console_write writes (it returns how many it wrote)
BATCH_LIMIT = 128  # most calls one exit of a batch carries out; the rest continue in new exits
BATCH_CONTINUED = 1 << 31  # a0 of a batch in progress: this bit | the calls it has done so far

VERSION = 2  # 2: trap_info and eret_regs added
E_BADCALL = -1  # unknown hypercall number
E_BADARG = -2  # bad argument (unknown CSR, buffer outside guest memory, ...)

UNKNOWN = "unknown"  # the name every unknown number is counted under in vm.stats.hypercalls


def name(num: int) -> str:
    """The name a hypercall number is counted under (every unknown number as ``UNKNOWN``).

    One name for all unknown numbers keeps the count table small: a guest trying every number
    must not grow the host's memory one entry at a time.
    """
    return NAMES.get(num, UNKNOWN)


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
    HC_TRAP_INFO: "trap_info",
    HC_ERET_REGS: "eret_regs",
}
