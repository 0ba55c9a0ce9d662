"""Random sequences of everything a user does to VMs, checked against a model after every step.

A hypothesis state machine creates VMs on a small host, starts, pauses, resumes, stops, resets
and deletes them, runs the host, takes, restores and deletes snapshots, clones (linked and full)
and exports and imports, in any order, legal or not. After every step:

- the host's frames are accounted exactly: each frame's reference count is the number of VMs
  mapping it, the free list holds just the others, and no frame two VMs share is writable by any;
- every illegal action raised ``VMStateError`` naming the VM and its state, and changed nothing;
- a request the host has no memory for raised ``HostMemoryError`` and changed nothing;
- a restored VM, a clone and an imported VM are exactly the VM they were taken from (output,
  registers, CPU state, RAM), and a guest that finishes prints exactly what it prints on bare
  metal, however its run was cut up, snapshotted, cloned or moved.

When the machine is torn down every VM is deleted and the host must have all its frames back.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from vmlab import VM, Hypervisor, Machine, VMStateError, assemble, images
from vmlab.core.layout import (
    P2M_SHIFT,
    P2M_V,
    P2M_W,
    ST_TLB_DATA,
    ST_TLB_TAG,
    TLB_D,
    TLB_IO,
    TLB_W,
)
from vmlab.hypervisor import MODES
from vmlab.hypervisor.host import HYPERVISOR_FRAMES, HostMemoryError
from vmlab.hypervisor.snapshot import Snapshot
from vmlab.image import Image
from vmlab.isa.arch import TLB_ENTRIES

# Guests whose output does not depend on timing: each prints a checked answer and halts.
FINITE = {
    "sort": {"N": 200},
    "crc32": {"LEN": 1000},
    "fib": {"N": 12},
    "sieve": {"N": 3000},
    "hello": {},
}
# ... and one that never ends: it keeps rewriting 8 pages (copy-on-write work for linked clones)
# and prints a dot every 256 stores.
WRITER = """
        .include "lib/vl32.s"
_start: li   s0, 0
again:  la   t0, buf
        li   t1, 8 * 4096 / 4
fill:   sw   s0, 0(t0)
        addi s0, s0, 1
        andi t2, s0, 255
        bnez t2, quiet
        li   t3, CONSOLE_BASE
        li   a1, '.'
        sw   a1, CON_TX(t3)
quiet:  addi t0, t0, 4
        addi t1, t1, -1
        bnez t1, fill
        j    again
        .data
        .align 4096
buf:    .space 8 * 4096
"""
GUESTS = [*FINITE, "writer"]
ACTIONS = {  # action -> the states it is legal in (each method's docstring says the same)
    "start": ("created",),
    "pause": ("running",),
    "resume": ("paused",),
    "stop": ("created", "running", "paused"),
    "reset": ("created", "running", "paused", "stopped"),
    "delete": ("created", "stopped"),
}
SAVE_STATES = ("created", "paused", "stopped")  # snapshot, clone and export
HOST = "640K"  # 144 frames for VMs: a few VMs fit, then the host is full


@cache
def image_of(guest: str) -> Image:
    """The guest's image (memoised: images are read-only)."""
    if guest == "writer":
        return assemble(WRITER, "writer.s", include_dirs=[images.images_dir()])
    return images.load(guest, **FINITE[guest])


@cache
def bare_metal_output(guest: str) -> str:
    """What the guest prints on bare metal, run to its end."""
    m = Machine(memory="64K")
    m.load(image_of(guest))
    result = m.run(max_instructions=10_000_000)
    assert result.exit_code == 0, result
    return m.console.output


def tlb_in_guest_terms(vm: VM) -> list[tuple[int, int, int]]:
    """The VM's TLB as (page, guest frame, permissions), with the write permission left out.

    The TLB caches host frames, which differ between a VM and its copies, and a VM's pages
    becoming copy-on-write (it was cloned) take the write permission away from its entries.
    """
    st_ = vm.cpu.st
    gfn_of = {int(f): g for g, f in enumerate(vm.p2m >> P2M_SHIFT)}
    entries = []
    for i in range(TLB_ENTRIES):
        tag, data = int(st_[ST_TLB_TAG + i]), int(st_[ST_TLB_DATA + i])
        if tag != -1 and not data & TLB_IO:
            data = (gfn_of[data >> 12] << 12) | (data & 0xFFF & ~(TLB_W | TLB_D))
        entries.append((i, tag, data))
    return entries


