"""Snapshots: a restored VM continues exactly as the uninterrupted one; trees, chains, deletion."""

from __future__ import annotations

import numpy as np
import pytest

from vmlab import Hypervisor, VMStateError, assemble, images
from vmlab.core.decode import OP_BTCALL, decode
from vmlab.devices.disk import Disk
from vmlab.hypervisor import MODES
from vmlab.hypervisor.bt import SENSITIVE
from vmlab.hypervisor.snapshot import Snapshot, format_tree
from vmlab.hypervisor.vm import VM
from vmlab.isa.arch import PAGE_SIZE

KERNEL = {"PRIMES_N": 2000, "COLLATZ_N": 300, "PING_N": 50, "TICKER_N": 2}
TO_THE_END = 40_000_000  # host cycles: the small minikernel powers off well before


def kernel_vm(hv: Hypervisor, mode: str = "hw-assist", exits: str = "python") -> VM:
    """The small minikernel (its paravirtual build for the paravirtual mode), not started."""
    image = images.load("minikernel", PV=int(mode == "paravirtual"), **KERNEL)
    return hv.create_vm("k", image, memory="4M", mode=mode, exits=exits)


def fingerprint(vm: VM) -> dict:
    """Everything a run produces: output, registers, the whole CPU state, accounting."""
    return {
        "output": vm.console.output,
        "state": (vm.state, vm.stop_reason, vm.exit_code),
        "regs": vm.cpu.regs.tolist(),
        "st": vm.cpu.st.tolist(),
        "instructions": vm.stats.instructions,
        "guest_cycles": vm.stats.guest_cycles,
        "hypervisor_cycles": vm.stats.hypervisor_cycles,
        "idle_cycles": vm.stats.idle_cycles,
        "exits": {k: (e.count, e.cycles) for k, e in vm.stats.exits.items()},
        "hypercalls": dict(vm.stats.hypercalls),
    }


def memory_of(vm: VM) -> bytes:
    data = vm.read_guest(0, vm.memory_size)
    assert data is not None
    return data


def pause_at(vm: VM, cycles: int) -> None:
    """Run the VM's hypervisor for ``cycles`` host cycles, then pause the VM."""
    vm.hv.run(cycles=cycles)
    assert vm.state == "running", "the guest should still be in the middle of its work"
    vm.pause()


def finish(vm: VM) -> dict:
    vm.resume()
    vm.hv.run(cycles=TO_THE_END)
    assert vm.state == "stopped" and vm.stop_reason == "poweroff" and vm.exit_code == 0
    return fingerprint(vm)


# ---- exact continuation ------------------------------------------------------------------------
@pytest.mark.parametrize("exits", ["python", "jit"])
@pytest.mark.parametrize("mode", MODES)
def test_a_restored_vm_continues_exactly_as_the_uninterrupted_one(mode: str, exits: str) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv, mode, exits)
    vm.start()
    pause_at(vm, 3_000_000)
    middle = vm.stats.instructions
    snap = vm.snapshot("middle")
    uninterrupted = finish(vm)
    assert 0 < middle < uninterrupted["instructions"]

    vm.restore(snap)
    assert vm.state == "paused" and vm.stats.instructions == middle
    assert finish(vm) == uninterrupted
    if mode == "paravirtual":  # the paravirtual kernel asks the hypervisor instead of trapping
        assert uninterrupted["hypercalls"] and "privileged" not in uninterrupted["exits"]


def test_restoring_twice_gives_the_same_run_twice() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv, "binary-translation")
    vm.start()
    pause_at(vm, 2_000_000)
    snap = vm.snapshot("s")
    first = finish(vm)
    for _ in range(2):
        vm.restore(snap)
        assert finish(vm) == first


