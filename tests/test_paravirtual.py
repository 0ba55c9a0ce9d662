"""Paravirtualization: the hypercall interface and the paravirtual minikernel (``PV=1``).

The paravirtual build swaps one file, ``images/minikernel/hal_pv.s`` for ``hal.s``: every
privileged operation becomes a hypercall, several at once where possible (one ``trap_info``
instead of four CSR reads on each trap, one ``eret_regs`` instead of ``csrw epc`` + ``eret``, a
``batch`` for the two timer words, one ``console_write`` per line instead of one device exit per
byte). It must print exactly what the plain kernel prints for every process, with far fewer exits
than the plain kernel under trap-and-emulate, and it must refuse to run on bare metal, clearly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_minikernel import SMALL, user_va
from test_popek_goldberg import per_process, reference

from vmlab import CostModel, Hypervisor, Machine, assemble, images
from vmlab.core.layout import ST_GCSR
from vmlab.hypervisor import hypercalls as hc
from vmlab.isa import arch
from vmlab.isa.arch import (
    CAUSE_BREAKPOINT,
    CAUSE_ILLEGAL,
    CSR_IE,
    CSR_SCRATCH,
    ST_MODE,
    ST_PMODE,
)
from vmlab.isa.table import BY_OPCODE, OPCODE

HCALL = OPCODE["hcall"]  # the instruction word (it has no operands)
M32 = 0xFFFFFFFF
CYCLES = 400_000_000

HC_EQUS = f"""
        .equ HC_CSR_WRITE, {hc.HC_CSR_WRITE}
        .equ HC_POWEROFF, {hc.HC_POWEROFF}
        .equ HC_BATCH, {hc.HC_BATCH}
        .equ HC_TRAP_INFO, {hc.HC_TRAP_INFO}
        .equ HC_ERET_REGS, {hc.HC_ERET_REGS}
        .equ CSR_TVEC, {arch.CSR_TVEC}
"""


def run_vm(
    image,
    mode: str = "paravirtual",
    strict: bool = True,
    memory: str = "4M",
    patch=None,
    exits: str = "python",
    costs: CostModel | None = None,
):
    hv = Hypervisor(host_memory="16M", costs=costs)
    vm = hv.create_vm("guest", image, memory=memory, mode=mode, strict=strict, exits=exits)
    if patch is not None:
        patch(vm)
    vm.start()
    hv.run(cycles=CYCLES)
    assert vm.state == "stopped", vm
    return vm


def total_exits(vm) -> int:
    return sum(stat.count for stat in vm.stats.exits.values())


# ---- the new hypercalls, one at a time ---------------------------------------------------------


@pytest.mark.parametrize("strict", [True, False])
def test_trap_info_returns_the_guests_virtual_trap_registers(strict: bool) -> None:
    """One call gives cause, epc, tval and the *virtual* status (never the host's, whatever the
    machine's `strict`)."""
    img = assemble(
        HC_EQUS
        + """
        _start: li   a0, HC_CSR_WRITE
                li   a1, CSR_TVEC
                la   a2, handler
                hcall
        brk:    break                   # a guest exception: the hypervisor reflects it
        handler:
                li   a0, HC_TRAP_INFO
                hcall
                mv   s0, a0
                mv   s1, a1
                mv   s2, a2
                mv   s3, a3
                li   a0, HC_POWEROFF
                li   a1, 7
                hcall
        """
    )
    vm = run_vm(img, strict=strict, memory="64K")
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 7)
    s0, s1, s2, s3 = (int(vm.cpu.regs[r]) for r in (12, 13, 14, 15))
    assert (s0, s1, s2) == (CAUSE_BREAKPOINT, img.symbols["brk"], 0)
    assert s3 & (ST_MODE | ST_PMODE) == ST_MODE | ST_PMODE  # in the kernel, from the kernel
    assert vm.stats.hypercalls["trap_info"] == 1