def fingerprint(vm: VM) -> dict:
    """The VM's whole guest-visible state: lifecycle, output, registers, CPU state, RAM."""
    ram = vm.read_guest(0, vm.memory_size)
    assert ram is not None
    st_ = vm.cpu.st.copy()
    st_[ST_TLB_DATA : ST_TLB_DATA + TLB_ENTRIES] = 0  # (compared in guest terms, below)
    return {
        "state": (vm.state, vm.stop_reason, vm.exit_code),
        "output": vm.console.output,
        "regs": vm.cpu.regs.tolist(),
        "st": st_.tolist(),
        "tlb": tlb_in_guest_terms(vm),
        "ram": ram,
    }


def host_view(hv: Hypervisor) -> tuple:
    """Everything a failed request must leave as it was: VMs, their states, the host's frames."""
    return (
        [(vm.name, vm.state, vm.frames.tolist(), vm.p2m.tolist()) for vm in hv.vms],
        hv.memory.free_frames,
        hv.memory.refs.tolist(),
    )


class Lifecycle(RuleBasedStateMachine):
    """The model: which VMs exist, what each runs, and what its snapshots recorded."""

    vms = Bundle("vms")

    def __init__(self) -> None:
        super().__init__()
        self.hv = Hypervisor(host_memory=HOST)
        self.guest: dict[str, str] = {}  # VM name -> guest it runs
        self.saved: dict[int, dict] = {}  # id(snapshot) -> the VM's fingerprint when taken
        self.count = 0
        self.at_rest: dict[str, dict] = {}  # VM at rest (not running) -> its fingerprint
        self.touched: set[str] = set()  # VMs the current step acted on
        self.dir = tempfile.TemporaryDirectory()

    def teardown(self) -> None:
        """Delete every VM: the host must get every frame back."""
        try:
            for vm in list(self.hv.vms):
                if vm.state in ("running", "paused"):
                    vm.stop()
                vm.delete()
            mem = self.hv.memory
            assert mem.free_frames == mem.frames - HYPERVISOR_FRAMES
            assert (mem.refs[HYPERVISOR_FRAMES:] == 0).all()
        finally:
            self.dir.cleanup()

    def fresh_name(self) -> str:
        self.count += 1
        return f"vm{self.count}"

    def live(self, vm: VM) -> bool:
        return vm.state != "deleted"

    # ---- creating VMs -------------------------------------------------------------------
    @precondition(lambda self: len(self.hv.vms) < 6)
    @rule(
        target=vms,
        guest=st.sampled_from(GUESTS),
        mode=st.sampled_from(MODES),
        exits=st.sampled_from(["jit", "python"]),
        memory=st.sampled_from(["64K", "128K"]),
    )
    def create(self, guest: str, mode: str, exits: str, memory: str) -> VM | None:
        name = self.fresh_name()
        before = host_view(self.hv)
        try:
            vm = self.hv.create_vm(name, image_of(guest), memory=memory, mode=mode, exits=exits)
        except HostMemoryError as exc:
            assert name in str(exc) or "needs" in str(exc)
            assert host_view(self.hv) == before
            event("host full")
            return None
        self.guest[name] = guest
        assert vm.state == "created"
        return vm

    @initialize(
        target=vms,
        guest=st.sampled_from(GUESTS),
        mode=st.sampled_from(MODES),
        exits=st.sampled_from(["jit", "python"]),
    )
    def a_running_vm(self, guest: str, mode: str, exits: str) -> VM:
        vm = self.create(guest, mode, exits, "64K")
        assert vm is not None
        vm.start()
        return vm

    # ---- the lifecycle --------------------------------------------------------------------
    @rule(vm=vms, action=st.sampled_from(sorted(ACTIONS)))
    def act(self, vm: VM | None, action: str) -> None:
        if vm is None:
            return
        self.touched.add(vm.name)
        before_state = vm.state
        legal = before_state in ACTIONS[action]
        before = fingerprint(vm) if self.live(vm) else None
        before_instructions = vm.stats.instructions
        view = host_view(self.hv)
        try:
            getattr(vm, action)()
        except VMStateError as exc:
            assert not legal, f"{action} of a {before_state} VM refused: {exc}"
            assert repr(vm.name) in str(exc) and before_state in str(exc)
            assert vm.state == before_state
            if before is not None:
                assert fingerprint(vm) == before
            assert host_view(self.hv) == view
            return
        except HostMemoryError:  # a reset of a linked clone needs frames of its own
            assert action == "reset"
            assert vm.state == before_state and fingerprint(vm) == before
            assert host_view(self.hv) == view
            return
        assert legal, f"{action} of a {before_state} VM was allowed"
        expected = {
            "start": "running",
            "pause": "paused",
            "resume": "running",
            "stop": "stopped",
            "reset": "created",
            "delete": "deleted",
        }[action]
        assert vm.state == expected
        if action == "reset":  # power-on state; the accounting goes on adding up
            assert vm.console.output == "" and vm.pc == vm.image.entry
            assert vm.stats.instructions >= before_instructions
        if action == "delete":
            assert vm not in self.hv.vms
            assert vm.name not in [v.name for v in self.hv.vms]

    @rule(cycles=st.integers(1, 60_000))
    def run(self, cycles: int) -> None:
        self.hv.run(cycles=cycles)

    @rule()
    def run_long(self) -> None:
        """Long enough for every finite guest running alone to finish."""
        self.hv.run(cycles=400_000)

    @rule(vm=vms, incremental=st.booleans(), resume=st.booleans())
    def pause_and_snapshot(self, vm: VM | None, incremental: bool, resume: bool) -> None:
        """Snapshot a guest in the middle of its work."""
        if vm is not None and vm.state == "running":
            vm.pause()
            self.snapshot(vm, incremental)
            if resume:
                vm.resume()

    # ---- snapshots ------------------------------------------------------------------------
    @rule(vm=vms, incremental=st.booleans())
    def snapshot(self, vm: VM | None, incremental: bool) -> None:
        if vm is None:
            return
        self.touched.add(vm.name)
        legal = vm.state in SAVE_STATES
        try:
            snap = vm.snapshot(self.fresh_name(), incremental=incremental)
        except VMStateError:
            assert not legal
            return
        assert legal
        self.saved[id(snap)] = fingerprint(vm)
        assert vm.current_snapshot is snap
        event("snapshot taken")

    def pick_snapshot(self, vm: VM | None, pick: int) -> Snapshot | None:
        """One of the live ``vm``'s snapshots this machine recorded (the VM counts as touched)."""
        if vm is None or not self.live(vm):
            return None
        snaps = [s for s in vm.snapshots if id(s) in self.saved]
        if not snaps:
            return None
        self.touched.add(vm.name)
        return snaps[pick % len(snaps)]

    @rule(vm=vms, pick=st.integers(0, 100))
    def restore(self, vm: VM | None, pick: int) -> None:
        snap = self.pick_snapshot(vm, pick)
        if snap is None:
            return
        assert vm is not None
        view = host_view(self.hv)
        try:
            vm.restore(snap)
        except HostMemoryError:  # private copies of the pages a linked clone shares
            assert host_view(self.hv) == view
            return
        assert fingerprint(vm) == self.saved[id(snap)]
        assert vm.current_snapshot is snap
        event("restored")

    @rule(vm=vms, pick=st.integers(0, 100))
    def delete_snapshot(self, vm: VM | None, pick: int) -> None:
        snap = self.pick_snapshot(vm, pick)
        if snap is None:
            return
        assert vm is not None
        before = fingerprint(vm)
        vm.delete_snapshot(snap)
        assert snap not in vm.snapshots
        del self.saved[id(snap)]
        assert fingerprint(vm) == before  # the VM itself is untouched

    # ---- clones, export and import -----------------------------------------------------
    def copy_checked(self, source: VM, make: Callable[[], VM]) -> VM | None:
        """Make a copy of ``source`` (clone or import) and check it is exactly ``source``."""
        self.touched.add(source.name)
        legal = source.state in SAVE_STATES
        before = fingerprint(source) if self.live(source) else None
        view = host_view(self.hv)
        try:
            copy = make()
        except VMStateError:
            assert not legal
            return None
        except HostMemoryError:
            assert host_view(self.hv) == view
            assert fingerprint(source) == before
            return None
        assert legal
        assert fingerprint(source) == before
        assert fingerprint(copy) == before
        self.guest[copy.name] = self.guest[source.name]
        event("copied")
        return copy

    @precondition(lambda self: len(self.hv.vms) < 6)
    @rule(target=vms, vm=vms, linked=st.booleans())
    def clone(self, vm: VM | None, linked: bool) -> VM | None:
        if vm is None:
            return None
        name = self.fresh_name()
        return self.copy_checked(vm, lambda: vm.clone(name, linked=linked))

    @precondition(lambda self: len(self.hv.vms) < 6)
    @rule(target=vms, vm=vms, linked=st.booleans(), resume=st.booleans())
    def pause_and_clone(self, vm: VM | None, linked: bool, resume: bool) -> VM | None:
        """Clone a guest in the middle of its work (its TLB full of writable pages)."""
        if vm is None or vm.state != "running":
            return None
        vm.pause()
        copy = self.clone(vm, linked)
        if resume:
            vm.resume()
            if copy is not None:
                copy.resume()
        return copy

    @precondition(lambda self: len(self.hv.vms) < 6)
    @rule(target=vms, vm=vms, cycles=st.integers(1, 60_000), linked=st.booleans())
    def branch_and_go_back(self, vm: VM | None, cycles: int, linked: bool) -> VM | None:
        """Snapshot, run on, clone where it got to, go back: the clone keeps what it had."""
        if vm is None or vm.state != "running":
            return None
        vm.pause()
        self.snapshot(vm, incremental=True)
        snap = vm.current_snapshot
        vm.resume()
        self.hv.run(cycles=cycles)
        if vm.state == "running":
            vm.pause()
        copy = self.clone(vm, linked)
        if copy is None or snap is None or id(snap) not in self.saved:
            return copy
        theirs = fingerprint(copy)
        view = host_view(self.hv)
        try:
            vm.restore(snap)
        except HostMemoryError:
            assert host_view(self.hv) == view
            return copy
        assert fingerprint(vm) == self.saved[id(snap)]
        assert fingerprint(copy) == theirs, "going back changed the clone"
        event("went back past a clone")
        return copy

    @precondition(lambda self: len(self.hv.vms) < 6)
    @rule(target=vms, vm=vms)
    def export_import(self, vm: VM | None) -> VM | None:
        if vm is None:
            return None
        name = self.fresh_name()
        path = Path(self.dir.name) / f"{name}.vmx"

        def move() -> VM:
            vm.export(path)
            return self.hv.import_vm(path, name=name)

        return self.copy_checked(vm, move)

    @rule(vm=consumes(vms))
    def forget(self, vm: VM | None) -> None:
        """Drop a VM from the bundle (it stays on the host): keeps the others reachable."""

    # ---- invariants -----------------------------------------------------------------------
    @invariant()
    def vms_at_rest_stay_as_they_were(self) -> None:
        """A created, paused or stopped VM changes only when acted on (not by its neighbours)."""
        now = {}
        for vm in self.hv.vms:
            if vm.state in SAVE_STATES:
                now[vm.name] = fingerprint(vm)
                if vm.name in self.at_rest and vm.name not in self.touched:
                    assert now[vm.name] == self.at_rest[vm.name], f"{vm.name} changed"
        self.at_rest = now
        self.touched = set()

    @invariant()
    def frames_are_accounted(self) -> None:
        mem = self.hv.memory
        mapped = np.zeros(mem.frames, dtype=np.int64)
        writable = np.zeros(mem.frames, dtype=np.int64)
        for vm in self.hv.vms:
            assert vm.state != "deleted"
            p2m = vm.p2m
            assert len(p2m) == vm.memory_size // 4096
            assert (p2m & P2M_V).all(), f"VM {vm.name} has an unmapped page"
            frames = p2m >> P2M_SHIFT
            assert (frames >= HYPERVISOR_FRAMES).all() and (frames < mem.frames).all()
            assert len(np.unique(frames)) == len(frames), f"VM {vm.name} maps a frame twice"
            np.add.at(mapped, frames, 1)
            # the TLB may only point at the VM's own frames, writable only where the p2m is
            writable_frames = set((frames[(p2m & P2M_W) != 0]).tolist())
            for i in range(TLB_ENTRIES):
                tag, data = int(vm.cpu.st[ST_TLB_TAG + i]), int(vm.cpu.st[ST_TLB_DATA + i])
                if tag == -1 or data & TLB_IO:
                    continue
                assert data >> 12 in set(frames.tolist()), f"VM {vm.name}: TLB entry {i}"
                if data & TLB_W:
                    assert data >> 12 in writable_frames, f"VM {vm.name}: TLB entry {i} writable"
            np.add.at(writable, frames[(p2m & P2M_W) != 0], 1)
        refs = mem.refs.astype(np.int64)
        assert (refs[HYPERVISOR_FRAMES:] == mapped[HYPERVISOR_FRAMES:]).all(), "refs != mappings"
        shared = mapped > 1
        assert (writable[shared] == 0).all(), "a shared frame is writable"
        in_use = int((mapped[HYPERVISOR_FRAMES:] > 0).sum())
        assert mem.free_frames == mem.frames - HYPERVISOR_FRAMES - in_use

    @invariant()
    def finished_guests_printed_the_right_thing(self) -> None:
        for vm in self.hv.vms:
            guest = self.guest[vm.name]
            if vm.state == "stopped" and vm.stop_reason != "stopped":
                assert guest != "writer", f"{vm.name}: {vm.message}"
                assert (vm.stop_reason, vm.exit_code) == ("halt", 0), vm.message
                assert vm.console.output == bare_metal_output(guest)
                event("a guest finished")
            elif guest in FINITE:
                assert bare_metal_output(guest).startswith(vm.console.output)


Lifecycle.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, derandomize=True
)
TestLifecycle = Lifecycle.TestCase
