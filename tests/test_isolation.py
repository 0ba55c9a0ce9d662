"""Isolation: every VM is a machine of its own, whatever its neighbours do.

What is checked, in every virtualization technique and on both exit paths where it matters:

* memory: each VM's second-stage map (p2m) points only at host frames it owns (the host's
  reference counts say so), never at the hypervisor's frames 0..15; frames are scrubbed before
  another VM gets them; linked clones share frames read-only until one writes;
* devices: console output and input and the disk are per VM;
* no guest reads or writes another VM's or the hypervisor's memory, crashes the host (no exception
  out of ``hv.run``), or stops another VM: ``images/rogue.s`` (spinning for ever at the end) runs
  beside well-behaved VMs, which still finish with the same output as on bare metal;
* a faulting guest is stopped with a message naming the VM and the cause (or, with a trap
  vector, the fault is reflected into its own kernel) and the others run on;
* a property test: random guest programs (random words; random valid instructions from the
  instruction table; loads of interesting addresses followed by loads, stores, jumps, CSR writes
  and hypercalls), run in one VM, leave every byte of host memory that is not that VM's unchanged
  (other VMs, free frames, the hypervisor's frames; decode cache too), leave a paused VM's vCPU and
  devices unchanged, let a running VM finish correctly, and never raise out of ``hv.run``.

Hypervisor frames and free frames are filled with a recognizable pattern before an attack, so that
a stray write of zeros would show too.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vmlab import VM, Hypervisor, Machine, assemble, images
from vmlab.core.layout import P2M_SHIFT, P2M_V, P2M_W, ST_GCSR, ST_PC
from vmlab.devices.disk import Disk
from vmlab.hypervisor import MODES, CostModel
from vmlab.hypervisor.host import HYPERVISOR_FRAMES
from vmlab.image import Image, Segment
from vmlab.isa.arch import CAUSE_NAMES, CSR_INSTRET, CSR_NAMES, CSR_TVEC, PAGE_SIZE
from vmlab.isa.encoding import encode, imm_range, reg_fields
from vmlab.isa.table import INSTRUCTIONS

M32 = 0xFFFFFFFF
EXITS = ("python", "jit")
WORDS = PAGE_SIZE // 4
PATTERN = 0xDEAD0000  # + frame number: what unowned frames hold during an attack


# ---- helpers -------------------------------------------------------------------------------
def asm(source: str) -> Image:
    """Assemble a test program that may include lib/vl32.s and lib/console.s."""
    return assemble(source, include_dirs=[images.images_dir()])


def check_frame_ownership(hv: Hypervisor) -> None:
    """Every guest page maps a VM-owned frame; reference counts equal the number of mappings."""
    mem = hv.memory
    owners: Counter[int] = Counter()
    for vm in hv.vms:
        assert len(vm.p2m) == vm.memory_size // PAGE_SIZE
        for gfn, entry in enumerate(vm.p2m.tolist()):
            frame = entry >> P2M_SHIFT
            assert entry & P2M_V, (vm.name, gfn)
            assert HYPERVISOR_FRAMES <= frame < mem.frames, (vm.name, gfn, frame)
            owners[frame] += 1
            if mem.refs[frame] > 1:  # shared by linked clones: nobody may write it in place
                assert not entry & P2M_W, (vm.name, gfn, frame)
    assert all(mem.refs[:HYPERVISOR_FRAMES] == 1)  # the hypervisor's own
    for frame in range(HYPERVISOR_FRAMES, mem.frames):
        assert mem.refs[frame] == owners[frame], (frame, int(mem.refs[frame]), owners[frame])
    unowned = mem.frames - HYPERVISOR_FRAMES - len(owners)
    assert mem.free_frames == unowned


def pages(hv: Hypervisor) -> np.ndarray:
    """Host memory as one row of words per frame (a view)."""
    return hv.memory.mem.reshape(-1, WORDS)


def fill_unowned_frames(hv: Hypervisor) -> np.ndarray:
    """Write PATTERN + n into the hypervisor's frames and every free frame; returns their numbers."""
    mem = hv.memory
    frames = np.array(
        [f for f in range(mem.frames) if f < HYPERVISOR_FRAMES or mem.refs[f] == 0], dtype=np.int64
    )
    pages(hv)[frames] = (PATTERN + frames[:, None]).astype(np.uint32)
    return frames


