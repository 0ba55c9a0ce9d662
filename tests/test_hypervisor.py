"""The hypervisor's basics: creating VMs, their lifecycle, and every technique running guests."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmlab import Hypervisor, Machine, VMStateError, assemble, images
from vmlab.core.layout import STAT_TLB_MISSES, STAT_WALK_REFS
from vmlab.devices.disk import Disk
from vmlab.hypervisor import MODES, CostModel, HostMemoryError
from vmlab.isa.arch import TRAP_CYCLES, WALK_REF_CYCLES


@pytest.fixture
def hv() -> Hypervisor:
    return Hypervisor(host_memory="16M")


def hello_vm(hv: Hypervisor, name: str = "a", **kw):
    return hv.create_vm(name, images.load("hello"), memory="1M", **kw)


def test_a_new_vm_is_created_not_running(hv: Hypervisor) -> None:
    vm = hello_vm(hv)
    assert vm.state == "created"
    hv.run(cycles=100_000)
    assert vm.stats.instructions == 0


def test_lifecycle_runs_pauses_resumes_and_stops(hv: Hypervisor) -> None:
    vm = hv.create_vm("s", images.load("rogue"), memory="4M")
    vm.start()
    hv.run(cycles=200_000)
    ran = vm.stats.instructions
    assert ran > 0 and vm.state == "running"
    vm.pause()
    hv.run(cycles=200_000)
    assert vm.stats.instructions == ran
    vm.resume()
    hv.run(cycles=200_000)
    assert vm.stats.instructions > ran
    vm.stop()
    assert vm.state == "stopped"


@pytest.mark.parametrize(
    ("setup", "action", "state"),
    [
        ([], "pause", "created"),
        ([], "resume", "created"),
        (["start"], "start", "running"),
        (["start"], "delete", "running"),
        (["start", "pause"], "delete", "paused"),
        (["stop"], "resume", "stopped"),
        (["stop"], "start", "stopped"),
    ],
)
def test_an_illegal_transition_names_the_vm_its_state_and_what_is_allowed(
    hv: Hypervisor, setup: list[str], action: str, state: str
) -> None:
    vm = hello_vm(hv, "web-1")
    for step in setup:
        getattr(vm, step)()
    with pytest.raises(VMStateError) as err:
        getattr(vm, action)()
    text = str(err.value)
    assert "'web-1'" in text and f"it is {state}" in text and "allowed when" in text
    assert vm.state == state


def test_a_vm_that_does_not_fit_fails_clearly_and_changes_nothing(hv: Hypervisor) -> None:
    hello_vm(hv, "a")
    free = hv.memory.free_frames
    with pytest.raises(HostMemoryError, match=r"VM 'big' \(16M\) needs 16M but the host has only"):
        hv.create_vm("big", images.load("hello"), memory="16M")
    assert hv.memory.free_frames == free
    assert [vm.name for vm in hv.vms] == ["a"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "magic"}, "unknown mode 'magic'"),
        ({"memory": "3K"}, "multiple of 4K"),
        ({"shares": 0}, "shares must be a positive integer"),
        ({"shares": True}, "shares must be a positive integer, not True"),
        ({"reservation": "0.5"}, "reservation must be a fraction of the CPU in 0..1, not '0.5'"),
        ({"limit": 0.2, "reservation": 0.5}, "below the reservation"),
        ({"exits": "fast"}, "exits must be 'python' or 'jit'"),
    ],
)
def test_bad_vm_arguments_are_rejected(hv: Hypervisor, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hv.create_vm("x", images.load("hello"), **{"memory": "1M", **kwargs})
    assert hv.vms == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"disk": b"data"}, "disk must be a vmlab Disk: Disk.memory"),
        ({"disk": "disk.img"}, "not str"),
        ({"strict": "no"}, "strict must be True or False, not 'no'"),
    ],
)
def test_arguments_of_the_wrong_type_are_rejected(
    hv: Hypervisor, kwargs: dict, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        hv.create_vm("x", images.load("hello"), memory="64K", **kwargs)
    assert hv.vms == []


def test_a_disk_belongs_to_one_vm(hv: Hypervisor, tmp_path: Path) -> None:
    """Two VMs on one disk could read each other's data: the second attach is refused."""
    disk = Disk.memory(4096)
    hv.create_vm("a", images.load("hello"), memory="64K", disk=disk)
    with pytest.raises(ValueError, match="this disk is already attached to VM 'a'"):
        hv.create_vm("b", images.load("hello"), memory="64K", disk=disk)
    path = tmp_path / "shared.img"
    hv.create_vm("c", images.load("hello"), memory="64K", disk=Disk.file(path, size=4096))
    with pytest.raises(ValueError, match=r"disk image .*shared.img is already attached to VM 'c'"):
        hv.create_vm("d", images.load("hello"), memory="64K", disk=Disk.file(str(path)))
    assert [vm.name for vm in hv.vms] == ["a", "c"]
    hv.vm("a").delete()  # a deleted VM lets its disk go
    hv.create_vm("e", images.load("hello"), memory="64K", disk=disk)


