"""Snapshots, snapshot trees and clones: a VM's whole state, saved and brought back exactly.

A snapshot records everything that decides what a VM does next, independent of which host frames
happen to hold its memory (so it can come back into other frames, another VM or another host):

* the vCPU: registers and the whole state array (``CpuState.save``), with the TLB's host frame
  numbers rewritten as guest page numbers; host debugger breakpoints are not part of it;
* guest memory, page by page (by guest page number, never by host frame);
* which words the decode cache (the binary translator's translation cache) held, so that a
  restored VM pays for exactly the translations the uninterrupted one would have paid for;
* the devices: console (output kept, pending input) and the disk's contents;
* the lifecycle state, the guest's clock and wake-up time (relative to the guest, not the host),
  the accounting (``VMStats``) and the configuration (memory, mode, shares, image, ...).

Snapshots form a tree per VM (``vm.snapshots``, ``vm.current_snapshot``): each new snapshot is a
child of the current one, and restoring an older snapshot and taking a new one starts a branch.
A *full* snapshot stores every non-zero page (pages it does not list are zero); an *incremental*
one stores only the pages written since its parent, found with the host's dirty bitmap
(``hv.memory.dirty``, one byte per host frame, set by every store, DMA and host-side write), which
is harvested into the VM's log and cleared at each snapshot. Restoring an incremental snapshot
replays the chain from the nearest full ancestor. Deleting a snapshot folds its pages into each
child, so no other snapshot breaks.

The dirty bitmap has one owner per VM: this module. Anything else that clears bits of a VM's
frames (a migration's pre-copy rounds) must first call :func:`harvest_dirty` so that snapshots do
not miss those pages.

A linked clone shares every host frame with its source copy-on-write (``hv.memory.share``, p2m
entries without ``P2M_W``): the first write to a page exits with ``EXIT_NPF`` and
``VM._copy_on_write`` gives the writer a private copy. A full clone copies every page.

>>> from vmlab import Hypervisor, images
>>> hv = Hypervisor(host_memory="16M")
>>> vm = hv.create_vm("a", images.load("sieve", N=2000), memory="1M")
>>> vm.start(); _ = hv.run(cycles=20_000); vm.pause()
>>> snap = vm.snapshot("middle")
>>> vm.resume(); _ = hv.run(cycles=5_000_000); first = vm.console.output
>>> vm.restore(snap); vm.state
'paused'
>>> vm.resume(); _ = hv.run(cycles=5_000_000); vm.console.output == first
True
"""

from __future__ import annotations

import copy
import reprlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._jit import kernel
from ..core.decode import OP_BTCALL, decode
from ..core.layout import (
    MAX_BREAKPOINTS,
    P2M_SHIFT,
    P2M_V,
    P2M_W,
    ST_NBP,
    ST_SKIP_BP,
    ST_TLB_DATA,
    ST_TLB_TAG,
    ST_VMCTL,
    TLB_D,
    TLB_IO,
    TLB_W,
    VM_TRANSLATE,
)
from ..devices.disk import Disk
from ..image import Image
from ..isa.arch import PAGE_SIZE, TLB_ENTRIES
from .bt import SENSITIVE
from .vm import NEVER, VM, VMStats, check_name

__all__ = [
    "MAX_TREE_INDENT",
    "SavedState",
    "Snapshot",
    "SnapshotTree",
    "clone_vm",
    "delete_snapshot",
    "find_snapshot",
    "format_tree",
    "harvest_dirty",
    "restore_snapshot",
    "snapshot_cost_figures",
    "take_snapshot",
    "tree_indent",
    "walk_tree",
]

WORDS = PAGE_SIZE // 4  # 32-bit words per page
MASK_BYTES = WORDS // 8  # one bit per word of a page: which words the decode cache holds
_BP_SLOTS = slice(ST_NBP, ST_NBP + 1 + MAX_BREAKPOINTS)  # host debugger state, never saved
LIVE_STATES = ("created", "running", "paused", "stopped")  # every state but deleted
SAVE_STATES = ("created", "paused", "stopped")  # states whose whole state is at rest


