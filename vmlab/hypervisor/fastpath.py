"""The jitted fast path for VM exits: the frequent ones handled in compiled code ("in-kernel").

A VM created with ``exits="jit"`` runs its slices through :func:`run_vcpu`, one jitted loop that
calls the core (``cpu.run``) again and again and handles the frequent exits itself, the way KVM
handles most exits inside the kernel instead of returning to the userspace VMM:

=====================  ==========================================  ===========================
exit                   jitted twin                                 Python handler (``exits``)
=====================  ==========================================  ===========================
``EXIT_PRIV``          :func:`emulate_privileged_jit`              ``handle_priv``
``EXIT_BT``            :func:`handle_bt_jit`                       ``handle_bt``
``EXIT_TRANSLATE``     ``bt.translate_page`` (already jitted)      ``VM._handle_exit``
``EXIT_GUEST_TRAP``    :func:`reflect_jit`                         ``handle_guest_trap``
``EXIT_HCALL``         :func:`handle_hcall_jit` (no host I/O)      ``handle_hcall``
=====================  ==========================================  ===========================

Each twin has the same architectural effect and charges the same modelled cycles (``CostModel``)
as its Python handler, except ``costs.userspace``: an exit that never leaves compiled code does
not pay for the trip to userspace. That is the difference the two paths exist to show.

Everything else leaves the loop *before changing any state*: wfi/idle, halt, power-off, reboot,
second-stage faults, guest faults, a full console, the idle, power-off, batch and console-write
hypercalls, unknown hypercalls, an unaligned ``eret_regs`` frame, a trap with no trap vector to
reflect it to. :func:`run_slice_jit` hands it to ``VM._handle_exit`` exactly as the Python path
does, then enters the loop again until the slice is used up. Hypercalls handled here: version,
csr_read/write/set/clear, eret, tlbflush, set_timer, trap_info, eret_regs (and the illegal-
instruction reflection of an ``hcall`` from guest user mode).

Hot path: :func:`run_vcpu`'s loop and the handlers it calls. They take arrays and ints only, and
they never allocate or call into Python.

Accounting: the loop counts instructions, guest and hypervisor cycles, exits by reason (count and
modelled cycles) and hypercalls by number in a small int64 array (``C_*`` offsets) that
:func:`run_slice_jit` adds to ``vm.stats``. Compiled code has no clock, so the host time of jitted
exits is an *estimate*: each call's measured wall-clock time is shared between the guest's
execution and the exits it handled in proportion to their modelled cycles. Exits handled in
Python are timed individually, as on the Python path. :func:`exit_cost_microbenchmark` measures
the real host cost of one exit on each path.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from .._jit import kernel
from ..core import cpu
from ..core.decode import CSR_VALID, CYCLES, OP_ILLEGAL, decode
from ..core.layout import (
    EXIT_BT,
    EXIT_BUDGET,
    EXIT_GUEST_TRAP,
    EXIT_HCALL,
    EXIT_NAMES,
    EXIT_PRIV,
    EXIT_TRANSLATE,
    NUM_EXITS,
    P2M_SHIFT,
    ST_EXIT,
    ST_GCSR,
    ST_PC,
    ST_RAMSIZE,
    ST_STRICT,
)
from ..core.mmu import tlb_flush
from ..isa.arch import (
    A0,
    A1,
    A2,
    A3,
    CAUSE_ILLEGAL,
    CAUSE_PRIVILEGED,
    CSR_CAUSE,
    CSR_CYCLE,
    CSR_EPC,
    CSR_INSTRET,
    CSR_STATUS,
    CSR_TIMECMP,
    CSR_TVAL,
    CSR_TVEC,
    NUM_CSRS,
    ST_IE,
    ST_MODE,
    ST_PIE,
    ST_PMODE,
)
from ..isa.table import OPCODE
from . import hypercalls as hc
from .bt import translate_page
from .costs import CostModel

if TYPE_CHECKING:
    from ..image import Image
    from .vm import VM

M32 = 0xFFFFFFFF
G = ST_GCSR  # the guest's (shadow) control-register bank
NO_LIMIT = 1 << 62
PYTHON = -(1 << 62)  # a handler's answer: "not here, in Python" (it changed nothing)
YIELD = -1  # run_vcpu's answer: "an exit took no time; call again" (so that Ctrl-C gets a look)

OP_CSRR = OPCODE["csrr"]
OP_CSRW = OPCODE["csrw"]
OP_CSRRW = OPCODE["csrrw"]
OP_CSRS = OPCODE["csrs"]
OP_CSRC = OPCODE["csrc"]
OP_ERET = OPCODE["eret"]
OP_TLBFLUSH = OPCODE["tlbflush"]
OP_HCALL = OPCODE["hcall"]

# --- the cost-model array the loop reads (built from a CostModel by cost_array) --------------
K_TRAP, K_REFLECT, K_BT_CALL, K_TRANSLATE_PAGE, K_HCALL = range(5)
K_FIELDS = ("trap", "reflect", "bt_call", "translate_page", "hcall")

# --- the counters array the loop fills (int64; run_slice_jit folds it into vm.stats) ---------
C_USED = 0  # host cycles this call used (guest instructions + exit costs)
C_INSTRUCTIONS = 1  # guest instructions retired (by the core and by the handlers)
C_GUEST_CYCLES = 2  # modelled cycles of those instructions
C_HYPERVISOR_CYCLES = 3  # modelled cycles charged for jitted exits
C_TRANSLATED = 4  # code pages binary-translated
C_EXIT_COUNT = 16  # NUM_EXITS counters: jitted exits by reason
C_EXIT_CYCLES = C_EXIT_COUNT + NUM_EXITS  # their modelled cycles, by reason
C_HCALLS = C_EXIT_CYCLES + NUM_EXITS  # 16 counters: jitted hypercalls by number
NUM_HCALL_SLOTS = 16
NUM_COUNTERS = C_HCALLS + NUM_HCALL_SLOTS


def cost_array(costs: CostModel) -> np.ndarray:
    """The cost model as the int64 array ``run_vcpu`` reads (``K_*`` offsets)."""
    return np.array([getattr(costs, name) for name in K_FIELDS], dtype=np.int64)


# ---- the jitted twins of the handlers in exits.py ---------------------------------------------
@kernel
def count_jit(st: np.ndarray, word: int, cnt: np.ndarray) -> None:
    """Twin of ``exits.count``: count an instruction emulated (or that trapped) for the guest."""
    c = CYCLES[word & 0xFF]
    st[G + CSR_INSTRET] += 1
    st[G + CSR_CYCLE] += c
    cnt[C_INSTRUCTIONS] += 1
    cnt[C_GUEST_CYCLES] += c


@kernel
def retire_jit(st: np.ndarray, word: int, cnt: np.ndarray) -> None:
    """Twin of ``exits.retire``: count an emulated instruction and step past it."""
    count_jit(st, word, cnt)
    st[ST_PC] = (st[ST_PC] + 4) & M32


@kernel
def reflect_jit(st: np.ndarray, cause: int, tval: int) -> bool:
    """Twin of ``exits.reflect``; False (nothing changed) if the guest has no trap vector."""
    if st[G + CSR_TVEC] == 0:
        return False  # the Python handler crashes the VM with a readable message
    st[ST_PC] = cpu.enter_trap(st, G, st[ST_PC], cause, tval)
    return True


@kernel
def eret_jit(st: np.ndarray, word: int, cnt: np.ndarray) -> None:
    """The ``eret`` branch of ``exits.emulate_privileged``: back to epc, mode and ie restored."""
    s = st[G + CSR_STATUS]
    mode = (s & ST_PMODE) >> 2
    ie = (s & ST_PIE) >> 2
    st[G + CSR_STATUS] = (s & ~(ST_MODE | ST_IE)) | mode | ie
    c = CYCLES[word & 0xFF]
    st[G + CSR_INSTRET] += 1
    st[G + CSR_CYCLE] += c
    cnt[C_INSTRUCTIONS] += 1
    cnt[C_GUEST_CYCLES] += c
    st[ST_PC] = st[G + CSR_EPC]


@kernel
def emulate_privileged_jit(
    regs: np.ndarray, st: np.ndarray, word: int, cost: int, costs: np.ndarray, cnt: np.ndarray
) -> int:
    """Twin of ``exits.emulate_privileged``: its modelled cost, or PYTHON for wfi/halt/no vector."""
    d = decode(word, -1, st)  # pa -1: no host breakpoint can match
    op = d & 0xFF
    rd = (d >> 8) & 0xFF  # r0 is decoded as the scratch slot, so a write to it is dropped
    rs1 = (d >> 16) & 0xFF
    num = d >> 32
    cyc = st[G + CSR_CYCLE] + CYCLES[word & 0xFF]  # counters include the reading instruction
    if op == OP_ILLEGAL:
        if not reflect_jit(st, CAUSE_ILLEGAL, word):
            return PYTHON
        count_jit(st, word, cnt)  # a faulting instruction counts, as in the core
        return cost + costs[K_REFLECT]
    if op == OP_CSRR:
        regs[rd] = cpu.read_csr(st, G, num, cyc, 1)
    elif op == OP_CSRW or op == OP_CSRRW or op == OP_CSRS or op == OP_CSRC:
        old = cpu.read_csr(st, G, num, cyc, 1)
        value = regs[rs1]
        if op == OP_CSRS:
            value = old | value
        elif op == OP_CSRC:
            value = old & (M32 ^ value)
        if not cpu.write_csr(st, G, num, value):  # read-only: refused, nothing written
            if not reflect_jit(st, CAUSE_ILLEGAL, word):
                return PYTHON
            count_jit(st, word, cnt)  # a faulting instruction counts, as in the core
            return cost + costs[K_REFLECT]
        if op == OP_CSRRW:
            regs[rd] = old
    elif op == OP_ERET:
        eret_jit(st, word, cnt)
        return cost
    elif op == OP_TLBFLUSH:
        tlb_flush(st)
    else:  # wfi and halt change the VM's run state: the Python handler does that
        return PYTHON
    retire_jit(st, word, cnt)
    return cost


@kernel
def handle_bt_jit(regs: np.ndarray, st: np.ndarray, costs: np.ndarray, cnt: np.ndarray) -> int:
    """Twin of ``exits.handle_bt``: a translated sensitive instruction called out to the VMM."""
    word = st[ST_EXIT + 2]
    if st[G + CSR_STATUS] & ST_MODE == 0:  # guest user mode: what the hardware would do there
        d = decode(word, -1, st)
        if d & 0xFF == OP_CSRR and d >> 32 == CSR_STATUS and st[ST_STRICT] == 0:
            regs[(d >> 8) & 0xFF] = st[G + CSR_STATUS] & M32
            retire_jit(st, word, cnt)
            return costs[K_BT_CALL]
        if not reflect_jit(st, CAUSE_PRIVILEGED, word):
            return PYTHON
        count_jit(st, word, cnt)  # a faulting instruction counts, as in the core
        return costs[K_BT_CALL] + costs[K_REFLECT]
    return emulate_privileged_jit(regs, st, word, costs[K_BT_CALL], costs, cnt)


@kernel
def simple_call_jit(st: np.ndarray, num: int, a: int, b: int) -> int:
    """Twin of ``exits._simple_call`` for one call: its result, or PYTHON if it is not simple."""
    cyc = st[G + CSR_CYCLE]
    if num == hc.HC_VERSION:
        return hc.VERSION
    if (
        num == hc.HC_CSR_READ
        or num == hc.HC_CSR_WRITE
        or num == hc.HC_CSR_SET
        or num == hc.HC_CSR_CLEAR
    ):
        if a >= NUM_CSRS or CSR_VALID[a] == 0:
            return hc.E_BADARG
        old = cpu.read_csr(st, G, a, cyc, 0)
        if num == hc.HC_CSR_READ:
            return old
        if num == hc.HC_CSR_WRITE:
            value = b
        elif num == hc.HC_CSR_SET:
            value = old | b
        else:
            value = old & (M32 ^ b)
        return 0 if cpu.write_csr(st, G, a, value & M32) else hc.E_BADARG
    if num == hc.HC_TLBFLUSH:
        tlb_flush(st)
        return 0
    if num == hc.HC_SET_TIMER:
        st[G + CSR_TIMECMP] = cyc + (a & M32)
        return 0
    return PYTHON


@kernel
def frame_check_jit(st: np.ndarray, gpa: int) -> int:
    """Whether 16 bytes at ``gpa`` can be read here: 1, 0 if outside RAM, PYTHON if unaligned."""
    if gpa + 16 > st[ST_RAMSIZE]:
        return 0  # what vm.read_guest answers with None
    if gpa & 3:
        return PYTHON  # a frame across words: vm.read_guest handles any alignment
    return 1


@kernel
def read_guest_word_jit(mem: np.ndarray, p2m: np.ndarray, gpa: int) -> int:
    """The guest-physical word at ``gpa`` (4-aligned, inside RAM), through the second-stage map."""
    return int(mem[((p2m[gpa >> 12] >> P2M_SHIFT) << 10) + ((gpa & 0xFFF) >> 2)])


@kernel
def handle_hcall_jit(
    regs: np.ndarray,
    st: np.ndarray,
    mem: np.ndarray,
    p2m: np.ndarray,
    costs: np.ndarray,
    cnt: np.ndarray,
) -> int:
    """Twin of ``exits.handle_hcall`` for the calls without host I/O; PYTHON for the others."""
    num = regs[A0]
    if st[G + CSR_STATUS] & ST_MODE == 0:  # from guest user mode: an illegal instruction
        if not reflect_jit(st, CAUSE_ILLEGAL, OP_HCALL):
            return PYTHON
        count_jit(st, OP_HCALL, cnt)  # a faulting instruction counts, as in the core
        return costs[K_HCALL] + costs[K_REFLECT]
    if num == hc.HC_ERET:
        eret_jit(st, OP_ERET, cnt)
    elif num == hc.HC_TRAP_INFO:
        regs[A0] = st[G + CSR_CAUSE] & M32
        regs[A1] = st[G + CSR_EPC] & M32
        regs[A2] = st[G + CSR_TVAL] & M32
        regs[A3] = st[G + CSR_STATUS] & M32
        retire_jit(st, OP_HCALL, cnt)
    elif num == hc.HC_ERET_REGS:
        gpa = regs[A1]
        ok = frame_check_jit(st, gpa)
        if ok == PYTHON:
            return PYTHON
        if ok == 0:
            regs[A0] = hc.E_BADARG & M32
            retire_jit(st, OP_HCALL, cnt)
        else:
            cpu.write_csr(st, G, CSR_EPC, regs[A2])
            for i in range(4):
                regs[A0 + i] = read_guest_word_jit(mem, p2m, gpa + 4 * i)
            eret_jit(st, OP_ERET, cnt)
    else:
        result = simple_call_jit(st, num, regs[A1], regs[A2])
        if result == PYTHON:  # batch, idle, poweroff, console write, unknown numbers
            return PYTHON
        regs[A0] = result & M32
        retire_jit(st, OP_HCALL, cnt)
    cnt[C_HCALLS + num] += 1
    return costs[K_HCALL]


@kernel
def handle_exit_jit(
    reason: int,
    regs: np.ndarray,
    st: np.ndarray,
    mem: np.ndarray,
    dcache: np.ndarray,
    p2m: np.ndarray,
    costs: np.ndarray,
    cnt: np.ndarray,
) -> int:
    """Twin of ``VM._handle_exit`` for the frequent exits: the modelled cost, or PYTHON."""
    if reason == EXIT_PRIV:
        return emulate_privileged_jit(regs, st, st[ST_EXIT + 2], costs[K_TRAP], costs, cnt)
    if reason == EXIT_BT:
        return handle_bt_jit(regs, st, costs, cnt)
    if reason == EXIT_GUEST_TRAP:
        if not reflect_jit(st, st[ST_EXIT + 2], st[ST_EXIT + 3]):
            return PYTHON
        return costs[K_REFLECT]
    if reason == EXIT_HCALL:
        return handle_hcall_jit(regs, st, mem, p2m, costs, cnt)
    if reason == EXIT_TRANSLATE:
        translate_page(mem, dcache, st, st[ST_EXIT + 2])
        cnt[C_TRANSLATED] += 1
        return costs[K_TRANSLATE_PAGE]
    return PYTHON


@kernel
def run_vcpu(
    regs: np.ndarray,
    st: np.ndarray,
    mem: np.ndarray,
    dcache: np.ndarray,
    p2m: np.ndarray,
    dirty: np.ndarray,
    conout: np.ndarray,
    conin: np.ndarray,
    disk: np.ndarray,
    max_cycles: int,
    costs: np.ndarray,
    cnt: np.ndarray,
) -> int:
    """Run the vCPU for up to ``max_cycles``: EXIT_BUDGET, YIELD, or an exit for Python.

    ``used`` is read off the guest clock, so it counts the instructions a handler emulated
    too (as ``VM._slice_used`` does): where the slice stops does not depend on how it was cut.
    """
    start = st[G + CSR_CYCLE]
    used = 0
    reason = EXIT_BUDGET
    # np.int64: a bare NO_LIMIT is typed as a literal, which compiles a second, separate copy of
    # the core for the call below, measured 15-20 % slower than the one Machine runs
    budget = np.int64(NO_LIMIT)
    while used < max_cycles:
        start_cyc = st[G + CSR_CYCLE]
        start_ins = st[G + CSR_INSTRET]
        reason = cpu.run(
            regs, st, mem, dcache, p2m, dirty, conout, conin, disk, budget, max_cycles - used
        )
        ran = st[G + CSR_CYCLE] - start_cyc
        cnt[C_INSTRUCTIONS] += st[G + CSR_INSTRET] - start_ins
        cnt[C_GUEST_CYCLES] += ran
        used = st[G + CSR_CYCLE] - start
        if reason == EXIT_BUDGET:
            break
        cost = handle_exit_jit(reason, regs, st, mem, dcache, p2m, costs, cnt)
        if cost == PYTHON:
            break
        st[G + CSR_CYCLE] += cost  # no costs.userspace: this exit never left compiled code
        used = st[G + CSR_CYCLE] - start
        cnt[C_HYPERVISOR_CYCLES] += cost
        cnt[C_EXIT_COUNT + reason] += 1
        cnt[C_EXIT_CYCLES + reason] += cost
        if ran == 0 and cost == 0:  # free exits (a zero cost model) could loop here forever
            reason = YIELD
            break
        reason = EXIT_BUDGET
    cnt[C_USED] += used
    return reason


# ---- the Python side: the slice loop, exits the loop leaves to Python, accounting --------------
def _fold(vm: VM, cnt: np.ndarray, seconds: float) -> int:
    """Add one ``run_vcpu`` call's counters to ``vm.stats``; returns the host cycles it used."""
    from .vm import ExitStat

    stats = vm.stats
    guest, hyp = int(cnt[C_GUEST_CYCLES]), int(cnt[C_HYPERVISOR_CYCLES])
    stats.instructions += int(cnt[C_INSTRUCTIONS])
    stats.guest_cycles += guest
    stats.hypervisor_cycles += hyp
    share = seconds / (guest + hyp) if guest + hyp else 0.0
    for reason in np.flatnonzero(cnt[C_EXIT_COUNT : C_EXIT_COUNT + NUM_EXITS]).tolist():
        name = EXIT_NAMES.get(reason, str(reason))
        stat = stats.exits.get(name)
        if stat is None:
            stat = stats.exits[name] = ExitStat()
        cycles = int(cnt[C_EXIT_CYCLES + reason])
        stat.count += int(cnt[C_EXIT_COUNT + reason])
        stat.cycles += cycles
        stat.host_seconds += cycles * share  # an estimate (see the module docstring)
    for num in np.flatnonzero(cnt[C_HCALLS : C_HCALLS + NUM_HCALL_SLOTS]).tolist():
        name = hc.name(num)
        stats.hypercalls[name] = stats.hypercalls.get(name, 0) + int(cnt[C_HCALLS + num])
    stats.translated_pages += int(cnt[C_TRANSLATED])
    used = int(cnt[C_USED])
    cnt[:] = 0
    return used


