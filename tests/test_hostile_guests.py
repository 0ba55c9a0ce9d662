"""Guests that found corners of the hypervisor (from a hostile-guest audit), in every technique.

Each program here made the host misbehave before: a timer armed for the end of time that moved
the host clock into the range the scheduler keeps for "never", a trap loop that made time stand
still under a zero cost model, exit paths that disagreed with bare metal (r0 written, the wrong
tval, the pc after halt) and a reboot that erased what the guest had printed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vmlab import Disk, Hypervisor, Machine, assemble, images
from vmlab.hypervisor import MODES
from vmlab.hypervisor.costs import CostModel
from vmlab.hypervisor.vm import HORIZON, NEVER

PATHS = ("python", "jit")


def program(body: str) -> object:
    return assemble(
        '        .include "lib/vl32.s"\n_start:\n' + body, "t.s", include_dirs=[images.images_dir()]
    )


SLEEP_FOREVER = program(
    """
        li t0, 1
        csrw ie, t0
        li t0, 0xFFFFFFFE
        csrw timecmp, t0
        li t0, 0x3FFFFFFF
        csrw timecmph, t0      # timecmp = 2**62 - 2: the last cycle a timer can be armed for
        wfi
        li a0, 0
        halt
"""
)


@pytest.mark.parametrize("path", PATHS)
def test_a_timer_armed_for_the_end_of_time_does_not_break_the_host(path: str, tmp_path) -> None:
    """The host idled to 2**62: then runs ran nothing, slices were 1 cycle, exports broke."""
    hv = Hypervisor(host_memory="4M")
    sleeper = hv.create_vm("sleeper", SLEEP_FOREVER, memory="64K", mode="hw-assist", exits=path)
    sleeper.start()
    hv.run()  # returns: nothing will ever run again without outside help
    assert hv.clock < HORIZON and sleeper.state == "running" and sleeper.wake_at == NEVER
    hello = hv.create_vm("hello", images.load("hello"), memory="64K", exits=path)
    hello.start()
    hv.run()
    assert hello.console.output == images.expected_output("hello")
    assert hello.stats.slices == 1  # (slices of 1 cycle each, before)
    sleeper.pause()
    sleeper.export(tmp_path / "s.vmlab")
    back = Hypervisor(host_memory="4M").import_vm(tmp_path / "s.vmlab")
    assert back.state == "paused"


TRAP_LOOP = program(
    """
        li t0, 0xF0000000     # a device page: fetching the vector faults, at no cost itself
        csrw tvec, t0
        syscall
"""
)


@pytest.mark.parametrize("path", PATHS)
def test_a_trap_loop_that_costs_nothing_stops_the_vm_instead_of_hanging(path: str) -> None:
    """With reflect (and userspace) at 0 cycles time stood still: hv.run(cycles=N) never ended."""
    costs = dataclasses.replace(CostModel(), reflect=0, userspace=0)
    hv = Hypervisor(host_memory="4M", costs=costs)
    vm = hv.create_vm("loop", TRAP_LOOP, memory="64K", mode="trap-and-emulate", exits=path)
    other = hv.create_vm("hello", images.load("hello"), memory="64K", exits=path)
    vm.start()
    other.start()
    hv.run(cycles=1_000_000)
    assert (vm.state, vm.stop_reason) == ("stopped", "fault")
    assert "no progress" in vm.message and "cost model charges 0 cycles" in vm.message
    assert other.console.output == images.expected_output("hello")  # the others go on


def test_a_binary_translated_read_of_status_into_r0_leaves_r0_zero() -> None:
    """BT on a non-strict machine, Python exit path: ``csrr zero, status`` wrote r0."""
    img = program(
        """
        la t0, handler
        csrw tvec, t0
        la t0, user
        csrw epc, t0
        li t0, ST_PIE | ST_MODE
        csrw status, t0
        eret                    # to user mode
user:   csrr zero, status       # sensitive but not privileged on a non-strict machine
        add a0, zero, zero      # a0 = 0 + 0
        syscall