def test_eret_regs_returns_with_a0_to_a3_loaded_and_processes_cannot_make_hypercalls() -> None:
    """eret_regs enters user mode at a2 with a0..a3 from the frame at a1. From user mode an
    `hcall` is an illegal instruction for the guest kernel to handle, as on bare metal: here the
    process tries to power the VM off with exit code 99, and the kernel sees cause 1 instead."""
    img = assemble(
        HC_EQUS
        + """
        _start: li   a0, HC_CSR_WRITE
                li   a1, CSR_TVEC
                la   a2, handler
                hcall
                li   a0, HC_ERET_REGS
                la   a1, frame
                la   a2, user
                hcall                   # status.PMODE = user since reset: into user mode
                j    failed
        user:   mv   s0, a0
                mv   s1, a1
                mv   s2, a2
                mv   s3, a3
                li   a0, HC_POWEROFF
                li   a1, 99
        try:    hcall                   # not allowed from user mode
                j    failed
        handler:
                li   a0, HC_TRAP_INFO
                hcall
                mv   t0, a0
                mv   t1, a1
                mv   t2, a2
                mv   t3, a3
                li   a0, HC_POWEROFF
                li   a1, 7
                hcall
        failed: li   a0, HC_POWEROFF
                li   a1, 1
                hcall
                .align 4
        frame:  .word 0x11111111, 0x22222222, 0x33333333, 0xcafef00d
        """
    )
    vm = run_vm(img, memory="64K")
    regs = [int(vm.cpu.regs[r]) for r in range(16)]
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 7)
    assert regs[12:16] == [0x11111111, 0x22222222, 0x33333333, 0xCAFEF00D]  # s0..s3
    t0, t1, t2, t3 = regs[8:12]
    assert (t0, t1, t2) == (CAUSE_ILLEGAL, img.symbols["try"], HCALL)
    assert t3 & ST_PMODE == 0  # the trap came from user mode
    assert vm.stats.hypercalls == {"csr_write": 1, "eret_regs": 1, "trap_info": 1, "poweroff": 1}
    assert vm.stats.exit_count("guest-trap") == 0  # the hcall exit itself was reflected


def test_eret_regs_with_a_frame_outside_guest_ram_fails_and_does_nothing() -> None:
    img = assemble(
        HC_EQUS
        + """
        _start: li   a0, HC_ERET_REGS
                li   a1, 0xFFFFFFF0
                la   a2, elsewhere
                hcall                   # -> a0 = E_BADARG, and we continue here
                mv   a1, a0
                li   a0, HC_POWEROFF
                hcall
        elsewhere:
                li   a0, HC_POWEROFF
                li   a1, 1
                hcall
        """
    )
    vm = run_vm(img, memory="64K")
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", hc.E_BADARG & M32)


def test_a_batch_stops_at_the_first_call_that_fails() -> None:
    img = assemble(
        HC_EQUS
        + f"""
        _start: li   a0, HC_BATCH
                la   a1, calls
                li   a2, 3
                hcall                   # -> a0 = calls done
                mv   a1, a0
                li   a0, HC_POWEROFF
                hcall
                .align 4
        calls:  .word HC_CSR_WRITE, {CSR_IE}, 1              # fine
                .word HC_CSR_WRITE, {arch.CSR_CYCLE}, 5      # read-only: fails
                .word HC_CSR_WRITE, {CSR_SCRATCH}, 9         # not done
        """
    )
    vm = run_vm(img, memory="64K")
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 1)
    assert (vm.cpu.st[ST_GCSR + CSR_IE], vm.cpu.st[ST_GCSR + CSR_SCRATCH]) == (1, 0)


# ---- what a batch costs ------------------------------------------------------------------------
BATCH_COSTS = CostModel(hcall=100, batch_entry=7, userspace=1000)


def run_batch(calls: str, entries: int, exits: str):
    """A guest that makes one batch of ``entries`` triples from ``calls``, then powers off with
    the batch's result; run under ``BATCH_COSTS``."""
    img = assemble(
        HC_EQUS
        + f"""
        _start: li   a0, HC_BATCH
                la   a1, calls
                li   a2, {entries}
                hcall                   # -> a0 = calls done
                mv   a1, a0
                li   a0, HC_POWEROFF
                hcall
                .align 4
        calls:  {calls}
        """
    )
    vm = run_vm(img, memory="64K", exits=exits, costs=BATCH_COSTS)
    assert vm.stop_reason == "poweroff", vm
    return vm