def test_a_restore_reconstructs_memory_through_a_chain_of_incremental_snapshots() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv, "trap-and-emulate")
    vm.start()
    snaps: list[Snapshot] = []
    memories: list[bytes] = []
    for i in range(4):
        pause_at(vm, 1_000_000)
        snaps.append(vm.snapshot(f"s{i}"))
        memories.append(memory_of(vm))
        vm.resume()
    assert [s.incremental for s in snaps] == [False, True, True, True]
    assert all(s.pages_stored < vm.memory_size // PAGE_SIZE // 4 for s in snaps[1:])
    vm.pause()
    later = vm.snapshot("later")
    uninterrupted = finish(vm)

    for snap, memory in zip(reversed(snaps), reversed(memories), strict=True):
        vm.restore(snap)
        assert memory_of(vm) == memory, snap.name
    vm.restore(later)
    assert finish(vm) == uninterrupted


def test_an_incremental_snapshot_stores_exactly_the_pages_written_since_its_parent() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M")
    base = vm.snapshot("base")
    assert not base.incremental and base.parent is None
    for gfn in (10, 20, 21):
        vm.write_guest(gfn * PAGE_SIZE + 8, b"\x01\x02\x03")
    written = vm.snapshot("written", incremental=True)
    assert written.incremental and written.parent is base
    assert written.gfns.tolist() == [10, 20, 21]
    again = vm.snapshot("again")
    assert again.gfns.tolist() == [] and again.parent is written


def test_a_full_snapshot_stores_every_non_zero_page() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M")
    vm.snapshot("first")
    vm.write_guest(100 * PAGE_SIZE, b"x")
    full = vm.snapshot("full", incremental=False)
    pages = np.frombuffer(memory_of(vm), np.uint8).reshape(-1, PAGE_SIZE)
    assert not full.incremental and full.parent is not None
    assert full.gfns.tolist() == np.flatnonzero(pages.any(axis=1)).tolist()


def test_a_snapshot_after_a_reset_restores_the_power_on_memory() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv)
    power_on = memory_of(vm)
    vm.snapshot("boot")
    vm.start()
    pause_at(vm, 2_000_000)
    vm.snapshot("running")
    vm.stop()
    vm.reset()  # rewrites all memory: every page counts as written
    after_reset = vm.snapshot("after-reset")
    assert after_reset.incremental and after_reset.pages_stored == vm.memory_size // PAGE_SIZE
    vm.restore("running")
    vm.restore(after_reset)
    assert memory_of(vm) == power_on and vm.state == "created"


def test_restore_invalidates_translations_of_pages_the_guest_rewrote() -> None:
    src = """
    _start: la   t0, patch
            la   t1, template
            lw   t2, 0(t1)
    mark:   nop                     # the snapshot is taken here (this page is translated)
    patch:  li   a0, 1              # runs first as 'li a0, 1' ...
            bnez s1, done
            mv   s2, a0
            li   s1, 1
            sw   t2, 0(t0)          # ... then is rewritten to 'addi a0, zero, 42'
            j    patch
    done:   li   t3, 100
            mul  s2, s2, t3
            add  a0, a0, s2         # exit code 100 * first + second = 142
            halt
    template: addi a0, zero, 42
    """
    image = assemble(src)
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", image, memory="1M", mode="binary-translation")
    vm.start()
    while vm.pc != image.symbol("mark"):
        hv.run(instructions=1)
    vm.pause()
    snap = vm.snapshot("before-patch")
    vm.resume()
    hv.run(cycles=1_000_000)
    assert vm.exit_code == 142
    translated = vm.stats.exit_count("translate")

    vm.restore(snap)
    # every cached entry is the translation of the word now in memory
    mem, dcache = hv.memory.mem, hv.memory.dcache
    for frame in vm.frames.tolist():
        for w in np.flatnonzero(dcache[frame * 1024 : (frame + 1) * 1024]).tolist():
            w += frame * 1024
            d = decode(int(mem[w]), w * 4, vm.cpu.st)
            if SENSITIVE[d & 0xFF]:
                d = (d & ~0xFF) | OP_BTCALL
            assert dcache[w] == d, f"stale translation at host word {w:#x}"
    vm.resume()
    hv.run(cycles=1_000_000)
    assert vm.exit_code == 142
    assert vm.stats.exit_count("translate") == translated


