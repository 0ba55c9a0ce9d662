"""The jitted exit fast path (``exits="jit"``) computes what the readable Python handlers compute.

Two VMs run the same guest, one per exit path, and everything the guest or the accounting can see
is compared. The only modelled difference between the paths is ``CostModel.userspace`` (charged
only for exits that go to Python), so the runs use ``userspace=0`` to be comparable; one test
checks with the default model that the jitted exits are the ones that skip it.

The paths also differ in who serves device registers: the Python path exits on every device
access (``EXIT_MMIO``), the jit path lets the core's device models serve them. The first tests
therefore turn device exits on for the jit VM too, so that nothing but the exit handlers differs
and every count must match; the later ones compare the two real configurations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vmlab import Hypervisor, assemble, images
from vmlab.core.layout import ST_GCSR, ST_VMCTL, VM_EXIT_MMIO
from vmlab.hypervisor import MODES, VM, CostModel
from vmlab.hypervisor import hypercalls as hc
from vmlab.hypervisor.fastpath import exit_cost_microbenchmark
from vmlab.image import Image
from vmlab.isa.arch import CAUSE_ILLEGAL, CSR_SCRATCH, NUM_CSRS, REG_ALIASES
from vmlab.isa.table import OPCODE

M32 = 0xFFFFFFFF
NO_USERSPACE = CostModel(userspace=0)
# for the real configurations: device exits (Python path only) must cost nothing as well
NO_USERSPACE_NO_VMEXIT = CostModel(userspace=0, vmexit=0)
# a power-off or reboot through the power controller is an "mmio" exit on the Python path and a
# "poweroff"/"reboot" exit of the core on the jit path
DEVICE_EXITS = ("mmio", "poweroff", "reboot")


def workload(name: str) -> Image:
    """The guests the paths are compared on."""
    if name == "sieve":
        return images.load("sieve", N=20000)
    if name == "rogue":
        return images.load("rogue", SPIN=0)
    pv = 1 if name == "minikernel-pv" else 0  # the paravirtualized kernel: hypercalls
    return images.load("minikernel", PRIMES_N=2000, COLLATZ_N=300, PING_N=50, TICKER_N=2, PV=pv)


def run_vm(
    image: Image,
    mode: str,
    exits: str,
    costs: CostModel = NO_USERSPACE,
    device_exits: bool = False,
    cycles: int = 400_000_000,
    strict: bool = True,
) -> tuple[Hypervisor, VM]:
    """Run ``image`` in a fresh VM until it stops (or ``cycles`` pass)."""
    hv = Hypervisor(host_memory="16M", costs=costs)
    vm = hv.create_vm("v", image, memory="4M", mode=mode, exits=exits, strict=strict)
    if device_exits:
        vm.cpu.st[ST_VMCTL] |= VM_EXIT_MMIO
    vm.start()
    hv.run(cycles=cycles)
    return hv, vm


def outcome(hv: Hypervisor, vm: VM) -> dict[str, Any]:
    """Everything the guest and the accounting can see, apart from exits and host time."""
    s = vm.stats
    return {
        "state": (vm.state, vm.stop_reason, vm.exit_code, vm.message),
        "console": vm.console.output,
        "regs": vm.cpu.regs[:16].tolist(),
        "pc": vm.pc,
        "guest_csrs": vm.cpu.st[ST_GCSR : ST_GCSR + NUM_CSRS].tolist(),
        "instructions": s.instructions,
        "guest_cycles": s.guest_cycles,
        "hypervisor_cycles": s.hypervisor_cycles,
        "clock": hv.clock,
        "slices": s.slices,
        "hypercalls": s.hypercalls,
        "translated_pages": getattr(s, "translated_pages", 0),
    }


def exit_counts(vm: VM, leave_out: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Exits by kind: (count, modelled cycles)."""
    return {
        name: (stat.count, stat.cycles)
        for name, stat in vm.stats.exits.items()
        if name not in leave_out
    }