handler: halt                   # exit code = a0
"""
    )
    m = Machine(memory="64K", strict=False)
    m.load(img)
    assert m.run().exit_code == 0
    for path in PATHS:
        hv = Hypervisor(host_memory="1M")
        vm = hv.create_vm(
            "bt", img, memory="64K", mode="binary-translation", exits=path, strict=False
        )
        vm.start()
        hv.run(cycles=1_000_000)
        assert (vm.exit_code, vm.regs[0]) == (0, 0), path


DEVICE_ALIAS = program(
    """
        la t0, handler
        csrw tvec, t0
        li t0, 0xC000           # L1 page table
        li t1, 0x0000000F       # VA 0..4M -> PA 0..4M
        sw t1, 0(t0)
        li t1, 0xF0000007       # VA 0x00400000.. -> the devices
        sw t1, 4(t0)
        csrw ptbr, t0
        li t1, ST_MODE | ST_PG
        csrw status, t1
        li t0, 0x00400FF0       # the console's page + 0xFF0: no such register
        lw a0, 0(t0)            # an access fault
handler: csrr a0, tval
        halt                    # exit code = tval
"""
)


@pytest.mark.parametrize("mode", MODES)
def test_a_device_access_fault_reports_the_virtual_address(mode: str) -> None:
    """The Python exit path gave the guest-physical address (0xf0000ff0) as tval."""
    m = Machine(memory="64K")
    m.load(DEVICE_ALIAS)
    assert m.run().exit_code == 0x00400FF0
    for path in PATHS:
        hv = Hypervisor(host_memory="4M")
        vm = hv.create_vm("g", DEVICE_ALIAS, memory="64K", mode=mode, exits=path)
        vm.start()
        hv.run(cycles=1_000_000)
        assert vm.exit_code == 0x00400FF0, path


@pytest.mark.parametrize("mode", MODES)
def test_after_halt_the_pc_is_on_the_halt_as_on_bare_metal(mode: str) -> None:
    img = program("        li a0, 3\n        halt\n")
    m = Machine(memory="64K")
    m.load(img)
    bare = m.run()
    for path in PATHS:
        hv = Hypervisor(host_memory="1M")
        vm = hv.create_vm("g", img, memory="64K", mode=mode, exits=path)
        vm.start()
        hv.run()
        assert (vm.pc, vm.stats.instructions, vm.exit_code) == (m.pc, bare.instructions, 3)


PANIC_AND_REBOOT = program(
    """
        li s3, DISK_BASE
        li s1, 0x8000
        sw zero, DSK_SECTOR(s3)
        sw s1, DSK_ADDR(s3)
        li t1, 1
        sw t1, DSK_CMD(s3)        # read the boot count (sector 0)
        lw t1, 0(s1)
        bnez t1, second
        li t1, 1
        sw t1, 0(s1)
        li t1, 2
        sw t1, DSK_CMD(s3)        # write it back
        la a0, panic
        call puts
        li t0, POWER_BASE
        li t1, 2
        sw t1, PWR_CTRL(t0)       # reboot
second: la a0, again
        call puts
        li a0, 0
        halt
        .data
panic:  .asciz "kernel panic: something important\\n"
again:  .asciz "booted again\\n"
        .text
        .include "lib/console.s"
"""
)


@pytest.mark.parametrize("path", PATHS)
def test_a_reboot_the_guest_asks_for_keeps_what_it_printed(path: str, tmp_path: Path) -> None:
    """The panic message printed just before the reboot vanished (bare metal keeps it)."""
    expected = "kernel panic: something important\nbooted again\n"
    hv = Hypervisor(host_memory="4M")
    vm = hv.create_vm(
        "g", PANIC_AND_REBOOT, memory="64K", mode="hw-assist", exits=path, disk=Disk.memory(512)
    )
    vm.start()
    hv.run(cycles=10_000_000)
    assert (vm.console.output, vm.exit_code) == (expected, 0)
    vm.reset()  # a reset by the user still starts with an empty console
    assert vm.console.output == ""