@dataclass
class SavedState:
    """Everything about a VM except its memory pages, independent of host frames."""

    config: dict[str, Any]  # memory, mode, shares, reservation, limit, strict, exits, disk
    image: Image
    regs: np.ndarray  # CpuState.regs
    st: np.ndarray  # CpuState.st, TLB entries holding guest page numbers, no breakpoints
    console: dict[str, Any]  # Console.save()
    disk: np.ndarray | None  # the disk's bytes (None without a disk)
    lifecycle: str  # "created", "paused" or "stopped"
    stop_reason: str | None
    exit_code: int | None
    message: str
    guest_clock: int | None  # the guest's time (host clock - clock offset); None if never started
    wake_in: int | None  # guest cycle at which a waiting guest wakes (NEVER: only on input)
    stats: VMStats
    decoded_gfns: np.ndarray  # guest pages with decoded words ...
    decoded_masks: np.ndarray  # ... and which of their words (MASK_BYTES bits per page)


@dataclass(eq=False)
class Snapshot:
    """One node of a VM's snapshot tree: a saved state plus the pages it stores."""

    name: str
    vm: VM
    parent: Snapshot | None
    incremental: bool  # True: ``gfns`` are the pages written since the parent
    clock: int  # the host clock when it was taken
    state: SavedState
    gfns: np.ndarray  # guest page numbers stored here, increasing
    data: np.ndarray  # (len(gfns), 1024) uint32: their contents
    children: list[Snapshot] = field(default_factory=list)
    deleted: bool = False

    @property
    def pages_stored(self) -> int:
        """How many pages this snapshot holds itself."""
        return len(self.gfns)

    @property
    def size_bytes(self) -> int:
        """Bytes of page data this snapshot holds (what an incremental snapshot saves)."""
        return int(self.data.nbytes)

    def chain(self) -> list[Snapshot]:
        """The snapshots whose pages make up this one, from the nearest full one to itself."""
        if self.deleted:
            raise ValueError(f"snapshot {self.name!r} of VM {self.vm.name!r} was deleted")
        out = [self]
        while out[-1].incremental:
            parent = out[-1].parent
            assert parent is not None, "an incremental snapshot always has a parent"
            out.append(parent)
        return out[::-1]

    def ancestors(self) -> list[Snapshot]:
        """The path from the root of the tree down to this snapshot's parent."""
        out: list[Snapshot] = []
        node = self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out[::-1]

    def delete(self) -> None:
        """Delete this snapshot (its children keep working). Legal in every VM state."""
        delete_snapshot(self.vm, self)

    def restore(self) -> None:
        """Return its VM to this snapshot (see ``restore_snapshot``)."""
        restore_snapshot(self.vm, self)

    def __repr__(self) -> str:
        kind = "incremental" if self.incremental else "full"
        parent = self.parent.name if self.parent is not None else None
        gone = " deleted" if self.deleted else ""
        return (
            f"<Snapshot {self.name!r} of VM {self.vm.name!r} {kind} pages={self.pages_stored} "
            f"parent={parent!r} clock={self.clock}{gone}>"
        )


@dataclass
class SnapshotTree:
    """A VM's snapshots and its log of pages written since the current one."""

    pages: int
    snapshots: list[Snapshot] = field(default_factory=list)  # in the order they were taken
    current: Snapshot | None = None  # the snapshot the VM's memory is a change of
    pending: np.ndarray = field(init=False)  # bool per guest page: written since ``current``

    def __post_init__(self) -> None:
        """Every page counts as written until a first snapshot is taken."""
        self.pending = np.ones(self.pages, dtype=np.bool_)

    def roots(self) -> list[Snapshot]:
        """Snapshots without a parent (the first one, or children of deleted roots)."""
        return [s for s in self.snapshots if s.parent is None]