# ---- the jitted handlers are equivalent to the Python ones --------------------------------------
@pytest.mark.parametrize("name", ["sieve", "rogue", "minikernel", "minikernel-pv"])
@pytest.mark.parametrize("mode", MODES)
def test_jitted_handlers_compute_what_the_python_handlers_compute(mode: str, name: str) -> None:
    image = workload(name)
    hv_py, py = run_vm(image, mode, "python")
    hv_jit, jit = run_vm(image, mode, "jit", device_exits=True)
    assert py.state == "stopped" and py.stop_reason in ("halt", "poweroff")
    assert outcome(hv_jit, jit) == outcome(hv_py, py)
    assert exit_counts(jit) == exit_counts(py)


@pytest.mark.parametrize("name", ["sieve", "minikernel", "minikernel-pv"])
@pytest.mark.parametrize("mode", MODES)
def test_exits_jit_and_exits_python_give_the_same_guest_results(mode: str, name: str) -> None:
    image = workload(name)
    hv_py, py = run_vm(image, mode, "python", NO_USERSPACE_NO_VMEXIT)
    hv_jit, jit = run_vm(image, mode, "jit", NO_USERSPACE_NO_VMEXIT)
    assert py.state == "stopped" and py.exit_code == 0
    assert outcome(hv_jit, jit) == outcome(hv_py, py)
    assert exit_counts(jit, DEVICE_EXITS) == exit_counts(py, DEVICE_EXITS)
    assert jit.stats.exit_count("mmio") == 0  # the core served the devices


@pytest.mark.parametrize("mode", MODES)
def test_rogue_ends_the_same_on_both_paths(mode: str) -> None:
    # Only console, exit code and registers: the Python MMIO handler reflects a *faulting*
    # device access into the guest kernel (``reflect`` hypervisor cycles), where the core takes
    # that trap itself (``TRAP_CYCLES`` guest cycles) under hw-assist (rogue makes two such
    # accesses). The test above compares everything with device exits equal.
    _, py = run_vm(workload("rogue"), mode, "python", NO_USERSPACE_NO_VMEXIT)
    _, jit = run_vm(workload("rogue"), mode, "jit", NO_USERSPACE_NO_VMEXIT)
    assert (jit.stop_reason, jit.exit_code) == (py.stop_reason, py.exit_code) == ("halt", 1)
    assert jit.console.output == py.console.output
    assert "rogue: the machine held" in jit.console.output
    assert jit.cpu.regs[:16].tolist() == py.cpu.regs[:16].tolist()


PRIVILEGED_GUEST = """
_start:  la    t0, handler
         csrw  tvec, t0
         li    t0, 0x0f0
         csrw  scratch, t0
         li    t1, 0x00f
         csrs  scratch, t1          # 0x0ff
         li    t1, 0x0f0
         csrc  scratch, t1          # 0x00f
         li    t1, 0x500
         csrrw s0, scratch, t1      # s0 = 0x00f, scratch = 0x500
         csrr  s1, scratch          # 0x500
         tlbflush
         li    t0, 1
         csrw  cycle, t0            # read-only: illegal instruction, counted by the handler
         csrs  ip, t0               # read-only: illegal instruction
         csrr  s3, instret
         la    t0, user
         csrw  epc, t0
         li    t0, 4
         csrc  status, t0           # PMODE = user: the eret enters user mode
         eret
user:    csrr  a1, status           # traps if strict, else reads a status
         csrw  scratch, t0          # privileged instruction in user mode: traps
         syscall                    # back to the kernel, which halts
handler: csrr  t0, cause
         li    t1, 9
         beq   t0, t1, done
         addi  s2, s2, 1            # count the other traps
         csrr  t0, epc
         addi  t0, t0, 4
         csrw  epc, t0
         eret
done:    mv    a0, s2
         halt
"""


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "not-strict"])
@pytest.mark.parametrize("mode", MODES)
def test_every_privileged_instruction_gives_the_same_result_on_both_paths(
    mode: str, strict: bool
) -> None:
    image = assemble(PRIVILEGED_GUEST)
    hv_py, py = run_vm(image, mode, "python", strict=strict, cycles=1_000_000)
    hv_jit, jit = run_vm(image, mode, "jit", strict=strict, cycles=1_000_000)
    assert (py.stop_reason, py.exit_code) == ("halt", 4 if strict else 3)
    regs = {name: int(py.cpu.regs[REG_ALIASES[name]]) for name in ("s0", "s1")}
    assert regs == {"s0": 0x00F, "s1": 0x500}
    assert outcome(hv_jit, jit) == outcome(hv_py, py)
    assert exit_counts(jit) == exit_counts(py)