def test_an_image_too_big_for_the_vm_is_refused_and_its_frames_come_back(hv: Hypervisor) -> None:
    free = hv.memory.free_frames
    image = assemble(".org 0x20000\n_start: halt\n")
    with pytest.raises(
        ValueError,
        match=r"image segment at 0x00020000 \(4 bytes\) does not fit in the 64K of RAM of VM 'big'",
    ):
        hv.create_vm("big", image, memory="64K")
    assert hv.memory.free_frames == free
    assert hv.vms == []


def test_vm_names_are_unique(hv: Hypervisor) -> None:
    hello_vm(hv, "a")
    with pytest.raises(ValueError, match="already exists"):
        hello_vm(hv, "a")


def test_deleting_a_vm_returns_its_memory(hv: Hypervisor) -> None:
    free = hv.memory.free_frames
    vm = hello_vm(hv)
    assert hv.memory.free_frames == free - 256
    vm.delete()
    assert hv.memory.free_frames == free and vm.state == "deleted"
    with pytest.raises(KeyError, match="no VM named 'a'"):
        hv.vm("a")


@pytest.mark.parametrize("mode", MODES)
def test_every_technique_runs_a_program_to_the_same_answer_as_bare_metal(mode: str) -> None:
    image = images.load("sieve", N=20000)
    bare = Machine(memory="1M")
    bare.load(image)
    result = bare.run()
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", image, memory="1M", mode=mode)
    vm.start()
    hv.run(cycles=50_000_000)
    assert vm.state == "stopped" and vm.stop_reason == "halt" and vm.exit_code == 0
    assert vm.console.output == bare.console.output
    assert vm.stats.instructions == result.instructions
    # the same instructions cost the same cycles; the guest also pays for its second-stage
    # (guest-physical -> host-physical) TLB misses, which bare metal without paging never has
    walks = int(vm.cpu.st[STAT_TLB_MISSES]) - bare.stats.tlb_misses
    assert walks > 0
    # guest paging is off: each walk reads one entry of the p2m map, one reference
    assert int(vm.cpu.st[STAT_WALK_REFS]) == walks
    assert vm.stats.guest_cycles == result.cycles + walks * WALK_REF_CYCLES


# ---- an instruction that faults counts, as on bare metal ---------------------------------------
# Every faulting instruction below is one the hypervisor handles for the guest (in its Python
# handlers or their jitted twins) and reflects into the guest kernel as a trap:
FAULTING_GUEST = """
_start:  la   t0, handler
         csrw tvec, t0
         li   t0, 1
         csrw cycle, t0             # read-only CSR: illegal (emulated: t&e, bt, pv)
         csrs ip, t0                # read-only CSR: illegal (emulated: t&e, bt, pv)
         la   t0, user
         csrw epc, t0
         li   t0, 4
         csrc status, t0            # PMODE = user: the eret enters user mode
         eret
user:    csrw scratch, t0           # privileged in user mode (a bt-call under bt)
         hcall                      # illegal in user mode (an hcall exit in every mode)
         syscall                    # back to the kernel, which halts
handler: csrr t0, cause
         li   t1, 9
         beq  t0, t1, done
         addi s2, s2, 1             # count the other traps
         csrr t0, epc
         addi t0, t0, 4
         csrw epc, t0
         eret
done:    mv   a0, s2
         halt
"""
EMULATING = [mode for mode in MODES if mode != "hw-assist"]


