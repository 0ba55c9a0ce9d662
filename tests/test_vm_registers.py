"""A VM's registers and CSRs by name (``vm.regs``, ``vm.csr``), as on a ``Machine``; and what a VM
says when its guest faults with no trap vector (the same words under every technique)."""

from __future__ import annotations

import pytest

from vmlab import Hypervisor, Machine, VMStateError, assemble
from vmlab.hypervisor import MODES
from vmlab.isa.arch import CSR_NUMBERS, CSR_SCRATCH, REG_NAMES, ST_IE, ST_MODE, ST_PG

M32 = 0xFFFFFFFF
EXIT_PATHS = ("python", "jit")

# li s0, 9 / li t0, 44 / csrw scratch, t0 / addi a0, a0, 1 / halt
PROGRAM = "_start: li s0, 9\n li t0, 44\n csrw scratch, t0\n addi a0, a0, 1\n halt"


@pytest.fixture
def hv() -> Hypervisor:
    return Hypervisor(host_memory="8M")


def finished(hv: Hypervisor, mode: str = "trap-and-emulate", exits: str = "python"):
    """A VM that ran PROGRAM to its halt (a0 was 0, so the exit code is 1)."""
    vm = hv.create_vm("regs", assemble(PROGRAM), memory="64K", mode=mode, exits=exits)
    vm.start()
    hv.run(cycles=1_000_000)
    assert (vm.state, vm.stop_reason, vm.exit_code) == ("stopped", "halt", 1), vm.message
    return vm


# ---- vm.regs --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_registers_read_by_abi_name_rn_and_index(hv: Hypervisor, mode: str) -> None:
    vm = finished(hv, mode)
    assert vm.regs["a0"] == vm.regs["r4"] == vm.regs["A0"] == vm.regs[4] == 1
    assert vm.regs["s0"] == vm.regs["fp"] == 9
    assert vm.regs["sp"] == 64 * 1024  # the loader put sp at the top of the VM's RAM
    assert vm.regs["zero"] == 0
    assert list(vm.regs) == [int(v) for v in vm.cpu.regs[:16]]
    assert vm.regs.as_dict() == dict(zip(REG_NAMES, vm.regs, strict=True))


@pytest.mark.parametrize("mode", MODES)
def test_a_register_written_before_start_is_what_the_guest_sees(hv: Hypervisor, mode: str) -> None:
    vm = hv.create_vm("pre", assemble(PROGRAM), memory="64K", mode=mode)
    vm.regs["a0"] = 41  # addi a0, a0, 1 then halt: exit code 42
    vm.start()
    hv.run(cycles=1_000_000)
    assert (vm.exit_code, vm.regs["a0"]) == (42, 42)


def test_writes_keep_32_bits_and_r0_stays_zero(hv: Hypervisor) -> None:
    vm = finished(hv)
    vm.regs["t0"] = -1
    vm.regs["zero"] = 7
    assert (vm.regs["t0"], vm.regs.signed("t0"), vm.regs[0]) == (M32, -1, 0)


def test_a_paused_vm_runs_on_with_the_registers_written(hv: Hypervisor) -> None:
    # loop: addi a0, a0, 1 / j loop -- a counter the host then moves on by hand
    vm = hv.create_vm("loop", assemble("_start: addi a0, a0, 1\n j _start"), memory="64K")
    vm.start()
    hv.run(cycles=10_000)
    vm.pause()
    vm.regs["a0"] = 1_000_000
    vm.resume()
    hv.run(cycles=10_000)
    assert 1_000_000 < vm.regs["a0"] < 1_100_000


@pytest.mark.parametrize("state", ["running", "deleted"])
def test_writing_a_register_when_not_allowed_names_the_vm_and_its_state(
    hv: Hypervisor, state: str
) -> None:
    vm = hv.create_vm("web-1", assemble("_start: j _start"), memory="64K")
    if state == "running":
        vm.start()
    else:
        vm.delete()
    before = vm.regs.as_dict()
    with pytest.raises(
        VMStateError,
        match=rf"cannot write register a0 of VM 'web-1': it is {state}; registers may be "
        r"written when created or paused or stopped",
    ):
        vm.regs["a0"] = 5
    with pytest.raises(VMStateError, match="register zero"):
        vm.regs[0] = 5
    assert vm.regs.as_dict() == before  # nothing was written
    assert vm.regs["sp"] == 64 * 1024  # reading is legal in every state