def test_free_exits_give_the_same_result_on_both_paths() -> None:
    # with a cost model where exits cost nothing, back-to-back exits take no time at all; the
    # jitted loop then returns to Python after each (so a guest looping on them stays stoppable)
    free = CostModel(trap=0, reflect=0, bt_call=0, translate_page=0, hcall=0, userspace=0)
    image = assemble(PRIVILEGED_GUEST)
    hv_py, py = run_vm(image, "trap-and-emulate", "python", free, cycles=1_000_000)
    hv_jit, jit = run_vm(image, "trap-and-emulate", "jit", free, cycles=1_000_000)
    assert (py.stop_reason, py.exit_code) == ("halt", 4)
    assert py.stats.hypervisor_cycles == 0
    assert outcome(hv_jit, jit) == outcome(hv_py, py)
    assert exit_counts(jit) == exit_counts(py)


# ---- the point of the fast path: no trip to userspace ------------------------------------------
SYSCALLS = 50
SYSCALL_LOOP = f"""
_start:  la   t0, handler
         csrw tvec, t0              # privileged exit 1
         li   s0, {SYSCALLS}
loop:    syscall                    # a guest trap, reflected into handler
         addi s0, s0, -1
         bne  s0, zero, loop
         li   a0, 0
         halt                       # the last privileged exit: always handled in Python
handler: csrr t0, epc               # three privileged exits per syscall
         addi t0, t0, 4
         csrw epc, t0
         eret
"""


@pytest.mark.parametrize(
    ("mode", "sensitive", "charge"),
    [("trap-and-emulate", "privileged", "trap"), ("binary-translation", "bt-call", "bt_call")],
)
@pytest.mark.parametrize("exits", ["jit", "python"])
def test_only_exits_handled_in_python_are_charged_the_userspace_cost(
    mode: str, sensitive: str, charge: str, exits: str
) -> None:
    costs = CostModel()
    _, vm = run_vm(assemble(SYSCALL_LOOP), mode, exits, costs)
    assert (vm.stop_reason, vm.exit_code) == ("halt", 0)
    extra = costs.userspace if exits == "python" else 0  # per exit the fast path can handle
    n = 3 * SYSCALLS + 2
    expected = {
        sensitive: (n, n * (getattr(costs, charge) + extra) + costs.userspace - extra),
        "guest-trap": (SYSCALLS, SYSCALLS * (costs.reflect + extra)),
    }
    if mode == "binary-translation":
        pages = vm.stats.exit_count("translate")
        assert pages >= 1
        expected["translate"] = (pages, pages * (costs.translate_page + extra))
    assert exit_counts(vm) == expected
    assert vm.stats.hypervisor_cycles == sum(cycles for _, cycles in expected.values())


def test_jitted_exits_get_an_estimate_of_their_host_time() -> None:
    _, vm = run_vm(workload("minikernel"), "trap-and-emulate", "jit")
    estimated = [vm.stats.exits[kind].host_seconds for kind in ("privileged", "guest-trap")]
    assert all(t > 0 for t in estimated)
    assert sum(s.host_seconds for s in vm.stats.exits.values()) <= vm.stats.host_seconds