def run_bare_and_vm(source: str, mode: str, exits: str):
    """Run ``source`` on bare metal and in a VM; returns (machine, its result, the VM)."""
    image = assemble(source)
    bare = Machine(memory="64K")
    bare.load(image)
    result = bare.run(max_instructions=10_000)
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("v", image, memory="64K", mode=mode, exits=exits)
    vm.start()
    hv.run(cycles=10_000_000)
    return bare, result, vm


@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("mode", MODES)
def test_an_instruction_that_faults_in_the_hypervisor_counts_as_on_bare_metal(
    mode: str, exits: str
) -> None:
    bare, result, vm = run_bare_and_vm(FAULTING_GUEST, mode, exits)
    assert (result.reason, result.exit_code) == ("halt", 4) == (vm.stop_reason, vm.exit_code)
    assert vm.stats.instructions == result.instructions == bare.csr("instret")
    assert vm.csr("instret") == bare.csr("instret")
    # the faulting instructions' own cycles count as well; a trap the hypervisor reflects costs
    # it `reflect` (hypervisor cycles) instead of the core's TRAP_CYCLES, and the guest pays its
    # second-stage walks (one reference each: guest paging is off)
    reflected = 1 if mode == "hw-assist" else bare.stats.traps  # hw-assist: only the hcall
    walks = int(vm.cpu.st[STAT_WALK_REFS]) * WALK_REF_CYCLES
    assert vm.stats.guest_cycles == result.cycles - reflected * TRAP_CYCLES + walks


@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("mode", EMULATING)
def test_an_emulated_instruction_that_faults_with_no_trap_vector_counts(
    mode: str, exits: str
) -> None:
    bare, result, vm = run_bare_and_vm("_start: li t0, 1\n csrw cycle, t0\n halt", mode, exits)
    assert (result.reason, vm.stop_reason) == ("fault", "fault")
    assert vm.stats.instructions == result.instructions == 2
    assert vm.csr("instret") == bare.csr("instret") == 2


# ---- an emulated counter read reads what the hardware reads ------------------------------------
# A csr instruction's read of cycle/instret includes that instruction itself (its cycles, its
# retirement) on bare metal and under hw-assist, where the core executes it; under trap-and-
# emulate, binary translation and paravirtual the hypervisor emulates it and must read the same.
COUNTER_GUEST = """
_start:  csrr s0, cycle
         csrr s1, instret
         addi t0, zero, 1
         csrr s2, cycle
         csrr s3, instret
         csrr t1, cycleh
         csrr t2, instreth
         li   a0, 0
         halt
"""
COUNTER_REGS = {"s0": 12, "s1": 13, "s2": 14, "s3": 15, "t1": 9, "t2": 10}
FREE = CostModel(**{name: 0 for name in CostModel().as_dict()})  # exits cost the guest nothing


def counter_reads(vm_or_machine) -> dict[str, int]:
    return {name: int(vm_or_machine.cpu.regs[r]) for name, r in COUNTER_REGS.items()}


