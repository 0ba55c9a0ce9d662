"""Clones: linked clones share memory copy-on-write until written; full clones copy it."""

from __future__ import annotations

import numpy as np
import pytest

from vmlab import Hypervisor, VMStateError, assemble, images
from vmlab.core.layout import P2M_W, ST_GCSR, ST_TLB_DATA, ST_TLB_TAG, TLB_IO
from vmlab.devices.disk import Disk
from vmlab.hypervisor import MODES, HostMemoryError
from vmlab.hypervisor.snapshot import snapshot_cost_figures
from vmlab.hypervisor.vm import VM
from vmlab.isa.arch import CSR_CYCLE, PAGE_SIZE, TLB_ENTRIES

SIEVE = {"N": 20000}


def fingerprint(vm: VM) -> dict:
    """What a run produced: output, registers, the whole CPU state and the accounting."""
    return {
        "output": vm.console.output,
        "state": (vm.state, vm.stop_reason, vm.exit_code),
        "regs": vm.cpu.regs.tolist(),
        "st": vm.cpu.st.tolist(),
        "instructions": vm.stats.instructions,
        "guest_cycles": vm.stats.guest_cycles,
        "hypervisor_cycles": vm.stats.hypervisor_cycles,
        "exits": {k: (e.count, e.cycles) for k, e in vm.stats.exits.items()},
    }


def paused_sieve(hv: Hypervisor, name: str = "src", memory: str = "1M") -> VM:
    """A sieve VM paused in the middle of its run."""
    vm = hv.create_vm(name, images.load("sieve", **SIEVE), memory=memory)
    vm.start()
    hv.run(cycles=300_000)
    assert vm.state == "running"
    vm.pause()
    return vm


def run_alone(vm: VM) -> None:
    """Run ``vm`` to its end while every other VM on its host stays paused."""
    vm.resume()
    vm.hv.run(cycles=50_000_000)
    assert vm.state == "stopped" and vm.stop_reason == "halt" and vm.exit_code == 0


def guest_view_of_cpu(vm: VM) -> list[int]:
    """The whole CPU state, with the TLB's host frames written as the guest pages they hold.

    (The data of an invalid TLB entry is never read; it is left out.)
    """
    st = vm.cpu.st.copy()
    gfn = {int(f): g for g, f in enumerate(vm.frames)}
    for i in range(TLB_ENTRIES):
        data = int(st[ST_TLB_DATA + i])
        if st[ST_TLB_TAG + i] == -1:
            st[ST_TLB_DATA + i] = 0
        elif not data & TLB_IO:
            st[ST_TLB_DATA + i] = gfn[data >> 12] << 12 | (data & 0xFFF)
    return st.tolist()


def memory_of(vm: VM) -> bytes:
    data = vm.read_guest(0, vm.memory_size)
    assert data is not None
    return data


# ---- linked clones -----------------------------------------------------------------------------
def test_a_linked_clone_shares_every_frame_read_only() -> None:
    hv = Hypervisor(host_memory="16M")
    src = paused_sieve(hv)
    used = hv.memory.used_bytes
    clone = src.clone("c", linked=True)
    assert hv.memory.used_bytes == used
    assert np.array_equal(clone.frames, src.frames)
    assert (hv.memory.refs[src.frames] == 2).all()
    assert not (src.p2m & P2M_W).any() and not (clone.p2m & P2M_W).any()
    assert src.memory_used == clone.memory_used == src.memory_size // 2
    assert clone.state == "paused" and memory_of(clone) == memory_of(src)


def test_ten_idle_linked_clones_use_far_less_memory_than_ten_full_ones() -> None:
    hv = Hypervisor(host_memory="64M")
    base = hv.create_vm("base", images.load("secret"), memory="4M")
    base.start()
    hv.run(cycles=1_000_000)
    assert "idling" in base.console.output and base.wake_at is not None
    base.pause()
    before = hv.memory.used_bytes
    linked = [base.clone(f"linked-{i}", linked=True) for i in range(10)]
    for vm in linked:
        vm.resume()
    hv.run(cycles=2_000_000)  # they run: each waits in wfi, as its source did
    linked_cost = hv.memory.used_bytes - before
    assert all(vm.state == "running" for vm in linked)
    for vm in linked:
        vm.stop()
        vm.delete()

    before = hv.memory.used_bytes
    full = [base.clone(f"full-{i}", linked=False) for i in range(10)]
    full_cost = hv.memory.used_bytes - before
    assert full_cost == 10 * base.memory_size
    assert linked_cost < full_cost // 100
    assert sum(vm.memory_used for vm in full) == full_cost