def test_unknown_registers_are_refused_as_on_a_machine(hv: Hypervisor) -> None:
    vm = finished(hv)
    m = Machine(memory="64K")
    for regs in (vm.regs, m.regs):
        with pytest.raises(KeyError, match=r"no register 'x1'; use r0..r15 or zero, ra, sp"):
            regs["x1"]
        with pytest.raises(IndexError, match=r"register index 16 out of range 0\.\.15"):
            regs[16]
        with pytest.raises(KeyError, match="no register 'x1'"):
            regs["x1"] = 1


# ---- vm.csr ---------------------------------------------------------------------------------
@pytest.mark.parametrize("exits", EXIT_PATHS)
@pytest.mark.parametrize("mode", MODES)
def test_csr_by_name_reads_the_guest_bank_by_default(hv: Hypervisor, mode: str, exits: str) -> None:
    vm = finished(hv, mode, exits)
    assert vm.csr("scratch") == vm.csr(CSR_SCRATCH) == vm.csr("scratch", guest=True) == 44
    assert vm.csr("scratch", guest=False) == 0  # the guest never touched the real bank
    assert vm.csr("status") & ST_MODE  # the guest kernel sees itself in kernel mode
    assert vm.csr("instret") == vm.cpu.csr("instret", guest=True) > 0


@pytest.mark.parametrize("mode", ["trap-and-emulate", "binary-translation", "paravirtual"])
def test_real_status_shows_the_deprivileged_guest(hv: Hypervisor, mode: str) -> None:
    vm = finished(hv, mode)
    assert vm.csr("status", guest=False) == ST_IE | ST_PG  # user mode, the host's IE and PG
    assert vm.csr("status", guest=True) == ST_MODE


def test_cpu_csr_accepts_names_too(hv: Hypervisor) -> None:
    vm = finished(hv)
    assert vm.cpu.csr("status", guest=True) == vm.cpu.csr(CSR_NUMBERS["status"], guest=True)
    assert vm.cpu.csr("scratch", guest=True) == 44


@pytest.mark.parametrize("bad", ["bogus", 15, -1, 99, True])
def test_unknown_csrs_are_refused_listing_the_known_names(hv: Hypervisor, bad) -> None:
    vm = finished(hv)
    known = r"known: status, tvec, epc, cause, tval, scratch, ptbr, ie, ip, timecmp, .*instreth"
    for read in (vm.csr, lambda x: vm.csr(x, guest=False), Machine(memory="64K").csr):
        with pytest.raises(KeyError, match=rf"no CSR {bad!r}; {known} \(or their numbers 0..14\)"):
            read(bad)


def test_a_vm_and_a_machine_read_the_same_csrs(hv: Hypervisor) -> None:
    m = Machine(memory="64K")
    m.load(assemble(PROGRAM))
    m.run()
    vm = finished(hv, "hw-assist")
    for name in ("scratch", "status", "instret", "tvec", "ie"):
        assert vm.csr(name) == m.csr(name), name


# ---- a guest fault with no trap vector: one message for every technique ---------------------
# li t0, 0x80000000 (lui + addi) / sw t0, 0(t0): a store where no RAM or device is
FAULT = "_start: li t0, 0x80000000\n sw t0, 0(t0)"
FAULT_MESSAGE = (
    "VM 'crash' stopped: unhandled guest access fault (tval 0x80000000) at pc 0x00001008: "
    "the guest has no trap vector (tvec = 0)"
)


@pytest.mark.parametrize("exits", EXIT_PATHS)
@pytest.mark.parametrize("mode", MODES)
def test_a_fault_with_no_trap_vector_reads_the_same_in_every_mode(
    hv: Hypervisor, mode: str, exits: str
) -> None:
    vm = hv.create_vm("crash", assemble(FAULT), memory="64K", mode=mode, exits=exits)
    vm.start()
    hv.run(cycles=1_000_000)
    assert (vm.state, vm.stop_reason) == ("stopped", "fault")
    assert vm.message == FAULT_MESSAGE