def run_until_stopped(
    hv: Hypervisor, vms: list[VM], chunk: int = 2_000_000, most: int = 40
) -> None:
    """Run the host in chunks until every VM in ``vms`` has stopped (at most ``most`` chunks)."""
    for _ in range(most):
        if all(vm.state == "stopped" for vm in vms):
            return
        hv.run(cycles=chunk)
    raise AssertionError([(vm.name, vm.state, vm.message) for vm in vms])


@cache
def bare_metal_output(name: str, **defines: int) -> str:
    """What an image prints on a bare-metal Machine (the reference for a well-behaved VM)."""
    m = Machine(memory="1M")
    m.load(images.load(name, **defines))
    result = m.run(max_instructions=50_000_000)
    assert (result.reason, result.exit_code) == ("halt", 0)
    return m.console.output


GOOD = (("sieve", {"N": 5000}), ("fib", {"N": 15}), ("hello", {}))


def add_good_vms(hv: Hypervisor, mode: str, exits: str) -> list[VM]:
    """Three well-behaved VMs (they halt with exit code 0 after printing their results)."""
    return [
        hv.create_vm(f"good-{name}", images.load(name, **d), memory="1M", mode=mode, exits=exits)
        for name, d in GOOD
    ]


def check_good_vms(vms: list[VM]) -> None:
    """Each well-behaved VM finished with exactly its bare-metal output."""
    for vm, (name, d) in zip(vms, GOOD, strict=True):
        assert (vm.state, vm.stop_reason, vm.exit_code) == ("stopped", "halt", 0), vm.message
        assert vm.console.output == bare_metal_output(name, **d)


# ---- memory: frames and ownership ------------------------------------------------------------
def test_each_vm_maps_only_frames_it_owns_and_never_the_hypervisors() -> None:
    hv = Hypervisor(host_memory="4M")
    vms = [
        hv.create_vm(f"vm{i}", images.load("hello"), memory=size, mode=mode)
        for i, (size, mode) in enumerate(zip(("64K", "128K", "1M", "16K"), MODES, strict=True))
    ]
    check_frame_ownership(hv)
    all_frames = np.concatenate([vm.frames for vm in vms])
    assert len(set(all_frames.tolist())) == len(all_frames)  # no frame in two VMs
    assert all_frames.min() >= HYPERVISOR_FRAMES
    assert all(
        vm.p2m.tolist() == [(f << P2M_SHIFT) | P2M_V | P2M_W for f in vm.frames] for vm in vms
    )
    assert hv.memory.used_bytes == sum(vm.memory_size for vm in vms)


def test_a_deleted_vms_frames_are_scrubbed_before_another_vm_gets_them() -> None:
    hv = Hypervisor(host_memory="1M")
    old = hv.create_vm("old", images.load("hello"), memory="256K")
    secret = b"the previous tenant's data " * 100
    for page in range(64):
        old.write_guest(page * PAGE_SIZE, secret[:PAGE_SIZE])
    frames = set(old.frames.tolist())
    old.delete()
    image = asm("_start: halt\n")
    new = hv.create_vm("new", image, memory="256K")
    assert set(new.frames.tolist()) == frames  # the same frames, lowest first
    expected = bytearray(new.memory_size)  # zeros, and the new image
    for seg in image.segments:
        expected[seg.addr : seg.end] = seg.data
    assert new.read_guest(0, new.memory_size) == expected
    check_frame_ownership(hv)