def test_a_clone_written_from_the_host_gets_its_own_copy_of_that_page_only() -> None:
    hv = Hypervisor(host_memory="16M")
    src = paused_sieve(hv)
    original = memory_of(src)
    clone = src.clone("c")
    clone.write_guest(3 * PAGE_SIZE + 5, b"mine")
    assert memory_of(src) == original
    assert clone.read_guest(3 * PAGE_SIZE + 5, 4) == b"mine"
    differs = np.flatnonzero(clone.frames != src.frames).tolist()
    assert differs == [3]
    assert hv.memory.refs[src.frames[3]] == 1 and hv.memory.refs[clone.frames[3]] == 1
    assert clone.p2m[3] & P2M_W and not clone.p2m[4] & P2M_W


def test_linked_clones_diverge_correctly_when_their_guests_write() -> None:
    hv = Hypervisor(host_memory="16M")
    src = paused_sieve(hv)
    original = memory_of(src)
    a = src.clone("a")
    b = src.clone("b")
    run_alone(a)
    assert memory_of(src) == original  # a's writes went to its own copies
    assert a.stats.exit_count("npf") > 0  # ... made on its first write to each page
    written = int(np.count_nonzero(a.frames != src.frames))
    assert 0 < written < a.memory_size // PAGE_SIZE // 2
    run_alone(b)
    run_alone(src)
    assert a.console.output == b.console.output == src.console.output
    assert "primes below 20000" in src.console.output
    assert memory_of(a) == memory_of(b) == memory_of(src)


def test_deleting_clones_and_their_source_returns_every_frame() -> None:
    hv = Hypervisor(host_memory="16M")
    free = hv.memory.free_frames
    src = paused_sieve(hv)
    clones = [src.clone("a"), src.clone("b", linked=False)]
    clones.append(clones[0].clone("a-of-a"))
    run_alone(clones[0])
    for vm in [src, *clones]:
        if vm.state != "stopped":
            vm.stop()
        vm.delete()
    assert hv.memory.free_frames == free
    assert (hv.memory.refs[16:] == 0).all()


def test_restoring_a_linked_clone_makes_its_memory_private_and_leaves_the_others_alone() -> None:
    hv = Hypervisor(host_memory="16M")
    src = paused_sieve(hv)
    snap = src.snapshot("s")
    clone = src.clone("c")
    src.restore(snap)
    assert (hv.memory.refs[src.frames] == 1).all() and (src.p2m & P2M_W).all()
    assert (hv.memory.refs[clone.frames] == 1).all()
    assert memory_of(src) == memory_of(clone)


# ---- full clones -------------------------------------------------------------------------------
def test_a_full_clone_continues_exactly_as_its_source() -> None:
    hv = Hypervisor(host_memory="16M")
    src = paused_sieve(hv)
    clone = src.clone("c", linked=False)
    cloned_at = hv.clock
    assert not np.intersect1d(clone.frames, src.frames).size
    run_alone(src)
    expected = fingerprint(src)
    waited = hv.clock - cloned_at  # the clone stayed paused while the source ran
    run_alone(clone)
    got = fingerprint(clone)
    for key in ("output", "state", "regs", "instructions", "guest_cycles"):
        assert got[key] == expected[key], key
    assert {k: got["exits"][k] for k in expected["exits"]} == expected["exits"]
    # the CPU state is identical, except that the guest's clock also counted any extra hypervisor
    # work (switching to it from the source), and that its TLB names its own host frames (for the
    # same guest pages); the time the clone spent paused is not guest time (time stands still)
    st, st0 = guest_view_of_cpu(clone), guest_view_of_cpu(src)
    cycle = ST_GCSR + CSR_CYCLE
    extra = clone.stats.hypervisor_cycles - src.stats.hypervisor_cycles
    assert waited > 0 and st[cycle] - st0[cycle] == extra
    st[cycle] = st0[cycle]
    assert st == st0