# ---- hypercalls: those without host I/O in compiled code, the others in Python ----------------
HC_EQUS = "\n".join(f"        .equ HC_{name.upper()}, {num}" for num, name in hc.NAMES.items())
HCALL_GUEST = f"""
{HC_EQUS}
_start:  la   t0, handler
         csrw tvec, t0
         la   s0, results
         li   a0, HC_VERSION
         hcall
         sw   a0, 0(s0)                 # VERSION
         li   a0, HC_CSR_WRITE
         li   a1, {CSR_SCRATCH}
         li   a2, 0x1234
         hcall
         li   a0, HC_CSR_SET
         li   a1, {CSR_SCRATCH}
         li   a2, 0x10000
         hcall
         li   a0, HC_CSR_CLEAR
         li   a1, {CSR_SCRATCH}
         li   a2, 4
         hcall
         li   a0, HC_CSR_READ
         li   a1, {CSR_SCRATCH}
         hcall
         sw   a0, 4(s0)                 # 0x11230
         li   a0, HC_CSR_READ
         li   a1, 15                    # no such CSR
         hcall
         sw   a0, 8(s0)                 # E_BADARG
         li   a0, HC_CSR_WRITE
         li   a1, 11                    # cycle is read-only
         hcall
         sw   a0, 12(s0)                # E_BADARG
         li   a0, HC_SET_TIMER
         li   a1, 1000000
         hcall
         li   a0, HC_TLBFLUSH
         hcall
         li   a0, 99                    # unknown number (Python)
         hcall
         sw   a0, 16(s0)                # E_BADCALL
         li   a0, HC_CONSOLE_WRITE      # (Python)
         la   a1, msg
         li   a2, 3
         hcall
         li   a0, HC_BATCH              # (Python)
         la   a1, batch
         li   a2, 2
         hcall
         sw   a0, 20(s0)                # 2 calls done
         li   a0, HC_CSR_READ
         li   a1, {CSR_SCRATCH}
         hcall
         sw   a0, 24(s0)                # 0x99, written by the batch
         li   a0, HC_ERET_REGS
         li   a1, 0x7ffffff0            # a frame outside guest RAM
         hcall
         sw   a0, 28(s0)                # E_BADARG
         li   t0, 4
         csrs status, t0                # PMODE: the next eret_regs stays in kernel mode
         li   a0, HC_ERET_REGS
         la   a1, frame + 2             # an unaligned frame (Python)
         la   a2, back
         hcall
         halt                           # skipped
back:    sw   a0, 32(s0)                # 0x22221111
         la   t0, user
         csrw epc, t0
         li   t0, 4
         csrc status, t0                # PMODE: the eret below enters user mode
         li   a0, HC_ERET
         hcall
         halt                           # skipped
user:    li   a0, HC_POWEROFF           # from user mode: an illegal instruction
         hcall
         mv   s1, a0                    # a0..a3 as the kernel's eret_regs loaded them
         mv   s2, a1
         mv   s3, a2
         mv   t3, a3
         syscall                        # the kernel powers off
handler: li   a0, HC_TRAP_INFO          # a0..a3 = cause, epc, tval, status
         hcall
         li   t0, 9
         beq  a0, t0, off
         sw   a0, 36(s0)                # cause
         sw   a2, 40(s0)                # tval
         addi a2, a1, 4                 # back past the hcall,
         la   a1, frame                 # with a0..a3 from frame
         li   a0, HC_ERET_REGS
         hcall
off:     li   a0, HC_POWEROFF
         li   a1, 7
         hcall
msg:     .ascii "ok\\n"
         .align 4
batch:   .word HC_CSR_WRITE, {CSR_SCRATCH}, 0x99, HC_VERSION, 0, 0
frame:   .word 0x11111111, 0x22222222, 0x33333333, 0x44444444, 0x55555555
results: .space 44
"""
HCALL_RESULTS = [
    hc.VERSION,
    0x11230,
    hc.E_BADARG & M32,
    hc.E_BADARG & M32,
    hc.E_BADCALL & M32,
    2,
    0x99,
    hc.E_BADARG & M32,
    0x22221111,
    CAUSE_ILLEGAL,
    OPCODE["hcall"],
]
HCALLS = {
    "version": 1,
    "csr_write": 2,
    "csr_set": 1,
    "csr_clear": 1,
    "csr_read": 3,
    "set_timer": 1,
    "tlbflush": 1,
    "unknown": 1,  # hypercall 99
    "console_write": 1,
    "batch": 1,
    "batch.csr_write": 1,  # the calls done inside the batch
    "batch.version": 1,
    "eret_regs": 3,
    "eret": 1,
    "trap_info": 2,
    "poweroff": 1,
}
PYTHON_HCALLS = 5  # the unknown number, console_write, batch, the unaligned eret_regs, poweroff