def test_a_restore_brings_the_disk_back_and_an_unchanged_disk_is_stored_once() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M", disk=Disk.from_bytes(b"old"))
    assert vm.disk is not None
    first = vm.snapshot("first")
    second = vm.snapshot("second")
    assert second.state.disk is first.state.disk
    vm.disk.data[:3] = np.frombuffer(b"new", np.uint8)
    third = vm.snapshot("third")
    assert third.state.disk is not first.state.disk
    vm.restore(first)
    assert vm.disk.read_sector(0)[:3] == b"old"
    vm.restore(third)
    assert vm.disk.read_sector(0)[:3] == b"new"


# ---- the snapshot tree -------------------------------------------------------------------------
def test_snapshots_form_a_tree_that_branches_when_an_older_one_is_restored() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M")
    a = vm.snapshot("a")
    b = vm.snapshot("b")
    c = vm.snapshot("c")
    assert vm.current_snapshot is c and c.parent is b and b.parent is a
    vm.restore(a)
    assert vm.current_snapshot is a
    d = vm.snapshot("d")
    assert d.parent is a and a.children == [b, d]
    assert vm.snapshots == [a, b, c, d]
    assert c.ancestors() == [a, b] and [s.name for s in c.chain()] == ["a", "b", "c"]
    assert format_tree(vm) == (
        f"a (full, {a.pages_stored} pages)\n"
        "  b (incremental, 0 pages)\n"
        "    c (incremental, 0 pages)\n"
        "  d (incremental, 0 pages) *"
    )


def test_deleting_a_snapshot_folds_its_pages_into_its_children() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv, "paravirtual")
    vm.start()
    memories: dict[str, bytes] = {}
    for name in ("a", "b", "c"):
        pause_at(vm, 1_000_000)
        vm.snapshot(name)
        memories[name] = memory_of(vm)
        vm.resume()
    vm.pause()
    vm.restore("a")
    vm.resume()
    pause_at(vm, 500_000)
    vm.snapshot("d")  # a second child of "a"
    memories["d"] = memory_of(vm)
    uninterrupted = finish(vm)

    vm.delete_snapshot("b")  # in the middle of a -> b -> c
    assert [s.name for s in vm.snapshots] == ["a", "c", "d"]
    c = vm.snapshots[1]
    assert c.parent is vm.snapshots[0] and c.incremental
    vm.snapshots[0].delete()  # the full root: its children become full
    assert all(not s.incremental and s.parent is None for s in vm.snapshots)
    for name in ("c", "d"):
        vm.restore(name)
        assert memory_of(vm) == memories[name], name
    assert finish(vm) == uninterrupted


def test_deleting_the_current_snapshot_keeps_the_next_incremental_one_complete() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M")
    vm.snapshot("a")
    vm.write_guest(5 * PAGE_SIZE, b"five")
    b = vm.snapshot("b")
    vm.write_guest(6 * PAGE_SIZE, b"six")
    b.delete()
    assert vm.current_snapshot is vm.snapshots[0] and b.deleted
    c = vm.snapshot("c")
    assert c.parent is vm.snapshots[0] and c.gfns.tolist() == [5, 6]
    expected = memory_of(vm)
    vm.write_guest(7 * PAGE_SIZE, b"seven")
    vm.restore(c)
    assert memory_of(vm) == expected


# ---- lifecycle and errors ----------------------------------------------------------------------
def test_a_running_vm_must_be_paused_before_a_snapshot() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv)
    vm.start()
    with pytest.raises(
        VMStateError,
        match=r"cannot snapshot VM 'k': it is running; snapshot is "
        r"allowed when created or paused or stopped",
    ):
        vm.snapshot("s")
    assert vm.snapshots == [] and vm.current_snapshot is None


@pytest.mark.parametrize("taken_when", ["created", "paused", "stopped"])
def test_a_restored_vm_returns_to_the_state_its_snapshot_was_taken_in(taken_when: str) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv)
    if taken_when != "created":
        vm.start()
        hv.run(cycles=1_000_000)
        if taken_when == "paused":
            vm.pause()
        else:
            vm.stop()
    snap = vm.snapshot("s")
    vm.reset()
    vm.start()
    hv.run(cycles=500_000)  # restoring a running VM is legal too
    vm.restore(snap)
    assert vm.state == taken_when