@pytest.mark.parametrize("linked", [True, False])
def test_a_clone_of_a_disk_vm_gets_its_own_copy_of_the_disk(linked: bool) -> None:
    hv = Hypervisor(host_memory="16M")
    src = hv.create_vm("src", images.load("hello"), memory="1M", disk=Disk.from_bytes(b"data"))
    clone = src.clone("c", linked=linked)
    assert clone.disk is not None and clone.disk is not src.disk
    assert clone.disk.read_sector(0)[:4] == b"data"
    clone.disk.data[0] = ord("D")
    assert src.disk is not None and src.disk.read_sector(0)[:4] == b"data"


# ---- lifecycle and errors ----------------------------------------------------------------------
@pytest.mark.parametrize("state", ["created", "paused", "stopped"])
def test_a_clone_starts_in_its_sources_state(state: str) -> None:
    hv = Hypervisor(host_memory="16M")
    src = hv.create_vm("src", images.load("sieve", **SIEVE), memory="1M")
    if state != "created":
        src.start()
        hv.run(cycles=100_000)
        if state == "paused":
            src.pause()
        else:
            src.stop()
    clone = src.clone("c")
    assert clone.state == state and clone.snapshots == [] and clone.pc == src.pc


def test_a_running_vm_must_be_paused_before_it_is_cloned() -> None:
    hv = Hypervisor(host_memory="16M")
    src = hv.create_vm("src", images.load("sieve", **SIEVE), memory="1M")
    src.start()
    refs = hv.memory.refs.copy()
    with pytest.raises(VMStateError, match="cannot clone VM 'src': it is running"):
        src.clone("c")
    assert [vm.name for vm in hv.vms] == ["src"] and np.array_equal(hv.memory.refs, refs)


def test_a_clone_with_a_taken_name_changes_nothing() -> None:
    hv = Hypervisor(host_memory="16M")
    src = paused_sieve(hv)
    refs, p2m = hv.memory.refs.copy(), src.p2m.copy()
    with pytest.raises(ValueError, match="a VM named 'src' already exists"):
        src.clone("src")
    assert np.array_equal(hv.memory.refs, refs) and np.array_equal(src.p2m, p2m)
    assert [vm.name for vm in hv.vms] == ["src"]


def test_a_full_clone_that_does_not_fit_changes_nothing_but_a_linked_one_fits() -> None:
    hv = Hypervisor(host_memory="4M")
    src = paused_sieve(hv, memory="3M")
    free = hv.memory.free_frames
    with pytest.raises(HostMemoryError, match=r"VM 'full' \(3M\) needs 3M but the host has only"):
        src.clone("full", linked=False)
    assert hv.memory.free_frames == free and [vm.name for vm in hv.vms] == ["src"]
    linked = src.clone("linked")
    assert hv.memory.free_frames == free and linked.state == "paused"


def test_the_cost_figures_measure_snapshots_and_clones_of_a_vm_of_the_given_size() -> None:
    figures = snapshot_cost_figures(memory="1M", clones=2, repeat=1)
    assert figures["vm_memory_bytes"] == 1 << 20
    assert figures["host_bytes_per_idle_linked_clone"] == 0
    assert figures["host_bytes_per_full_clone"] == 1 << 20
    assert figures["full_snapshot_bytes"] > (1 << 20) // 2  # most of its memory holds data
    for key in ("snapshot_full", "snapshot_incremental_64_pages", "restore", "clone_linked"):
        assert figures[f"{key}_ms"] > 0
    with pytest.raises(ValueError, match="at least 1M"):
        snapshot_cost_figures(memory="256K")


REBOOTER = """
        .include "lib/vl32.s"
_start: la   t0, mark
        lw   t1, 0(t0)
        addi t1, t1, 1
        sw   t1, 0(t0)          # one more start (the image holds 0: every boot sees 0 first)
        li   t2, 20000
spin:   addi t2, t2, -1
        bnez t2, spin
        li   t0, POWER_BASE
        li   t1, 2
        sw   t1, PWR_CTRL(t0)   # reboot
        j    _start
        .data
mark:   .word 0
"""