@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("mode", MODES)
def test_an_emulated_counter_read_includes_the_reading_instruction_as_on_bare_metal(
    mode: str, exits: str
) -> None:
    image = assemble(COUNTER_GUEST)
    bare = Machine(memory="64K")
    bare.load(image)
    assert bare.run(max_instructions=100).reason == "halt"
    want = counter_reads(bare)
    assert (want["s1"], want["s3"]) == (2, 5)  # the first instruction reads instret 1 ...
    # with free exits the guest clock is bare metal's plus the second-stage walks it takes (one,
    # for the code page, before the first read): every read must match, counters and high words
    for costs in (FREE, CostModel()):
        hv = Hypervisor(host_memory="1M", costs=costs)
        vm = hv.create_vm("v", image, memory="64K", mode=mode, exits=exits)
        vm.start()
        hv.run(cycles=1_000_000)
        assert vm.stop_reason == "halt"
        got = counter_reads(vm)
        assert (got["s1"], got["s3"], got["t1"], got["t2"]) == (2, 5, 0, 0)  # instret: exact
        if costs is FREE:
            walks = int(vm.cpu.st[STAT_WALK_REFS]) * WALK_REF_CYCLES
            assert walks > 0
            assert got == {**want, "s0": want["s0"] + walks, "s2": want["s2"] + walks}
        else:  # the guest also sees the exits of the two reads before s2 pass (after each read)
            per_read = {"hw-assist": 0, "binary-translation": costs.bt_call}.get(mode, costs.trap)
            if mode != "hw-assist" and exits == "python":
                per_read += costs.userspace
            assert got["s2"] - got["s0"] == want["s2"] - want["s0"] + 2 * per_read


def test_trap_and_emulate_exits_on_every_privileged_instruction() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm(
        "v",
        images.load("minikernel", PRIMES_N=2000, COLLATZ_N=300, PING_N=50, TICKER_N=2),
        memory="4M",
        mode="trap-and-emulate",
    )
    vm.start()
    hv.run(cycles=400_000_000)
    assert vm.stop_reason == "poweroff" and vm.exit_code == 0
    assert vm.stats.exit_count("privileged") > 1000
    assert vm.stats.exit_count("guest-trap") > 100


def test_hardware_assist_runs_the_kernel_without_privileged_exits() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm(
        "v",
        images.load("minikernel", PRIMES_N=2000, COLLATZ_N=300, PING_N=50, TICKER_N=2),
        memory="4M",
        mode="hw-assist",
    )
    vm.start()
    hv.run(cycles=400_000_000)
    assert vm.stop_reason == "poweroff" and vm.exit_code == 0
    assert vm.stats.exit_count("privileged") == 0 and vm.stats.exit_count("guest-trap") == 0


def test_binary_translation_translates_code_pages_once_and_calls_out_instead_of_trapping() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm(
        "v",
        images.load("minikernel", PRIMES_N=2000, COLLATZ_N=300, PING_N=50, TICKER_N=2),
        memory="4M",
        mode="binary-translation",
    )
    vm.start()
    hv.run(cycles=400_000_000)
    assert vm.stop_reason == "poweroff" and vm.exit_code == 0
    assert vm.stats.exit_count("privileged") == 0
    assert vm.stats.exit_count("bt-call") > 1000
    assert 0 < vm.stats.exit_count("translate") < 40


def test_self_modifying_code_is_translated_again() -> None:
    from vmlab import assemble

    src = """
    _start: la   t0, patch
            la   t1, template
            lw   t2, 0(t1)
            sw   t2, 0(t0)          # overwrite the instruction at patch
    patch:  li   a0, 1              # replaced by 'addi a0, zero, 42' before it runs
            halt
    template: addi a0, zero, 42
    """
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", assemble(src), memory="1M", mode="binary-translation")
    vm.start()
    hv.run(cycles=1_000_000)
    assert vm.stop_reason == "halt" and vm.exit_code == 42
    assert vm.stats.exit_count("translate") >= 2


def test_two_vms_share_the_cpu_and_both_finish() -> None:
    hv = Hypervisor(host_memory="16M")
    a = hv.create_vm("a", images.load("sieve", N=30000), memory="1M")
    b = hv.create_vm("b", images.load("fib", N=15), memory="1M")
    a.start()
    b.start()
    hv.run(cycles=100_000_000)
    assert (a.stop_reason, b.stop_reason) == ("halt", "halt")
    assert "primes below 30000" in a.console.output
    assert b.console.output.startswith("fib(15)")