def test_a_created_snapshot_restores_a_vm_that_runs_like_a_fresh_one() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_vm(hv)
    boot = vm.snapshot("boot")
    vm.start()
    first = finish_from_running(vm)
    vm.restore(boot)
    vm.start()
    assert finish_from_running(vm) == first


def finish_from_running(vm: VM) -> dict:
    vm.hv.run(cycles=TO_THE_END)
    assert vm.stop_reason == "poweroff"
    return fingerprint(vm)


def test_a_deleted_vm_cannot_be_restored_or_snapshotted() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M")
    snap = vm.snapshot("s")
    vm.delete()
    with pytest.raises(VMStateError, match="cannot restore VM 'v': it is deleted"):
        vm.restore(snap)
    with pytest.raises(VMStateError, match="cannot snapshot VM 'v': it is deleted"):
        vm.snapshot("t")


@pytest.mark.parametrize("name", ["", "tab\there", 7])
def test_a_snapshot_needs_a_printable_name(name: object) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M")
    with pytest.raises(ValueError, match="snapshot name must be a non-empty printable string"):
        vm.snapshot(name)  # type: ignore[arg-type]
    assert vm.snapshots == []


def test_snapshot_names_are_unique_per_vm() -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M")
    vm.snapshot("s")
    with pytest.raises(ValueError, match="VM 'v' already has a snapshot named 's'"):
        vm.snapshot("s")
    assert len(vm.snapshots) == 1


def test_restore_rejects_unknown_foreign_and_deleted_snapshots() -> None:
    hv = Hypervisor(host_memory="16M")
    a = hv.create_vm("a", images.load("hello"), memory="1M")
    b = hv.create_vm("b", images.load("hello"), memory="1M")
    sa = a.snapshot("sa")
    b.snapshot("sb")
    with pytest.raises(ValueError, match="VM 'a' has no snapshot named 'nope'; snapshots: 'sa'"):
        a.restore("nope")
    with pytest.raises(ValueError, match="snapshot 'sa' belongs to VM 'a', not to VM 'b'"):
        b.restore(sa)
    sa.delete()
    with pytest.raises(ValueError, match="snapshot 'sa' of VM 'a' was deleted"):
        a.restore(sa)
    with pytest.raises(TypeError, match="expected a Snapshot or a snapshot name"):
        a.restore(3)  # type: ignore[arg-type]


def test_time_stands_still_for_a_paused_vm() -> None:
    """A VM paused while others run resumes exactly as its snapshot or a clone of it would."""
    from vmlab import compare

    def fingerprint(v: VM) -> tuple:
        return (v.console.output, v.stats.instructions, v.stats.guest_cycles, v.cpu.regs.tolist())

    hv = Hypervisor(host_memory="64M")
    vm = hv.create_vm("web", images.load("minikernel"), memory="4M", mode="hw-assist")
    other = hv.create_vm("other", images.load("sieve", N=100_000), memory="4M", mode="hw-assist")
    vm.start()
    hv.run(cycles=5_000_000)
    vm.pause()
    snap = vm.snapshot("s")
    guest_time = vm.guest_clock
    other.start()
    hv.run(cycles=50_000_000)  # the neighbour runs while web is paused: 50M cycles of host time
    assert other.state == "stopped" and vm.guest_clock == guest_time
    assert compare(vm, snap).same
    twin = vm.clone("twin", linked=False)
    vm.resume()
    hv.run(cycles=400_000_000)
    resumed = fingerprint(vm)
    assert vm.stop_reason == "poweroff" and "power off" in vm.console.output
    twin.resume()
    hv.run(cycles=400_000_000)
    vm.restore(snap)
    vm.resume()
    hv.run(cycles=400_000_000)
    assert resumed == fingerprint(twin) == fingerprint(vm)