def test_linked_clones_share_frames_read_only_until_one_writes() -> None:
    hv = Hypervisor(host_memory="2M")
    src = hv.create_vm("src", images.load("sieve", N=3000), memory="64K")
    src.start()
    hv.run(cycles=30_000)
    src.pause()
    before = src.read_guest(0, src.memory_size)
    clone = src.clone("clone", linked=True)
    assert np.array_equal(clone.frames, src.frames)
    assert all(hv.memory.refs[src.frames] == 2)
    check_frame_ownership(hv)
    clone.resume()
    run_until_stopped(hv, [clone])
    assert clone.console.output == bare_metal_output("sieve", N=3000)
    check_frame_ownership(hv)
    assert src.read_guest(0, src.memory_size) == before  # the clone's writes were its own
    assert len(set(clone.frames.tolist()) - set(src.frames.tolist())) > 0  # copied on write


# ---- devices ----------------------------------------------------------------------------------
ECHO = """
        .include "lib/vl32.s"
_start: li      t0, CONSOLE_BASE
        li      s0, 0
loop:   lw      t1, CON_RX(t0)          # 0xffffffff when no input is waiting
        li      t2, -1
        beq     t1, t2, done
        sw      t1, CON_TX(t0)
        addi    s0, s0, 1
        j       loop
done:   mv      a0, s0                  # exit code: bytes echoed
        halt
"""

DISK_COPY = """
        .include "lib/vl32.s"
_start: li      t0, DISK_BASE
        la      t1, buf
        sw      t1, DSK_ADDR(t0)
        sw      zero, DSK_SECTOR(t0)
        li      t1, 1                   # read sector 0 into buf
        sw      t1, DSK_CMD(t0)
        lw      a0, DSK_STATUS(t0)
        bnez    a0, out
        li      t1, 1
        sw      t1, DSK_SECTOR(t0)
        li      t1, 2                   # write buf to sector 1
        sw      t1, DSK_CMD(t0)
        lw      a0, DSK_STATUS(t0)
out:    halt                            # exit code: the disk status (0 ok, 4 no disk)
        .align  512
buf:    .space  512
"""


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", MODES)
def test_console_output_and_input_are_per_vm(mode: str, exits: str) -> None:
    hv = Hypervisor(host_memory="2M")
    a = hv.create_vm("a", asm(ECHO), memory="64K", mode=mode, exits=exits)
    b = hv.create_vm("b", asm(ECHO), memory="64K", mode=mode, exits=exits)
    c = hv.create_vm("c", asm(ECHO), memory="64K", mode=mode, exits=exits)
    a.console.feed("ping")
    c.console.feed("a much longer line for c")
    for vm in (a, b, c):
        vm.start()
    run_until_stopped(hv, [a, b, c])
    assert (a.console.output, a.exit_code) == ("ping", 4)
    assert (b.console.output, b.exit_code) == ("", 0)
    assert (c.console.output, c.exit_code) == ("a much longer line for c", 24)
    assert a.console.pending_input == b.console.pending_input == c.console.pending_input == b""


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", MODES)
def test_each_vm_has_its_own_disk(mode: str, exits: str) -> None:
    hv = Hypervisor(host_memory="2M")
    disks = {name: Disk.from_bytes(name.encode() * 200 + bytes(1000)) for name in ("a", "b")}
    originals = {name: d.data.copy() for name, d in disks.items()}
    vms = [
        hv.create_vm(name, asm(DISK_COPY), memory="64K", mode=mode, exits=exits, disk=disk)
        for name, disk in disks.items()
    ]
    nodisk = hv.create_vm("none", asm(DISK_COPY), memory="64K", mode=mode, exits=exits)
    for vm in (*vms, nodisk):
        vm.start()
    run_until_stopped(hv, [*vms, nodisk])
    assert [vm.exit_code for vm in vms] == [0, 0] and nodisk.exit_code == 4  # 4: no disk
    for name, disk in disks.items():
        assert disk.read_sector(1) == disk.read_sector(0) == originals[name][:512].tobytes()
        assert np.array_equal(disk.data[1024:], originals[name][1024:])