def rebooter_for(hv: Hypervisor, exits: str) -> VM:
    """A VM running REBOOTER, paused inside its first spin (after its first store to mark)."""
    image = assemble(REBOOTER, "rebooter.s", include_dirs=[images.images_dir()])
    vm = hv.create_vm("src", image, memory="64K", exits=exits)
    vm.start()
    hv.run(cycles=30_000)
    vm.pause()
    return vm


@pytest.mark.parametrize("exits", ["python", "jit"])
def test_a_linked_clone_rebooting_itself_leaves_its_source_alone(exits: str) -> None:
    """A reboot zeroes RAM: pages the clone still shares with its source get copies first."""
    hv = Hypervisor(host_memory="4M")
    src = rebooter_for(hv, exits)
    mark = src.image.symbols["mark"]
    before = src.read_guest(0, src.memory_size)
    assert int.from_bytes(src.read_guest(mark, 4), "little") == 1
    clone = src.clone("clone", linked=True)
    assert (hv.memory.refs[clone.frames] > 1).any()  # it shares its source's frames
    clone.resume()
    hv.run(cycles=1_000_000)
    assert clone.stats.exits["reboot" if exits == "jit" else "mmio"].count >= 3
    assert int.from_bytes(clone.read_guest(mark, 4), "little") == 1  # a fresh boot each time
    assert src.read_guest(0, src.memory_size) == before
    clone.stop()
    clone.delete()
    src.resume()
    hv.run(cycles=200_000)  # through its own reboot, exactly as if there had been no clone
    alone = Hypervisor(host_memory="4M")
    ref = rebooter_for(alone, exits)
    ref.resume()
    alone.run(cycles=200_000)
    for vm in (src, ref):
        assert vm.stats.exits["reboot" if exits == "jit" else "mmio"].count >= 1
    assert src.read_guest(0, src.memory_size) == ref.read_guest(0, ref.memory_size)
    assert src.cpu.regs.tolist() == ref.cpu.regs.tolist()
    assert (src.stats.instructions, src.stats.guest_cycles) == (
        ref.stats.instructions,
        ref.stats.guest_cycles,
    )


def fill_the_host(hv: Hypervisor) -> VM:
    """A VM that takes every free frame of the host (it prints hello and halts)."""
    filler = hv.create_vm("filler", images.load("hello"), memory=f"{hv.memory.free_frames * 4}K")
    assert hv.memory.free_frames == 0
    return filler


@pytest.mark.parametrize("exits", ["python", "jit"])
def test_a_write_the_host_has_no_frame_for_pauses_only_that_vm(exits: str) -> None:
    """Copy-on-write with the host full: the writer waits, paused; the others run on."""
    alone = Hypervisor(host_memory="1M")
    ref = alone.create_vm("src", images.load("sieve", N=50_000), memory="256K", exits=exits)
    ref.start()
    alone.run()
    hv = Hypervisor(host_memory="1M")
    src = hv.create_vm("src", images.load("sieve", N=50_000), memory="256K", exits=exits)
    src.start()
    hv.run(cycles=300_000)
    src.pause()
    clone = src.clone("clone", linked=True)
    filler = fill_the_host(hv)
    for vm in (src, clone, filler):
        vm.start() if vm.state == "created" else vm.resume()
    hv.run(cycles=20_000_000)
    assert (filler.state, filler.stop_reason, filler.exit_code) == ("stopped", "halt", 0)
    for vm in (src, clone):
        assert vm.state == "paused"
        assert vm.message == (
            f"VM {vm.name!r} paused: copy-on-write for VM {vm.name!r} needs 4K but the host has "
            "only 0 free of 1M; free host memory (stop and delete a VM) and resume it"
        )
    waiting = src.guest_clock
    hv.run(cycles=1_000_000)
    assert src.guest_clock == waiting  # time stands still for it, as for any paused VM
    filler.delete()
    src.resume()
    clone.resume()
    assert src.message == ""
    hv.run()
    for vm in (src, clone):  # the write was retried and the run ends as it would have
        assert (vm.stop_reason, vm.exit_code) == ("halt", 0)
        assert vm.console.output == ref.console.output
    assert src.stats.instructions == ref.stats.instructions