@pytest.mark.parametrize("mode", MODES)
def test_hypercalls_give_the_same_results_on_both_paths(mode: str) -> None:
    costs = CostModel()
    image = assemble(HCALL_GUEST)
    _, py = run_vm(image, mode, "python", costs)
    _, jit = run_vm(image, mode, "jit", costs)
    for vm in (py, jit):
        assert (vm.stop_reason, vm.exit_code) == ("poweroff", 7), vm.message
        assert vm.console.output == "ok\n"
        results = vm.read_guest(image.symbols["results"], 4 * len(HCALL_RESULTS))
        assert np.frombuffer(results, "<u4").tolist() == HCALL_RESULTS
        frame = [int(vm.cpu.regs[REG_ALIASES[r]]) for r in ("s1", "s2", "s3", "t3")]
        assert frame == [0x11111111, 0x22222222, 0x33333333, 0x44444444]
        assert vm.stats.hypercalls == HCALLS
    assert jit.cpu.regs[:16].tolist() == py.cpu.regs[:16].tolist()
    assert jit.stats.instructions == py.stats.instructions
    assert jit.stats.guest_cycles == py.stats.guest_cycles
    counts = {name: count for name, (count, _) in exit_counts(py).items()}
    assert {name: count for name, (count, _) in exit_counts(jit).items()} == counts
    # every call costs costs.hcall, the one from user mode also a reflection, the batch also
    # costs.batch_entry per call it did; only the calls handled in Python pay for the userspace
    # trip on the jit path
    calls = sum(n for name, n in HCALLS.items() if "." not in name) + 1
    assert counts["hcall"] == calls
    hcall = calls * costs.hcall + costs.reflect + 2 * costs.batch_entry
    assert py.stats.exits["hcall"].cycles == hcall + calls * costs.userspace
    assert jit.stats.exits["hcall"].cycles == hcall + PYTHON_HCALLS * costs.userspace


# ---- a guest with no trap vector crashes cleanly on both paths ---------------------------------
@pytest.mark.parametrize(
    "source",
    [
        "_start: li t0, 1\n csrw cycle, t0\n halt",  # read-only CSR: illegal instruction
        "_start: syscall\n halt",
    ],
    ids=["read-only-csr", "syscall"],
)
@pytest.mark.parametrize("mode", MODES)
def test_a_guest_with_no_trap_vector_crashes_cleanly_on_both_paths(mode: str, source: str) -> None:
    image = assemble(source)
    hv_py, py = run_vm(image, mode, "python", cycles=1_000_000)
    hv_jit, jit = run_vm(image, mode, "jit", cycles=1_000_000)
    assert (py.state, py.stop_reason) == ("stopped", "fault")
    assert "no trap vector" in py.message
    assert outcome(hv_jit, jit) == outcome(hv_py, py)


# ---- the benchmark helper ----------------------------------------------------------------------
def test_the_exit_cost_microbenchmark_reports_both_paths() -> None:
    # host times are measured, so only their presence is checked (speed lives in the benchmark)
    r = exit_cost_microbenchmark("trap-and-emulate", iterations=300, repeat=1)
    assert (r["mode"], r["exit"], r["exits"]) == ("trap-and-emulate", "privileged", 300)
    assert all(isinstance(r[k], float) for k in ("python_us_per_exit", "jit_us_per_exit"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "fast"}, "unknown mode 'fast'"),
        ({"workload": "idle"}, "workload must be 'loop' or 'minikernel'"),
        ({"iterations": 0}, "iterations must be a positive integer"),
        ({"repeat": 0}, "repeat must be a positive integer"),
    ],
)
def test_the_microbenchmark_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        exit_cost_microbenchmark(**kwargs)