@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("entries", [1, 2, 5])
def test_a_batch_costs_one_hypercall_plus_one_entry_per_call(entries: int, exits: str) -> None:
    """Base cost once, ``batch_entry`` per call, the same on both exit paths (a batch and a
    power-off are handled in Python on both, so each pays the userspace trip)."""
    writes = "\n                ".join(
        f".word HC_CSR_WRITE, {CSR_SCRATCH}, {i}" for i in range(entries)
    )
    vm = run_batch(writes, entries, exits)
    c = BATCH_COSTS
    assert vm.exit_code == entries
    assert vm.cpu.st[ST_GCSR + CSR_SCRATCH] == entries - 1  # every call was done
    batch = c.hcall + entries * c.batch_entry + c.userspace
    poweroff = c.hcall + c.userspace
    assert (vm.stats.exit_count("hcall"), vm.stats.exits["hcall"].cycles) == (2, batch + poweroff)
    assert vm.stats.hypervisor_cycles == batch + poweroff
    # the calls done inside the batch are counted apart from the hypercall exits
    assert vm.stats.hypercalls == {"batch": 1, "batch.csr_write": entries, "poweroff": 1}


@pytest.mark.parametrize("exits", ["python", "jit"])
def test_a_batch_that_stops_early_pays_for_the_calls_it_did(exits: str) -> None:
    calls = f"""
                .word HC_CSR_WRITE, {CSR_IE}, 1              # done
                .word HC_CSR_WRITE, {CSR_SCRATCH}, 2         # done
                .word HC_CSR_WRITE, {arch.CSR_CYCLE}, 5      # read-only: fails, not done
                .word HC_CSR_WRITE, {CSR_SCRATCH}, 9         # not reached"""
    vm = run_batch(calls, 4, exits)
    c = BATCH_COSTS
    assert vm.exit_code == 2
    batch = c.hcall + 2 * c.batch_entry + c.userspace
    assert vm.stats.exits["hcall"].cycles == batch + c.hcall + c.userspace
    assert vm.stats.hypercalls == {"batch": 1, "batch.csr_write": 2, "poweroff": 1}


# ---- a long batch is carried out in pieces (hypercall continuations) ---------------------------
LIMIT = hc.BATCH_LIMIT
KEEP_A3 = 0x5A5A  # a register the batch must not change