def run_slice_jit(vm: VM, max_cycles: int) -> int:
    """``VM.run_slice`` for ``exits="jit"``: frequent exits in compiled code; returns cycles used."""
    hv = vm.hv
    st = vm.cpu.st
    st[G + CSR_CYCLE] = hv.clock - vm.clock_offset
    costs = cost_array(hv.costs)
    cnt = np.zeros(NUM_COUNTERS, dtype=np.int64)
    disk = vm.disk_data()
    used = 0
    vm.stats.slices += 1
    t_slice = time.perf_counter()
    stuck = 0
    try:
        while used < max_cycles and vm.runnable:
            t0 = time.perf_counter()
            start_cyc = int(st[G + CSR_CYCLE])
            try:
                reason = int(
                    run_vcpu(
                        vm.cpu.regs,
                        st,
                        hv.memory.mem,
                        hv.memory.dcache,
                        vm.p2m,
                        hv.memory.dirty,
                        vm.console.out_buffer,
                        vm.console.in_buffer,
                        disk,
                        int(max_cycles - used),
                        costs,
                        cnt,
                    )
                )
            finally:  # a Ctrl-C during the run lands here, as it returns: count what it did
                _fold(vm, cnt, time.perf_counter() - t0)
            used = vm._slice_used()
            if reason == EXIT_BUDGET:
                break
            if reason != YIELD:
                vm._exit_in_python(reason)  # the same steps as VM._run_slice_python
                used = vm._slice_used()
            stuck = vm._check_progress(stuck, start_cyc)
    finally:
        vm.console.drain()
        vm.stats.host_seconds += time.perf_counter() - t_slice
    return vm._slice_used()