# ---- neighbours that misbehave ----------------------------------------------------------------
HCALL_LINE = "hcall without a hypervisor: caught illegal instruction, tval=0x00000052\n"


def rogue_log_in_a_vm() -> str:
    """images/rogue.expected, as it reads inside a VM.

    Every attempt is stopped by the virtual machine exactly as by the bare machine, except one:
    under a hypervisor ``hcall`` is not illegal (it exits to the hypervisor, which answers the
    call), so rogue's attempt that expects an illegal instruction runs on to its syscall.
    """
    text = images.expected_output("rogue")
    assert HCALL_LINE in text and "25 attempts, 0 surprises" in text
    text = text.replace(
        HCALL_LINE,
        "hcall without a hypervisor: no trap\n  ^ SURPRISE: not what this attempt expected\n",
    )
    return text.replace("25 attempts, 0 surprises", "25 attempts, 1 surprises")


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", MODES)
def test_rogue_spinning_beside_well_behaved_vms_cannot_stop_them(mode: str, exits: str) -> None:
    hv = Hypervisor(host_memory="8M")
    rogue = hv.create_vm("rogue", images.load("rogue", SPIN=1), memory="4M", mode=mode, exits=exits)
    good = add_good_vms(hv, mode, exits)
    hypervisor_frames = pages(hv)[:HYPERVISOR_FRAMES].copy()
    for vm in (rogue, *good):
        vm.start()
    spin = images.load("rogue", SPIN=1).symbols["spin"]
    for _ in range(40):
        if rogue.pc == spin and all(vm.state == "stopped" for vm in good):
            break
        hv.run(cycles=2_000_000)
    check_good_vms(good)
    # the rogue is caught by its own trap handler every time (faults reflected into its own
    # kernel), logs each attempt, and is still spinning: it was never allowed to stop anything
    assert rogue.state == "running" and rogue.console.output == rogue_log_in_a_vm()
    assert rogue.pc == spin
    spun = rogue.stats.instructions
    hv.run(cycles=1_000_000)  # the host still schedules it, and still returns
    assert rogue.stats.instructions > spun and rogue.state == "running"
    assert np.array_equal(pages(hv)[:HYPERVISOR_FRAMES], hypervisor_frames)
    check_frame_ownership(hv)


READER = """
        .include "lib/vl32.s"
        .equ    PAGES, 64
_start: la      t0, handler
        csrw    tvec, t0
        mv      s0, sp                  # the first address past its RAM
        li      s1, 0                   # loads that returned something
        li      s2, PAGES
loop:   lw      t1, 0(s0)               # faults (the handler skips the next line) ...
        addi    s1, s1, 1               # ... or counts a success
        li      t0, PAGE_SIZE
        add     s0, s0, t0
        addi    s2, s2, -1
        bnez    s2, loop
        li      t0, DISK_BASE           # and by DMA: write the disk from just past its RAM
        sw      sp, DSK_ADDR(t0)
        sw      zero, DSK_SECTOR(t0)
        li      t1, 2
        sw      t1, DSK_CMD(t0)
        lw      s3, DSK_STATUS(t0)      # 2: bad address
        mv      a0, s1
        halt
handler:
        csrr    t0, epc
        addi    t0, t0, 8               # skip the load and the count
        csrw    epc, t0
        eret
"""


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", MODES)
def test_a_guest_cannot_read_past_its_own_ram(mode: str, exits: str) -> None:
    hv = Hypervisor(host_memory="1M")
    reader = hv.create_vm(
        "reader", asm(READER), memory="64K", mode=mode, exits=exits, disk=Disk.memory(1024)
    )
    neighbour = hv.create_vm("neighbour", asm("_start: wfi\n j _start\n"), memory="64K")
    secret = b"neighbour's secret".ljust(PAGE_SIZE, b"!") * 16
    neighbour.write_guest(0, secret)  # every page of the neighbour, just past the reader's RAM
    reader.start()
    neighbour.start()
    run_until_stopped(hv, [reader])
    assert reader.stop_reason == "halt" and reader.exit_code == 0  # no load succeeded
    assert reader.cpu.regs[15] == 2  # s3: the disk refused the buffer (bad address)
    assert not reader.disk.data.any()  # nothing reached the disk
    assert neighbour.read_guest(0, len(secret)) == secret
    words = np.frombuffer(secret[:64], dtype="<u4")  # no register holds any of the secret
    assert not np.isin(reader.cpu.regs[1:16], words).any()