@pytest.mark.parametrize("exits", ["python", "jit"])
def test_a_reboot_the_host_has_no_frames_for_stops_only_that_vm(exits: str) -> None:
    hv = Hypervisor(host_memory="1M")
    src = rebooter_for(hv, exits)
    before = src.read_guest(0, src.memory_size)
    clone = src.clone("clone", linked=True)
    neighbour = hv.create_vm("n", images.load("hello"), memory="64K")
    filler = fill_the_host(hv)
    clone.resume()
    neighbour.start()
    hv.run(cycles=2_000_000)
    assert (clone.state, clone.stop_reason) == ("stopped", "fault")
    assert clone.message.startswith(
        "VM 'clone' stopped: the guest asked for a reboot, and powering on VM 'clone' "
        "(frames for the pages it shares) needs "
    )
    assert src.read_guest(0, src.memory_size) == before
    assert neighbour.console.output == images.expected_output("hello")
    filler.delete()
    clone.reset()  # with memory free again it powers on as usual
    assert clone.state == "created"


def test_a_reset_the_host_has_no_frames_for_changes_nothing() -> None:
    hv = Hypervisor(host_memory="1M")
    src = rebooter_for(hv, "python")
    clone = src.clone("clone", linked=True)
    fill_the_host(hv)
    before = (clone.read_guest(0, clone.memory_size), clone.p2m.copy(), clone.state, clone.pc)
    with pytest.raises(HostMemoryError, match=r"powering on VM 'clone' .* needs 64K"):
        clone.reset()
    after = (clone.read_guest(0, clone.memory_size), clone.p2m.copy(), clone.state, clone.pc)
    assert before[0] == after[0] and (before[1] == after[1]).all() and before[2:] == after[2:]


DISK_READER = """
        .include "lib/vl32.s"
_start: li   s0, 3000
spin:   addi s0, s0, -1
        bnez s0, spin              # (cloned while it spins)
        li   t0, DISK_BASE
        sw   zero, DSK_SECTOR(t0)
        la   t1, buf
        sw   t1, DSK_ADDR(t0)
        li   t1, 1
        sw   t1, DSK_CMD(t0)       # read sector 0 into buf: the disk writes a shared page
        lw   a0, DSK_STATUS(t0)
        la   t1, buf
        lbu  a1, 0(t1)
        add  a0, a0, a1            # exit code: status 0 + the first byte read
        halt
        .data
        .align 512
buf:    .space 512
"""


@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("mode", MODES)
def test_a_disk_read_into_a_shared_page_copies_it_on_both_exit_paths(mode: str, exits: str) -> None:
    """The disk's DMA write is a write like any other: copy-on-write, then the transfer.

    The Python exit path used to reflect an access fault into the guest instead.
    """
    image = assemble(DISK_READER, "reader.s", include_dirs=[images.images_dir()])
    hv = Hypervisor(host_memory="1M")
    src = hv.create_vm(
        "src", image, memory="64K", mode=mode, exits=exits, disk=Disk.from_bytes(b"D")
    )
    src.start()
    hv.run(cycles=2_000)
    src.pause()
    clone = src.clone("clone", linked=True)
    buf = image.symbols["buf"]
    hog = fill_the_host(hv)
    clone.resume()
    hv.run(cycles=1_000_000)
    assert clone.state == "paused" and "copy-on-write for VM 'clone' needs 4K" in clone.message
    hog.delete()
    clone.resume()
    hv.run(cycles=1_000_000)
    assert (clone.stop_reason, clone.exit_code) == ("halt", ord("D"))
    assert clone.read_guest(buf, 1) == b"D"
    assert src.read_guest(buf, 1) == b"\0"  # the source's page is its own, untouched
    src.resume()
    hv.run(cycles=1_000_000)
    assert (src.stop_reason, src.exit_code) == ("halt", ord("D"))


def test_the_memory_series_follows_copy_on_write_run_by_run() -> None:
    # the series' memory_used is remembered between points while no frame changes hands: every
    # point must still be the VM's memory_used then, as copy-on-write gives the clone its pages
    hv = Hypervisor(host_memory="16M")
    src = paused_sieve(hv)
    clone = src.clone("c", linked=True)
    clone.resume()
    seen = []
    for _ in range(40):
        hv.run(cycles=2_000)
        for vm in (src, clone):
            assert hv.series(vm).last()["memory_used"] == vm.memory_used
        seen.append(clone.memory_used)
    assert len(set(seen)) > 1 and seen[-1] < clone.memory_size  # it wrote some pages, not all