# ---- measuring what an exit costs the host ------------------------------------------------------
# the exit each technique takes most, in a loop; the baseline runs the same loop without the exit
_EXIT_LOOP = """
_start: li   s0, {n}
loop:   {body}
        addi s0, s0, -1
        bne  s0, zero, loop
        li   a0, 0
        halt
"""
_BENCH_EXITS = {  # mode -> (exit kind, the instruction(s) that take it, a baseline that does not)
    "trap-and-emulate": ("privileged", "csrr t0, scratch", "addi t0, zero, 0"),
    "binary-translation": ("bt-call", "csrr t0, scratch", "addi t0, zero, 0"),
    "paravirtual": ("hcall", "li a0, 0\n hcall", "li a0, 0\n addi t0, zero, 0"),
    "hw-assist": ("hcall", "li a0, 0\n hcall", "li a0, 0\n addi t0, zero, 0"),
}
_MINIKERNEL = {"PRIMES_N": 2000, "COLLATZ_N": 300, "PING_N": 50, "TICKER_N": 2}


def _timed_run(image: Image, mode: str, path: str, repeat: int) -> tuple[float, VM]:
    """Best wall-clock seconds of ``repeat`` runs of ``image`` to its end, and the last VM."""
    from .hypervisor import Hypervisor

    best = float("inf")
    vm = None
    for _ in range(repeat):
        hv = Hypervisor(host_memory="16M", slice_cycles=1 << 40)
        vm = hv.create_vm("bench", image, memory="4M", mode=mode, exits=path)
        vm.start()
        t0 = time.perf_counter()
        hv.run()
        best = min(best, time.perf_counter() - t0)
        if vm.state != "stopped" or vm.stop_reason not in ("halt", "poweroff"):
            raise RuntimeError(f"benchmark guest did not finish: {vm.message or vm.state}")
    assert vm is not None
    return best, vm