TRAP_LOOP = """
_start: la      t0, bad
        csrw    tvec, t0                # the trap handler is the faulting instruction itself
bad:    csrw    cycle, t0               # cycle is read-only: illegal instruction, for ever
        halt
"""


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", MODES)
def test_a_guest_trapping_in_a_loop_neither_crashes_the_host_nor_starves_others(
    mode: str, exits: str
) -> None:
    # regression: in the trap-and-emulate family no guest instruction retires in this loop (each
    # attempt is reflected by the VMM), and the host used to take that for a hang and raise
    hv = Hypervisor(host_memory="4M")
    looper = hv.create_vm("looper", asm(TRAP_LOOP), memory="64K", mode=mode, exits=exits)
    good = add_good_vms(hv, mode, exits)
    for vm in (looper, *good):
        vm.start()
    run_until_stopped(hv, good)
    check_good_vms(good)
    assert looper.state == "running" and looper.stats.consumed_cycles > 1_000_000


STOPPERS = {
    "halt": ("_start: li a0, 7\n halt\n", ("stopped", "halt", 7)),
    "poweroff": (
        '.include "lib/vl32.s"\n_start: li t0, POWER_BASE\n li t1, 3\n sw t1, PWR_EXIT_CODE(t0)\n'
        " li t1, 1\n sw t1, PWR_CTRL(t0)\n j _start\n",
        ("stopped", "poweroff", 3),
    ),
    "reboot": (  # reboots itself for ever (regression: a reboot mid-slice hung the host)
        '.include "lib/vl32.s"\n_start: li t0, POWER_BASE\n li t1, 2\n sw t1, PWR_CTRL(t0)\n'
        " j _start\n",
        ("running", None, None),
    ),
    "wfi": ("_start: wfi\n j _start\n", ("running", None, None)),  # waits for ever
    "hcall-poweroff": (
        "_start: li a0, 6\n li a1, 9\n hcall\n j _start\n",
        ("stopped", "poweroff", 9),
    ),
}


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("how", STOPPERS)
@pytest.mark.parametrize("mode", MODES)
def test_a_guest_can_stop_or_restart_only_itself(mode: str, how: str, exits: str) -> None:
    source, expected = STOPPERS[how]
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm("stopper", asm(source), memory="64K", mode=mode, exits=exits)
    good = add_good_vms(hv, mode, exits)
    for v in (vm, *good):
        v.start()
    run_until_stopped(hv, good)
    check_good_vms(good)
    assert (vm.state, vm.stop_reason, vm.exit_code) == expected
    if how == "reboot":  # it really rebooted again and again (its counter restarts each time)
        assert vm.stats.instructions > 100 and vm.cpu.csr(CSR_INSTRET, guest=True) < 10


FAULTS = {
    "illegal instruction": ("_start: .word 0xffffffff\n", 0xFFFFFFFF),
    "access fault": ("_start: li t0, 0x80000000\n sw t0, 0(t0)\n halt\n", 0x80000000),
    "misaligned load": ("_start: lw t0, 0x1002(zero)\n halt\n", 0x1002),
    "privileged instruction": (  # halt in user mode
        "_start: la t0, user\n csrw epc, t0\n eret\nuser: halt\n",
        0x5A,
    ),
}