def set_bits(n: int, fail_at: int | None = None) -> list[tuple[int, int, int]]:
    """``n`` csr_set calls on scratch, call i setting bit i // 16 (so every piece leaves its
    mark); the call at ``fail_at`` writes the read-only cycle CSR instead, and fails."""
    calls = [(hc.HC_CSR_SET, CSR_SCRATCH, 1 << (i // 16 % 32)) for i in range(n)]
    if fail_at is not None:
        calls[fail_at] = (hc.HC_CSR_WRITE, arch.CSR_CYCLE, 5)
    return calls


def triples(calls: list[tuple[int, int, int]]) -> str:
    return "\n".join(f"        .word {n}, {a}, {b}" for n, a, b in calls)


def batch_guest(calls: list[tuple[int, int, int]]):
    """Makes ``calls`` in one batch, copies a1..a3 to s0..s2 after it, powers off with its
    result."""
    return assemble(
        HC_EQUS
        + f"""
        _start: li   a3, {KEEP_A3}
                li   a0, HC_BATCH
                la   a1, calls
                li   a2, {len(calls)}
                hcall                   # -> a0 = calls done
                mv   s0, a1
                mv   s1, a2
                mv   s2, a3
                mv   a1, a0
                li   a0, HC_POWEROFF
                hcall
                .align 4
        calls:
        {triples(calls)}
        """
    )


def one_by_one_guest(calls: list[tuple[int, int, int]]):
    """Makes ``calls`` one hypercall each, stopping at the first that fails, as a batch does;
    powers off with how many it made."""
    return assemble(
        HC_EQUS
        + f"""
        _start: la   t0, calls
                li   t1, {len(calls)}
                li   s3, 0
        loop:   beq  t1, zero, end
                lw   a0, 0(t0)
                lw   a1, 4(t0)
                lw   a2, 8(t0)
                hcall
                blt  a0, zero, end
                addi s3, s3, 1
                addi t0, t0, 12
                addi t1, t1, -1
                j    loop
        end:    mv   a1, s3
                li   a0, HC_POWEROFF
                hcall
                .align 4
        calls:
        {triples(calls)}
        """
    )


def run_pv(image, exits: str):
    vm = run_vm(image, memory="64K", exits=exits)
    assert vm.stop_reason == "poweroff", vm
    return vm


@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize(
    ("n", "fail_at", "done"),
    [
        (LIMIT, None, LIMIT),  # exactly one piece
        (LIMIT + 1, None, LIMIT + 1),
        (3 * LIMIT, None, 3 * LIMIT),
        (3 * LIMIT, LIMIT + 5, LIMIT + 5),  # fails in the second piece: the third never runs
    ],
)
def test_a_long_batch_runs_in_pieces_and_returns_what_one_exit_returned(
    n: int, fail_at: int | None, done: int, exits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most BATCH_LIMIT calls per exit; the guest sees the result of the whole batch, a1..a3
    as it passed them, the same CSRs, memory and instruction count as when one exit did it all
    (and as the same calls made one by one); only the extra exits' time differs."""
    calls = set_bits(n, fail_at)
    image = batch_guest(calls)
    vm = run_pv(image, exits)
    monkeypatch.setattr(hc, "BATCH_LIMIT", 1 << 40)  # how it was: the whole batch in one exit
    whole = run_pv(image, exits)
    monkeypatch.undo()
    pieces = -(-done // LIMIT) if fail_at is None else done // LIMIT + 1
    c = CostModel()
    assert vm.exit_code == whole.exit_code == done
    s0, s1, s2 = (int(vm.cpu.regs[r]) for r in (12, 13, 14))
    assert (s0, s1, s2) == (image.symbols["calls"], n, KEEP_A3)
    assert vm.cpu.regs.tolist() == whole.cpu.regs.tolist()
    assert vm.read_guest(0, vm.memory_size) == whole.read_guest(0, whole.memory_size)
    csrs = vm.cpu.st[ST_GCSR : ST_GCSR + 32].tolist()
    want = whole.cpu.st[ST_GCSR : ST_GCSR + 32].tolist()
    csrs[arch.CSR_CYCLE] = want[arch.CSR_CYCLE] = 0  # the clock: the extra exits took time
    assert csrs == want
    assert vm.cpu.st[ST_GCSR + CSR_SCRATCH] == (1 << (-(-done // 16))) - 1  # every piece ran
    assert (vm.stats.instructions, vm.stats.guest_cycles) == (
        whole.stats.instructions,
        whole.stats.guest_cycles,
    )
    # each piece is an exit, paid as one: hcall + userspace, plus batch_entry per call it did
    assert vm.stats.hypercalls == {"batch": pieces, "batch.csr_set": done, "poweroff": 1}
    assert vm.stats.exit_count("hcall") == pieces + 1
    poweroff = c.hcall + c.userspace
    batch = pieces * (c.hcall + c.userspace) + done * c.batch_entry
    assert vm.stats.exits["hcall"].cycles == batch + poweroff
    assert vm.stats.hypervisor_cycles == whole.stats.hypervisor_cycles + (pieces - 1) * (
        c.hcall + c.userspace
    )
    one_by_one = run_pv(one_by_one_guest(calls), exits)
    assert one_by_one.exit_code == done
    assert one_by_one.cpu.st[ST_GCSR + CSR_SCRATCH] == vm.cpu.st[ST_GCSR + CSR_SCRATCH]


def spinner():
    return assemble("_start: addi s0, s0, 1\n        j    _start")


@pytest.mark.parametrize("exits", ["python", "jit"])
def test_a_long_batch_no_longer_holds_the_cpu_past_its_slice(exits: str) -> None:
    """A guest's batch of 20 pieces against a spinning VM: the spinner runs between the pieces,
    and the batch VM holds the CPU at most one slice plus one piece at a time (in one exit, the
    whole batch took 2.5 slices)."""
    n = 20 * LIMIT
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm(
        "batch", batch_guest(set_bits(n)), memory="64K", mode="paravirtual", exits=exits
    )
    other = hv.create_vm("spin", spinner(), memory="64K", mode="hw-assist")
    vm.start()
    other.start()
    c = hv.costs
    piece = c.hcall + LIMIT * c.batch_entry + c.userspace
    step = 1000
    held = longest = 0
    between = False  # did the spinner run while the batch was part done?
    for _ in range(1000):
        progress = vm.stats.hypercalls.get("batch.csr_set", 0)
        mine, theirs = vm.stats.consumed_cycles, other.stats.consumed_cycles
        hv.run(cycles=step)
        ran, other_ran = vm.stats.consumed_cycles - mine, other.stats.consumed_cycles - theirs
        held = held + ran if not other_ran else ran  # the batch VM's time on the CPU in a row
        longest = max(longest, held)
        between |= 0 < progress < n and other_ran > 0
        if vm.state == "stopped":
            break
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", n)
    assert between
    assert vm.stats.hypercalls["batch"] == 20
    assert longest <= hv.slice_cycles + piece + c.world_switch + step
    assert n * c.batch_entry > 2 * hv.slice_cycles  # what one exit would have held it for


# ---- the paravirtual minikernel ----------------------------------------------------------------


@pytest.fixture(scope="module")
def bare_metal() -> str:
    """The plain kernel's output on bare metal, at the small sizes."""
    m = Machine(memory="4M")
    m.load(images.load("minikernel", **SMALL))
    r = m.run(max_instructions=50_000_000)
    assert (r.reason, r.exit_code) == ("poweroff", 0)
    return m.console.output


@pytest.fixture(scope="module")
def pv_vm():
    return run_vm(images.load("minikernel", PV=1, **SMALL))


@pytest.fixture(scope="module")
def te_vm():
    return run_vm(images.load("minikernel", **SMALL), mode="trap-and-emulate")


def test_the_pv_kernel_gives_every_process_the_same_results_as_bare_metal(
    pv_vm, bare_metal
) -> None:
    img = images.load("minikernel", PV=1, **SMALL)
    out = pv_vm.console.output
    assert (pv_vm.stop_reason, pv_vm.exit_code) == ("poweroff", 0)
    assert per_process(out) == per_process(bare_metal) == reference(img, SMALL)
    assert out.endswith("[kernel] all 7 processes ended as expected\n[kernel] power off\n")
    # the boot lines are the plain kernel's too (same frames, same page tables)
    boot = bare_metal.split("[kernel] timer: ")[0]
    assert out.startswith(boot)


def test_the_pv_kernel_never_executes_a_privileged_instruction_or_touches_a_device(
    pv_vm,
) -> None:
    s = pv_vm.stats
    assert s.exit_count("privileged") == 0 and s.exit_count("mmio") == 0
    assert set(s.exits) == {"hcall", "guest-trap"}
    # every trap the hypervisor reflected is read with ONE hypercall and left with ONE
    assert s.hypercalls["trap_info"] == s.exit_count("guest-trap") == s.hypercalls["eret_regs"]
    # one console exit per line, not per byte
    assert s.hypercalls["console_write"] == len(pv_vm.console.output.splitlines())


def test_the_pv_kernels_hypercall_bill_adds_up(pv_vm) -> None:
    """Every hypercall exit costs ``hcall`` (+ ``userspace``: this VM uses the Python handlers),
    every call done in a batch ``batch_entry``; hal_pv.s batches two CSR writes each time."""
    s, c = pv_vm.stats, CostModel()
    batched = {n: k for n, k in s.hypercalls.items() if n.startswith("batch.")}
    calls = sum(k for n, k in s.hypercalls.items() if n not in batched)
    assert batched == {"batch.csr_write": 2 * s.hypercalls["batch"]}
    assert s.hypercalls["batch"] > 1  # paging on at boot, then the timer on every tick
    assert calls == s.exit_count("hcall")
    hcall = calls * (c.hcall + c.userspace) + sum(batched.values()) * c.batch_entry
    assert s.exits["hcall"].cycles == hcall
    assert s.hypervisor_cycles == hcall + s.exit_count("guest-trap") * (c.reflect + c.userspace)


def test_the_pv_kernel_needs_far_fewer_exits_than_trap_and_emulate(pv_vm, te_vm) -> None:
    """Same workload, same per-process results; the paravirtual kernel asks instead of trapping.
    (At these sizes 1,099 exits against 6,236; at the default sizes 40,125 against 132,977.)"""
    assert (te_vm.stop_reason, te_vm.exit_code) == ("poweroff", 0)
    assert per_process(te_vm.console.output) == per_process(pv_vm.console.output)
    pv, te = total_exits(pv_vm), total_exits(te_vm)
    assert pv < te and 2 * pv < te
    assert pv_vm.stats.hypervisor_cycles < te_vm.stats.hypervisor_cycles
    assert 2 * pv_vm.stats.hypervisor_cycles < te_vm.stats.hypervisor_cycles
    # the guest kernel gets the same system calls and kills either way, and no more ticks (each
    # tick is one reflected interrupt, in a process or in the idle loop, and the paravirtual run
    # is shorter): the saving is in everything around them
    assert pv_vm.stats.exit_count("guest-trap") <= te_vm.stats.exit_count("guest-trap")


def test_the_pv_kernel_on_bare_metal_stops_at_its_first_hypercall() -> None:
    """No hypervisor: `hcall` is an illegal instruction, and the kernel has not set a trap vector
    yet (hal_init asks the hypervisor for its version first), so the machine stops with a fault
    that names it -- at once, without printing anything and without hanging."""
    img = images.load("minikernel", PV=1, **SMALL)
    m = Machine(memory="4M")
    m.load(img)
    r = m.run(max_instructions=1_000_000)
    first_hcall = next(
        a
        for a in range(img.symbols["hal_init"], img.symbols["hal_init"] + 64, 4)
        if img.word_at(a) == HCALL
    )
    assert (r.reason, r.cause, r.tval, r.pc) == ("fault", CAUSE_ILLEGAL, HCALL, first_hcall)
    assert "illegal instruction" in r.message and "no trap vector" in r.message
    assert r.instructions < 50
    assert m.console.output == ""


def test_a_process_of_the_pv_kernel_cannot_make_hypercalls() -> None:
    """junk's bad word replaced by `hcall`: the process is killed for an illegal instruction, as
    it would be on bare metal, and the VM runs on (its outcome is still the expected one)."""
    img = images.load("minikernel", PV=1, **SMALL)

    def patch(vm) -> None:
        vm.write_guest(img.symbols["junk.bad"], HCALL.to_bytes(4, "little"))

    vm = run_vm(img, patch=patch)
    out = vm.console.output
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 0)
    assert (
        f"[kernel] pid 7 killed: illegal instruction {HCALL:#010x} "
        f"at pc {user_va(img, 'junk.bad'):#010x}\n"
    ) in out


def test_a_fault_in_the_pv_kernel_is_a_panic_not_a_user_kill() -> None:
    """trap_info's status tells the PV trap entry that the trap came from kernel mode."""
    img = images.load("minikernel", PV=1, **SMALL)
    at = img.symbols["sys_getpid"]

    def patch(vm) -> None:  # make getpid's kernel code load from an unmapped user address
        vm.write_guest(at, assemble("lui t0, 0x50\nlw a1, 0(t0)").segments[0].data)

    vm = run_vm(img, patch=patch)
    assert (vm.stop_reason, vm.exit_code) == ("poweroff", 100)
    assert vm.console.output.splitlines()[-1] == (
        f"[kernel] PANIC: load page fault in kernel mode at pc {at + 4:#010x}, tval 0x00500000"
    )
    assert "killed" not in vm.console.output


def test_the_pv_build_contains_no_privileged_code_and_hypercalls_only_in_its_hal() -> None:
    img = images.load("minikernel", PV=1)
    where: dict[str, set[str]] = {}
    for addr, (path, _line) in img.source_map.items():
        op = BY_OPCODE.get(img.word_at(addr) & 0xFF)
        if op is not None and (op.privileged or op.name == "hcall"):
            where.setdefault(op.name, set()).add(Path(path).name)
    assert where == {"hcall": {"hal_pv.s"}, "halt": {"user.s"}}  # (rogue's halt, on purpose)
    text = (images.images_dir() / "minikernel" / "hal_pv.s").read_text()
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert "_BASE" not in code.replace("KERNEL_BASE", "")  # no device address


def test_hal_pv_speaks_the_hypervisors_interface() -> None:
    """The numbers hal_pv.s uses are the ones hypercalls.py and the ISA define."""
    syms = images.load("minikernel", PV=1).symbols
    for name in (
        "HC_VERSION",
        "HC_CSR_READ",
        "HC_CSR_WRITE",
        "HC_IDLE",
        "HC_TLBFLUSH",
        "HC_POWEROFF",
        "HC_CONSOLE_WRITE",
        "HC_BATCH",
        "HC_TRAP_INFO",
        "HC_ERET_REGS",
    ):
        assert syms[name] == getattr(hc, name), name
    assert syms["HC_NEED_VERSION"] <= hc.VERSION
    for name, value in syms.items():
        if name.startswith("CSR_"):
            assert value == getattr(arch, name), name