def exit_cost_microbenchmark(
    mode: str = "trap-and-emulate",
    workload: str = "loop",
    iterations: int = 20_000,
    repeat: int = 3,
) -> dict[str, float | int | str]:
    """Host microseconds per VM exit on the Python and the jitted exit paths, measured side by side.

    ``workload="loop"``: a guest loop takes the mode's most frequent exit ``iterations`` times
    (privileged instruction, translated call-out, or hypercall); the same loop without that
    instruction is the baseline, and the difference divided by the exits is the cost of one exit.
    ``workload="minikernel"``: the guest kernel under ``mode``; the time the same instructions
    take under hw-assist with the fast path (almost no exits) is subtracted, and the rest is
    divided by all the exits taken. Best of ``repeat`` runs; compare the two paths as a ratio.

    >>> r = exit_cost_microbenchmark("trap-and-emulate", iterations=1000)  # doctest: +SKIP
    >>> r["python_us_per_exit"] > r["jit_us_per_exit"]  # doctest: +SKIP
    True
    """
    from .. import images
    from ..asm import assemble
    from .vm import MODES

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if workload not in ("loop", "minikernel"):
        raise ValueError(f"workload must be 'loop' or 'minikernel', not {workload!r}")
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, not {iterations!r}")
    if not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a positive integer, not {repeat!r}")
    result: dict[str, float | int | str] = {"mode": mode, "workload": workload}
    if workload == "loop":
        kind, body, base_body = _BENCH_EXITS[mode]
        image = assemble(_EXIT_LOOP.format(n=iterations, body=body))
        base = assemble(_EXIT_LOOP.format(n=iterations, body=base_body))
        result["exit"] = kind
        result["exits"] = iterations
        for path in ("python", "jit"):
            _timed_run(image, mode, path, 1)  # warm up (compiles on first use)
            t_exit, vm = _timed_run(image, mode, path, repeat)
            t_base, _ = _timed_run(base, mode, path, repeat)
            if vm.stats.exit_count(kind) < iterations:
                raise RuntimeError(f"the {mode} loop took {vm.stats.exit_count(kind)} {kind} exits")
            result[f"{path}_us_per_exit"] = max(t_exit - t_base, 0.0) / iterations * 1e6
    else:
        image = images.load("minikernel", **_MINIKERNEL)
        _timed_run(image, "hw-assist", "jit", 1)
        t_ref, ref = _timed_run(image, "hw-assist", "jit", repeat)
        per_instruction = t_ref / ref.stats.instructions
        result["exit"] = "all"
        for path in ("python", "jit"):
            _timed_run(image, mode, path, 1)
            t, vm = _timed_run(image, mode, path, repeat)
            n = sum(stat.count for stat in vm.stats.exits.values())
            result[f"exits_{path}"] = n
            spent = t - per_instruction * vm.stats.instructions
            result[f"{path}_us_per_exit"] = max(spent, 0.0) / n * 1e6
    jit_us = float(result["jit_us_per_exit"])
    result["speedup"] = float(result["python_us_per_exit"]) / jit_us if jit_us > 0 else float("inf")
    return result