@pytest.mark.parametrize("exits", EXITS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cause", FAULTS)
def test_a_faulting_guest_is_stopped_with_a_reason_naming_the_vm_and_the_cause(
    cause: str, mode: str, exits: str
) -> None:
    source, tval = FAULTS[cause]
    assert cause in CAUSE_NAMES.values()
    hv = Hypervisor(host_memory="4M")
    bad = hv.create_vm("crashy", asm(source), memory="64K", mode=mode, exits=exits)
    good = hv.create_vm("good", images.load("fib", N=15), memory="1M", mode=mode, exits=exits)
    bad.start()
    good.start()
    run_until_stopped(hv, [bad, good])
    assert bad.stop_reason == "fault"
    assert "'crashy'" in bad.message and cause in bad.message and f"{tval:#010x}" in bad.message
    assert (good.stop_reason, good.exit_code) == ("halt", 0)
    assert good.console.output == bare_metal_output("fib", N=15)


# ---- the property test ------------------------------------------------------------------------
RAM = 64 * 1024
ADDRESSES = (  # guest-physical addresses worth trying (the rest of the 32-bit space at random)
    0,
    0x1000,  # its own code
    RAM - 4,
    RAM,  # the first byte past its RAM
    RAM + 0x1000,
    RAM + 0x2000,  # where a neighbour would be if guest RAM were host RAM
    2 * RAM,
    0x80000000,
    0xF0000000,  # console
    0xF0001000,  # timer
    0xF0002000,  # disk: SECTOR, ADDR, CMD ...
    0xF0002004,
    0xF0002008,
    0xF0003000,  # power
    0xF0004000,
    0xFFFFF000,
    0xFFFFFFFC,
)
word32 = st.integers(0, M32)
address = st.one_of(st.sampled_from(ADDRESSES), word32)


@st.composite
def valid_instruction(draw: st.DrawFn) -> list[int]:
    """One canonical instruction from the table, random registers and immediates."""
    ins = draw(st.sampled_from(INSTRUCTIONS))
    fields = {f: draw(st.integers(0, 15)) for f in reg_fields(ins)}
    if ins.imm == "csr":
        fields["imm"] = draw(st.sampled_from(sorted(CSR_NAMES)))
    elif ins.imm:
        lo, hi = imm_range(ins)
        fields["imm"] = draw(st.one_of(st.integers(lo, hi), st.integers(max(lo, -4), min(hi, 4))))
    return [encode(ins.name, **fields)]


@st.composite
def load_address(draw: st.DrawFn) -> list[int]:
    """lui + ori: put an interesting address into a random register."""
    rd, a = draw(st.integers(1, 15)), draw(address)
    return [encode("lui", rd=rd, imm=a >> 16), encode("ori", rd=rd, rs1=rd, imm=a & 0xFFFF)]


@st.composite
def hypercall(draw: st.DrawFn) -> list[int]:
    """A hypercall with a random number (known ones mostly) and address-like arguments."""
    num = draw(st.one_of(st.integers(0, 15), word32.map(lambda w: w & 0x7FFF)))
    return [
        *draw(load_address()),
        encode("addi", rd=4, imm=num),  # a0
        encode("lui", rd=5, imm=draw(address) >> 16),  # a1
        encode("addi", rd=6, imm=draw(st.integers(-4, 64))),  # a2
        encode("hcall"),
    ]


piece = st.one_of(
    word32.map(lambda w: [w]), valid_instruction(), valid_instruction(), load_address(), hypercall()
)
program = st.lists(piece, min_size=1, max_size=24).map(lambda ps: [w for p in ps for w in p])
# a random guest: its program, registers r1..r15, a trap vector (or none) and its technique
GUEST = {
    "words": program,
    "regs": st.lists(address, min_size=15, max_size=15),
    "tvec": st.one_of(st.none(), st.integers(0, 200)),
    "mode": st.sampled_from(MODES),
}


def random_programs(examples: int) -> settings:
    """Hypothesis settings of the random-program tests (the same examples in every run)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@random_programs(200)
@given(
    **GUEST,
    exits=st.sampled_from(EXITS),
    clone=st.booleans(),
    pause_at=st.integers(2_000, 40_000),
    cpus=st.sampled_from([1, 2]),  # with two, the attacker and its neighbour run side by side
)
def test_random_guest_programs_never_touch_another_vm_or_the_hypervisor(
    words: list[int],
    regs: list[int],
    tvec: int | None,
    mode: str,
    exits: str,
    clone: bool,
    pause_at: int,
    cpus: int,
) -> None:
    hv = Hypervisor(host_memory="512K", cpus=cpus)
    code = np.array(words, dtype="<u4").tobytes()
    # a paused neighbour with a state of its own (part of its program has run)
    paused = hv.create_vm(
        "paused", images.load("sieve", N=20000), memory=RAM, mode=mode, exits=exits
    )
    paused.start()
    hv.run(cycles=pause_at)
    assert paused.state == "running"
    paused.pause()
    if clone:  # the attacker is a linked clone of the paused VM: they share every frame
        attacker = paused.clone("attacker", linked=True)
        attacker.write_guest(0x1000, code)
        attacker.cpu.st[ST_PC] = 0x1000
    else:
        image = Image([Segment(0x1000, code)], entry=0x1000)
        attacker = hv.create_vm(
            "attacker", image, memory=RAM, mode=mode, exits=exits, disk=Disk.memory(2048)
        )
    running = hv.create_vm("running", images.load("fib", N=10), memory=RAM, mode=mode, exits=exits)
    for i, value in enumerate(regs, start=1):
        attacker.cpu.regs[i] = value
    if tvec is not None:  # a trap handler somewhere in (or after) its program
        attacker.cpu.st[ST_GCSR + CSR_TVEC] = 0x1000 + 4 * tvec
    check_frame_ownership(hv)
    if not clone:  # (a clone's copy-on-write takes free frames: leave them as the host has them)
        fill_unowned_frames(hv)
    else:
        pages(hv)[:HYPERVISOR_FRAMES] = PATTERN
    host_before = pages(hv).copy()
    dcache_before = hv.memory.dcache.reshape(-1, WORDS).copy()
    paused_ram = paused.read_guest(0, RAM)
    paused_cpu = paused.cpu.save()
    paused_frames = paused.frames.copy()
    paused_console = (paused.console.output_bytes, paused.console.pending_input)
    if attacker.state == "created":
        attacker.start()
    else:
        attacker.resume()
    running.start()

    hv.run(cycles=1_500_000)  # nothing a guest does may raise out of here

    event(f"attacker {attacker.stop_reason or attacker.state}")  # --hypothesis-show-statistics
    event(f"attacker exits: {', '.join(sorted(attacker.stats.exits)) or 'none'}")
    check_frame_ownership(hv)
    assert (running.stop_reason, running.exit_code) == ("halt", 0), running.message
    assert running.console.output == bare_metal_output("fib", N=10)
    assert paused.state == "paused"
    assert paused.read_guest(0, RAM) == paused_ram
    assert np.array_equal(paused.cpu.regs, paused_cpu["regs"])
    assert np.array_equal(paused.cpu.st, paused_cpu["st"])
    assert np.array_equal(paused.frames, paused_frames)
    assert (paused.console.output_bytes, paused.console.pending_input) == paused_console
    attackers = set(attacker.frames.tolist())
    others = np.array(
        [f for f in range(hv.memory.frames) if f not in attackers and f not in running.frames],
        dtype=np.int64,
    )
    changed = (pages(hv)[others] != host_before[others]).any(axis=1)
    assert not changed.any(), f"frames changed: {others[changed].tolist()}"
    if not clone:  # a clone shares its decode cache entries with its source until it writes
        same_cache = hv.memory.dcache.reshape(-1, WORDS)[others] == dcache_before[others]
        assert same_cache.all()


@pytest.mark.parametrize("exits", EXITS)
def test_a_guest_rebooting_itself_pays_for_zeroing_its_ram(exits: str) -> None:
    """A reboot zeroes the VM's RAM on the host: the guest pays per page, not one cheap exit."""
    source, _ = STOPPERS["reboot"]
    hv = Hypervisor(host_memory="8M")
    small = hv.create_vm("small", asm(source), memory="64K", exits=exits)
    big = hv.create_vm("big", asm(source), memory="4M", exits=exits)
    for vm in (small, big):
        vm.start()
    hv.run(cycles=20_000_000)
    name = "reboot" if exits == "jit" else "mmio"  # (the Python path sees the device write)
    per_reboot = {}
    for vm in (small, big):
        stat = vm.stats.exits[name]
        assert stat.count > 0 and vm.state == "running", vm.name
        assert stat.cycles % stat.count == 0  # every reboot cost the same
        per_reboot[vm.name] = stat.cycles // stat.count
        assert per_reboot[vm.name] > vm.memory_size // 4096 * hv.costs.power_on_page
    pages = (big.memory_size - small.memory_size) // 4096
    assert per_reboot["big"] - per_reboot["small"] == pages * hv.costs.power_on_page
    # equal shares of the CPU: the VM with 64 times the RAM reboots far less often
    assert small.stats.exits[name].count > 20 * big.stats.exits[name].count


def run_random_program(
    words: list[int], regs: list[int], tvec: int | None, mode: str, exits: str, clone: bool
) -> dict:
    """The program alone (or as a linked clone of a half-run sieve) on a fresh host: its results."""
    hv = Hypervisor(host_memory="512K", costs=CostModel(userspace=0, vmexit=0))
    code = np.array(words, dtype="<u4").tobytes()
    if clone:
        sieve = images.load("sieve", N=20000)
        source = hv.create_vm(
            "src", sieve, memory=RAM, mode=mode, exits=exits, disk=Disk.memory(2048)
        )
        source.start()
        hv.run(cycles=20_000)
        source.pause()
        vm = source.clone("v", linked=True)
        vm.write_guest(0x1000, code)
        vm.cpu.st[ST_PC] = 0x1000
    else:
        image = Image([Segment(0x1000, code)], entry=0x1000)
        vm = hv.create_vm("v", image, memory=RAM, mode=mode, exits=exits, disk=Disk.memory(2048))
    for i, value in enumerate(regs, start=1):
        vm.cpu.regs[i] = value
    if tvec is not None:
        vm.cpu.st[ST_GCSR + CSR_TVEC] = 0x1000 + 4 * tvec
    if vm.state == "created":
        vm.start()
    else:
        vm.resume()
    hv.run(cycles=1_000_000)
    s = vm.stats
    return {
        "state": (vm.state, vm.stop_reason, vm.exit_code, vm.message),
        "console": vm.console.output,
        "regs": vm.cpu.regs[:16].tolist(),
        "pc": vm.pc,
        "ram": vm.read_guest(0, RAM),
        "disk": None if vm.disk is None else vm.disk.data.tobytes(),
        "counters": (s.instructions, s.guest_cycles, s.hypervisor_cycles, hv.clock),
        "hypercalls": s.hypercalls,
        "exits": {
            k: (e.count, e.cycles)
            for k, e in s.exits.items()
            if k not in ("mmio", "poweroff", "reboot")  # device exits: Python path only
        },
    }


@random_programs(120)
@given(**GUEST, clone=st.booleans())
def test_random_guest_programs_end_the_same_on_both_exit_paths(
    words: list[int], regs: list[int], tvec: int | None, mode: str, clone: bool
) -> None:
    """The jitted exit handlers are fast paths of the Python ones, never different machines.

    With exits that cost the same on both paths (no userspace trip, device exits free), any
    program ends with the same registers, memory, disk, console, counters and exits.
    """
    python = run_random_program(words, regs, tvec, mode, "python", clone)
    jit = run_random_program(words, regs, tvec, mode, "jit", clone)
    event(f"{python['state'][1] or python['state'][0]}")
    assert jit == python