# ---- helpers shared with export.py -------------------------------------------------------------
def tree(vm: VM) -> SnapshotTree:
    """The VM's snapshot tree (created on first use)."""
    t = vm.__dict__.get("_snapshot_tree")
    if t is None:
        t = vm.__dict__["_snapshot_tree"] = SnapshotTree(vm.memory_size // PAGE_SIZE)
    return t


def harvest_dirty(vm: VM) -> np.ndarray:
    """Move the host dirty bits of the VM's frames into its log (clearing them); returns the log.

    Call this before clearing dirty bits of a VM's frames for another purpose (migration).
    """
    t = tree(vm)
    dirty = vm.hv.memory.dirty
    frames = vm.frames
    t.pending |= dirty[frames] != 0
    dirty[frames] = 0
    return t.pending


def _pages2d(vm: VM) -> np.ndarray:
    """Host memory as rows of one page each."""
    return vm.hv.memory.mem.reshape(-1, WORDS)


def read_pages(vm: VM, gfns: np.ndarray | None = None) -> np.ndarray:
    """A copy of the VM's guest pages ``gfns`` (all pages if None) as rows of 1024 words."""
    frames = vm.frames if gfns is None else vm.frames[gfns]
    return _pages2d(vm)[frames]


def nonzero_pages(vm: VM) -> tuple[np.ndarray, np.ndarray]:
    """The guest page numbers and contents of every page that is not all zeros."""
    pages = read_pages(vm)
    gfns = np.flatnonzero(pages.any(axis=1))
    return gfns, pages[gfns]


def vm_config(vm: VM) -> dict[str, Any]:
    """The VM's configuration as plain data (what ``hv.create_vm`` needs, without the image)."""
    return {
        "memory": vm.memory_size,
        "mode": vm.mode,
        "shares": vm.shares,
        "reservation": vm.reservation,
        "limit": vm.limit,
        "strict": vm.strict,
        "exits": vm.exits_path,
        "disk": vm.disk is not None,
    }


def _tlb_to_guest(st: np.ndarray, frames: np.ndarray) -> None:
    """Rewrite the TLB's host frame numbers as guest page numbers (in place)."""
    tags = st[ST_TLB_TAG : ST_TLB_TAG + TLB_ENTRIES]
    data = st[ST_TLB_DATA : ST_TLB_DATA + TLB_ENTRIES]
    ram = (tags != -1) & (data & TLB_IO == 0)
    order = np.argsort(frames)
    at = np.minimum(np.searchsorted(frames, data >> 12, sorter=order), len(frames) - 1)
    gfns = order[at]
    ours = frames[gfns] == data >> 12
    tags[ram & ~ours] = -1  # cannot happen: the TLB only holds this VM's frames
    keep = ram & ours
    data[keep] = (gfns[keep] << 12) | (data[keep] & 0xFFF)


def _tlb_to_host(st: np.ndarray, p2m: np.ndarray) -> None:
    """Rewrite the TLB's guest page numbers as this VM's host frames (in place).

    A page that is now copy-on-write loses its write permission, so a write exits as it must.
    """
    for i in range(TLB_ENTRIES):
        data = int(st[ST_TLB_DATA + i])
        if st[ST_TLB_TAG + i] == -1 or data & TLB_IO:
            continue
        gfn = data >> 12
        if not 0 <= gfn < len(p2m):  # never saved so (an export's parser rejects it too)
            st[ST_TLB_TAG + i] = -1
            continue
        entry = int(p2m[gfn])
        flags = data & 0xFFF
        if not entry & P2M_W:
            flags &= ~(TLB_W | TLB_D)
        st[ST_TLB_DATA + i] = ((entry >> P2M_SHIFT) << 12) | flags


def _write_protect_tlb(st: np.ndarray) -> None:
    """Drop the write permission of every RAM entry of a TLB (its pages became copy-on-write)."""
    for i in range(TLB_ENTRIES):
        if st[ST_TLB_TAG + i] != -1 and not st[ST_TLB_DATA + i] & TLB_IO:
            st[ST_TLB_DATA + i] &= ~(TLB_W | TLB_D)


@kernel
def _refill(
    mem: np.ndarray, dcache: np.ndarray, st: np.ndarray, words: np.ndarray, bt: bool
) -> None:
    """Decode (or translate, for a binary-translated VM) the host words ``words`` into the cache.

    The same entries the core (``decode``) or the translator (``bt.translate_page``) would make.
    """
    for i in range(words.shape[0]):
        w = words[i]
        d = decode(int(mem[w]), w << 2, st)
        if bt and SENSITIVE[d & 0xFF]:
            d = (d & ~0xFF) | OP_BTCALL
        dcache[w] = d


@kernel
def _decoded_masks(dcache: np.ndarray, frames: np.ndarray, masks: np.ndarray) -> None:
    """``masks[i]``: one bit per word of host frame ``frames[i]``, set if the cache holds it."""
    for i in range(frames.shape[0]):
        base = frames[i] * WORDS
        for b in range(MASK_BYTES):
            m = 0
            for j in range(8):
                if dcache[base + b * 8 + j] != 0:
                    m |= 1 << j
            masks[i, b] = m


def capture_state(vm: VM) -> SavedState:
    """The VM's whole state except its memory pages, as a ``SavedState`` (copies, not views).

    A slice the hypervisor kept for the VM between runs ends here: what the VM does next then
    depends on the recorded state alone, so a copy made from it runs on exactly as it does.
    """
    hv = vm.hv
    hv._end_slice(vm)
    vm.console.drain()
    console = vm.console.save()
    saved = vm.cpu.save()
    st = saved["st"]
    _tlb_to_guest(st, vm.frames)
    st[_BP_SLOTS] = 0
    st[ST_SKIP_BP] = -1
    started = vm.state != "created"
    guest_clock = vm.guest_clock if started else None
    if vm.wake_at is None or not started:
        wake_in = None
    elif vm.wake_at >= NEVER:
        wake_in = NEVER
    else:
        wake_in = vm.wake_at - vm.clock_offset
    masks = np.zeros((len(vm.frames), MASK_BYTES), dtype=np.uint8)
    _decoded_masks(hv.memory.dcache, vm.frames, masks)
    dgfns = np.flatnonzero(masks.any(axis=1))
    masks = masks[dgfns]
    return SavedState(
        config=vm_config(vm),
        image=vm.image,
        regs=saved["regs"],
        st=st,
        console=console,
        disk=None if vm.disk is None else np.array(vm.disk.data, dtype=np.uint8),
        lifecycle=vm.state,
        stop_reason=vm.stop_reason,
        exit_code=vm.exit_code,
        message=vm.message,
        guest_clock=guest_clock,
        wake_in=wake_in,
        stats=copy.deepcopy(vm.stats),
        decoded_gfns=dgfns,
        decoded_masks=masks,
    )


def apply_state(vm: VM, state: SavedState, refill: bool = True) -> None:
    """Load a ``SavedState`` into ``vm`` (its memory must already hold the state's pages).

    ``refill`` rebuilds the decode cache of the VM's frames (they must be private to it); a
    linked clone skips it because it shares frames, and their cache, with its source.
    """
    hv = vm.hv
    hv._end_slice(vm)  # a restored VM starts a fresh slice, as one imported elsewhere would
    cpu = vm.cpu
    breakpoints = cpu.st[_BP_SLOTS].copy()
    cpu.restore({"regs": state.regs, "st": state.st})
    cpu.st[_BP_SLOTS] = breakpoints
    cpu.st[ST_SKIP_BP] = -1
    cpu.st[ST_VMCTL] = vm.vmctl
    _tlb_to_host(cpu.st, vm.p2m)
    vm.console.restore(state.console)
    if state.disk is not None and vm.disk is not None:
        vm.disk.data[:] = state.disk
        vm.disk.flush()
    vm.state = state.lifecycle
    vm.stop_reason = state.stop_reason
    vm.exit_code = state.exit_code
    vm.message = state.message
    if state.guest_clock is None:
        vm.clock_offset = 0  # start() sets it from the guest's cycle counter
    else:
        vm.clock_offset = vm.now - state.guest_clock
    vm.paused_at = vm.now if vm.state == "paused" else None  # its time stands still from now
    if state.wake_in is None:
        vm.wake_at = None
    elif state.wake_in >= NEVER:
        vm.wake_at = NEVER
    else:
        vm.wake_at = vm.clock_offset + state.wake_in
    vm.stats = copy.deepcopy(state.stats)
    if refill:
        frames = vm.frames
        hv.memory.dcache.reshape(-1, WORDS)[frames] = 0
        if len(state.decoded_gfns):
            bits = np.unpackbits(state.decoded_masks, axis=1, count=WORDS, bitorder="little")
            base = frames[state.decoded_gfns][:, None] * WORDS + np.arange(WORDS)
            words = base[bits.astype(np.bool_)].astype(np.int64)
            _refill(hv.memory.mem, hv.memory.dcache, cpu.st, words, bool(vm.vmctl & VM_TRANSLATE))


def make_private(vm: VM, what: str) -> None:
    """Give every guest page of ``vm`` a writable frame of its own (contents NOT copied).

    Raises ``HostMemoryError`` before changing anything if the host lacks the frames.
    """
    mem = vm.hv.memory
    frames = vm.frames
    shared = np.flatnonzero(mem.refs[frames] > 1)
    if len(shared):
        new = mem.alloc(len(shared), what)
        mem.release(frames[shared])
        vm.p2m[shared] = new << P2M_SHIFT
    vm.p2m |= P2M_V | P2M_W


def load_pages(vm: VM, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Zero the VM's (private) memory, then write each (gfns, data) layer in turn."""
    pages = _pages2d(vm)
    frames = vm.frames
    pages[frames] = 0
    for gfns, data in layers:
        if len(gfns):
            pages[frames[gfns]] = data


def reset_log(vm: VM, current: Snapshot | None) -> None:
    """The VM's memory now equals ``current`` (or is all new, if None): clear its dirty log."""
    t = tree(vm)
    vm.hv.memory.dirty[vm.frames] = 0
    t.pending[:] = current is None
    t.current = current


# ---- snapshots ---------------------------------------------------------------------------------
def find_snapshot(vm: VM, snap: Snapshot | str) -> Snapshot:
    """The VM's snapshot ``snap`` (a ``Snapshot`` or its name); ValueError if it is not one."""
    t = tree(vm)
    if isinstance(snap, str):
        for s in t.snapshots:
            if s.name == snap:
                return s
        names = ", ".join(repr(s.name) for s in t.snapshots) or "(none)"
        raise ValueError(f"VM {vm.name!r} has no snapshot named {snap!r}; snapshots: {names}")
    if not isinstance(snap, Snapshot):
        raise TypeError(f"expected a Snapshot or a snapshot name, not {type(snap).__name__}")
    if snap.deleted:
        raise ValueError(f"snapshot {snap.name!r} of VM {snap.vm.name!r} was deleted")
    if snap.vm is not vm:
        other = "another hypervisor's " if snap.vm.hv is not vm.hv else ""
        raise ValueError(
            f"snapshot {snap.name!r} belongs to {other}VM {snap.vm.name!r}, not to VM {vm.name!r} "
            "(clone or export that VM instead)"
        )
    return snap


def take_snapshot(vm: VM, name: str, incremental: bool = True) -> Snapshot:
    """Record the VM's whole state as snapshot ``name``, a child of the current snapshot.

    Legal when the VM is created, paused or stopped (pause a running VM first: its state changes
    while it runs). ``incremental=True`` stores only the pages written since the current snapshot
    (a full snapshot when there is none yet); ``incremental=False`` stores every non-zero page.
    Names are unique per VM. Clears the dirty log: the new snapshot becomes the current one.
    """
    if not isinstance(incremental, (bool, np.bool_)):
        raise TypeError(f"incremental must be True or False, not {reprlib.repr(incremental)}")
    incremental = bool(incremental)  # (a numpy bool would not go into an export's JSON)
    vm._require("snapshot", *SAVE_STATES)
    check_name(name, "snapshot")
    t = tree(vm)
    if any(s.name == name for s in t.snapshots):
        raise ValueError(f"VM {vm.name!r} already has a snapshot named {name!r}")
    pending = harvest_dirty(vm)
    state = capture_state(vm)
    parent = t.current
    if (
        parent is not None
        and state.disk is not None
        and parent.state.disk is not None
        and np.array_equal(parent.state.disk, state.disk)
    ):
        state.disk = parent.state.disk  # an unchanged disk is stored once (never written to)
    if incremental and parent is not None:
        gfns = np.flatnonzero(pending)
        data = read_pages(vm, gfns)
    else:
        incremental = False
        gfns, data = nonzero_pages(vm)
    snap = Snapshot(name, vm, parent, incremental, vm.hv.clock, state, gfns, data)
    if parent is not None:
        parent.children.append(snap)
    t.snapshots.append(snap)
    reset_log(vm, snap)
    return snap


def restore_snapshot(vm: VM, snap: Snapshot | str) -> None:
    """Bring the VM back to snapshot ``snap`` (or its name): it then runs exactly as it did.

    Legal in every state but deleted. The VM returns to the state it was in when the snapshot was
    taken: "created" (never started: ``start()`` it), "paused" (``resume()`` it) or "stopped".
    Its memory becomes private (a linked clone stops sharing), its decode cache is rebuilt as it
    was, and ``snap`` becomes the current snapshot, so a new snapshot starts a branch from it.
    Raises ``HostMemoryError`` (changing nothing) if the host lacks frames for private copies.
    """
    vm._require("restore", *LIVE_STATES)
    snap = find_snapshot(vm, snap)
    make_private(vm, f"restoring VM {vm.name!r} (private copies of its shared pages)")
    if vm.state == "running":  # (after the step that may fail: a failed restore changes nothing)
        vm.pause()
    load_pages(vm, [(s.gfns, s.data) for s in snap.chain()])
    apply_state(vm, snap.state)
    reset_log(vm, snap)


def _merge(parent: Snapshot, child: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """``parent``'s pages overwritten by ``child``'s (what ``child`` means on top of the parent)."""
    gfns = np.union1d(parent.gfns, child.gfns)
    data = np.empty((len(gfns), WORDS), dtype=np.uint32)
    data[np.searchsorted(gfns, parent.gfns)] = parent.data
    data[np.searchsorted(gfns, child.gfns)] = child.data
    return gfns, data


def delete_snapshot(vm: VM, snap: Snapshot | str) -> None:
    """Delete a snapshot; its pages are folded into each child, so every other one still restores.

    Legal in every VM state. Children move up to the deleted snapshot's parent. Deleting the
    current snapshot makes its parent current (pages it stored count as written again).
    """
    snap = find_snapshot(vm, snap)
    t = tree(vm)
    for child in snap.children:
        if child.incremental:
            child.gfns, child.data = _merge(snap, child)
            child.incremental = snap.incremental
        child.parent = snap.parent
    if snap.parent is not None:
        siblings = snap.parent.children
        at = siblings.index(snap)
        siblings[at : at + 1] = snap.children
    if t.current is snap:
        t.current = snap.parent
        if snap.incremental:
            t.pending[snap.gfns] = True
        else:
            t.pending[:] = True
    t.snapshots.remove(snap)
    snap.children = []
    snap.parent = None
    snap.deleted = True
    snap.gfns = np.zeros(0, dtype=np.int64)
    snap.data = np.zeros((0, WORDS), dtype=np.uint32)


MAX_TREE_INDENT = 12  # levels of indentation a drawn snapshot tree uses at most


def walk_tree(vm: VM) -> list[tuple[int, Snapshot]]:
    """Every snapshot of ``vm`` with its depth in the tree, parents before their children.

    In the order ``format_tree`` draws them (roots in the order they were taken, each
    followed by its subtree). Iterative: a chain of thousands of snapshots is fine.
    """
    out: list[tuple[int, Snapshot]] = []
    stack = [(0, root) for root in reversed(tree(vm).roots())]
    while stack:
        depth, snap = stack.pop()
        out.append((depth, snap))
        stack.extend((depth + 1, child) for child in reversed(snap.children))
    return out


def tree_indent(depth: int, unit: str = "  ") -> str:
    """The indentation of a snapshot at ``depth`` in a drawn tree (linear in size, however deep).

    ``unit`` per level up to ``MAX_TREE_INDENT`` levels; a deeper snapshot is drawn at that
    indentation with its depth in brackets, so a long chain does not grow quadratically.
    """
    if depth <= MAX_TREE_INDENT:
        return unit * depth
    return f"{unit * MAX_TREE_INDENT}[{depth}] "


def format_tree(vm: VM) -> str:
    """The VM's snapshot tree as indented text; ``*`` marks the current snapshot.

    Each snapshot is indented one level below its parent, up to ``MAX_TREE_INDENT`` levels;
    deeper ones show their depth in brackets (``[13] name``) instead. TypeError unless ``vm``
    is a VM.

    >>> from vmlab import Hypervisor, images
    >>> hv = Hypervisor(host_memory="16M")
    >>> vm = hv.create_vm("a", images.load("hello"), memory="1M")
    >>> _ = vm.snapshot("boot"); _ = vm.snapshot("next"); vm.restore("boot")
    >>> _ = vm.snapshot("other"); print(format_tree(vm))
    boot (full, 2 pages)
      next (incremental, 0 pages)
      other (incremental, 0 pages) *
    """
    if not isinstance(vm, VM):
        hint = (
            " (a snapshot's tree is its VM's: format_tree(snap.vm))"
            if isinstance(vm, Snapshot)
            else ""
        )
        raise TypeError(f"format_tree takes a VM, not {type(vm).__name__}{hint}")
    current = tree(vm).current
    lines = [
        f"{tree_indent(depth)}{s.name} ({'incremental' if s.incremental else 'full'}, "
        f"{s.pages_stored} pages){' *' if s is current else ''}"
        for depth, s in walk_tree(vm)
    ]
    return "\n".join(lines) if lines else "(no snapshots)"


# ---- clones ------------------------------------------------------------------------------------
def clone_vm(vm: VM, name: str, linked: bool = True) -> VM:
    """A new VM ``name`` on the same hypervisor, in the same state as ``vm``.

    Legal when ``vm`` is created, paused or stopped; the clone starts in that same state (resume a
    paused one). A linked clone shares all of ``vm``'s memory copy-on-write (both map the frames
    read-only; the first write to a page copies it, in whichever VM writes), so it costs almost no
    host memory until it writes: host memory is overcommitted. When the host has no frame left
    for such a copy, the VM that writes is paused with a message saying so (the write is retried
    when it is resumed) and the others run on; a guest reboot that needs frames the host lacks
    stops that VM. A full clone copies every page. The clone's disk is an in-memory
    copy, its accounting continues from ``vm``'s, and its snapshot tree starts empty. Fails
    cleanly (no VM created) if the name is taken or a full clone does not fit in host memory.
    """
    if not isinstance(linked, (bool, np.bool_)):
        raise TypeError(f"linked must be True or False, not {linked!r}")
    vm._require("clone", *SAVE_STATES)
    hv = vm.hv
    state = capture_state(vm)
    disk = None if vm.disk is None else Disk(np.array(vm.disk.data, dtype=np.uint8))
    kwargs = {
        "memory": vm.memory_size,
        "mode": vm.mode,
        "shares": vm.shares,
        "reservation": vm.reservation,
        "limit": vm.limit,
        "strict": vm.strict,
        "disk": disk,
        "exits": vm.exits_path,
    }
    if linked:
        harvest_dirty(vm)  # dirty bits of frames about to be shared belong to vm's log
        clone = hv.create_vm(name, vm.image, _shared_frames=vm.frames, **kwargs)
        vm.p2m &= ~P2M_W
        _write_protect_tlb(vm.cpu.st)
        apply_state(clone, state, refill=False)
    else:
        clone = hv.create_vm(name, vm.image, **kwargs)
        _pages2d(vm)[clone.frames] = _pages2d(vm)[vm.frames]
        apply_state(clone, state)
    reset_log(clone, None)
    return clone


# ---- figures for the benchmark -----------------------------------------------------------------
def snapshot_cost_figures(memory: str = "16M", clones: int = 10, repeat: int = 3) -> dict[str, Any]:
    """What snapshots and clones of one ``memory``-sized VM cost the host (for ``bench/``).

    Returns times in milliseconds (best of ``repeat``; wall-clock, so compare them as ratios),
    host bytes per idle linked clone (``clones`` of them, resumed and idling) and per full clone,
    the bytes a full snapshot holds and the size of the VM's export file (without snapshots). Everything but the times is deterministic. The VM runs
    ``images/secret`` (it prints, then waits in ``wfi``) and all of its memory but the first and
    last 64 pages is filled with random data, so that no page is a zero page to skip.

    >>> figures = snapshot_cost_figures("1M", clones=2, repeat=1)
    >>> figures["host_bytes_per_idle_linked_clone"], figures["host_bytes_per_full_clone"]
    (0, 1048576)
    """
    from .. import images
    from .hypervisor import Hypervisor

    def best(fn: Any) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times) * 1000

    size = _size(memory)
    if size < (1 << 20):
        raise ValueError(f"snapshot_cost_figures needs a VM of at least 1M, not {memory!r}")
    hv = Hypervisor(host_memory=8 * size + (4 << 20))
    vm = hv.create_vm("base", images.load("secret"), memory=memory)
    vm.start()
    hv.run(cycles=2_000_000)
    vm.pause()
    rng = np.random.default_rng(1)
    top = vm.memory_size - 64 * PAGE_SIZE  # the program, its data and its stack stay as they are
    start = 64 * PAGE_SIZE
    vm.write_guest(start, rng.integers(0, 256, top - start, dtype=np.uint8).tobytes())
    counter = iter(range(10**6))
    full_ms = best(lambda: vm.snapshot(f"full-{next(counter)}", incremental=False))
    base = vm.snapshot("base", incremental=False)

    def dirty_and_snapshot() -> None:
        vm.write_guest(start, bytes(64 * PAGE_SIZE))  # 64 pages written since the last one
        vm.snapshot(f"inc-{next(counter)}")

    inc_ms = best(dirty_and_snapshot)
    restore_ms = best(lambda: vm.restore(base))
    used = hv.memory.used_bytes
    made: list[VM] = []
    t0 = time.perf_counter()
    for i in range(clones):
        made.append(vm.clone(f"linked-{i}", linked=True))
    linked_ms = (time.perf_counter() - t0) * 1000 / clones
    for c in made:
        c.resume()
    hv.run(cycles=2_000_000)  # the clones run: idle in wfi, they write nothing
    per_linked = (hv.memory.used_bytes - used) / clones
    for c in made:
        c.stop()
        c.delete()
    vm.restore(base)  # private frames again (the clones shared them)
    used = hv.memory.used_bytes
    vm.clone("full-clone", linked=False)
    per_full = hv.memory.used_bytes - used

    def full_clone() -> None:
        c = vm.clone(f"full-{next(counter)}", linked=False)
        c.stop()
        c.delete()

    full_clone_ms = best(full_clone)
    snapshot_bytes = base.size_bytes
    for snap in vm.snapshots:
        snap.delete()  # export the VM alone
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base.vmx"
        export_ms = best(lambda: vm.export(path))
        export_bytes = path.stat().st_size
        other = Hypervisor(host_memory=size + (4 << 20))

        def import_once() -> None:
            copy = other.import_vm(path)
            copy.stop()
            copy.delete()

        import_ms = best(import_once)
    return {
        "vm_memory_bytes": vm.memory_size,
        "snapshot_full_ms": round(full_ms, 3),
        "snapshot_incremental_64_pages_ms": round(inc_ms, 3),
        "restore_ms": round(restore_ms, 3),
        "clone_linked_ms": round(linked_ms, 3),
        "clone_full_ms": round(full_clone_ms, 3),
        "host_bytes_per_idle_linked_clone": round(per_linked),
        "host_bytes_per_full_clone": per_full,
        "full_snapshot_bytes": snapshot_bytes,
        "export_ms": round(export_ms, 3),
        "import_ms": round(import_ms, 3),
        "export_file_bytes": export_bytes,
    }


def _size(text: str) -> int:
    from ..units import parse_size

    return parse_size(text, "memory")
