"""Export and import: a whole VM (and its snapshot tree) as ONE portable file (``name.vmlab``).

``vm.export(path)`` writes the VM; ``hv.import_vm(path)`` loads it into any hypervisor, in any
process, and it continues exactly where it was (same output, registers and cycles). Legal when
the VM is created, paused or stopped; the imported VM comes back in that same state.

File format, version 2 (all integers little-endian)::

    offset  size  field
    0       8     magic  b"VMLABVM\\0"
    8       2     format version (u16) = 2
    10      2     flags (u16) = 0
    12      4     manifest length M in bytes (u32)
    16      8     total file length L in bytes, checksum included (u64)
    24      M     manifest: a UTF-8 JSON object (below)
    24+M          blobs, back to back, each compressed with zlib (RFC 1950); the manifest's
                  "blobs" list gives each one's compressed and uncompressed length, in order
    L-32    32    SHA-256 of every byte before it

The manifest (JSON) holds, with blobs referred to by their index in "blobs"::

    format "vmlab-vm", version, vmlab (the version that wrote it), name
    config     memory (bytes), mode, shares, reservation, limit, strict, exits, disk (bool)
    image      blob: the guest program as a VL32 ``.img`` file (see ``vmlab.image``)
    vm         the VM's state: lifecycle ("created"/"paused"/"stopped"), stop_reason,
               exit_code, message, guest_clock and wake_in (guest cycles; null: never
               started / not waiting), cpu {regs: [17 ints], st: [the CpuState array]},
               console {output: blob, input: blob, dropped}, disk (blob or null),
               stats (VMStats: counters (translated_pages may be absent: 0), exits
               {name: {count, cycles, host_seconds}}, hypercalls), decoded (blob: which
               words the decode cache held), pages (blob)
    snapshots  the snapshot tree, oldest first: name, parent (index or null), incremental,
               clock (host cycle on the exporting host), state (as "vm")
    current_snapshot   index or null;  pending  blob: pages written since it

A page blob is u32 count K, K guest page numbers (u32, increasing), then K pages of 4096 bytes;
a "decoded" blob has 128-byte word bitmaps instead of pages, a "pending" blob page numbers only.
The VM's own pages are all its non-zero pages (the others are zero); an incremental snapshot's
are those written since its parent. States may share a blob (snapshots whose disk did not
change share its contents); every blob is used at least once. CPU state is independent of host
frames (see ``vmlab.hypervisor.snapshot``). A disk comes back as an in-memory disk holding the
exported contents.

Version 1 files (vmlab before the 256-entry 4-way TLB) are still read: their CPU state has 384
words (a 64-entry TLB at 256..383); it comes back with the same registers, counters and devices
and an empty TLB (a cache: the guest only pays the walks again).

Files are written atomically (a temporary file in the same directory, fsync, ``os.replace``):
an interrupted export leaves the previous file, or none, never a partial one. Reading checks the
magic, the version, the length and the checksum before anything else, then every field; any
problem raises :class:`ExportFormatError` naming the file and the problem, and nothing changes
(no VM is created, no host memory is taken).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.layout import (
    CONSOLE_IN_SIZE,
    ST_RAMSIZE,
    ST_SIZE,
    ST_TLB_DATA,
    ST_TLB_TAG,
    TLB_IO,
)
from ..core.state import NUM_REG_SLOTS
from ..devices.disk import Disk
from ..devices.memmap import SECTOR_SIZE
from ..files import check_writable_target, file_name, read_bytes, write_atomically
from ..image import Image, ImageFormatError
from ..isa.arch import PAGE_SIZE, TLB_ENTRIES
from .hypervisor import check_resources
from .snapshot import (
    MASK_BYTES,
    SAVE_STATES,
    WORDS,
    SavedState,
    Snapshot,
    apply_state,
    capture_state,
    harvest_dirty,
    load_pages,
    nonzero_pages,
    reset_log,
    tree,
    vm_config,
)
from .vm import MODES, NEVER, ExitStat, VMStats, name_problem

if TYPE_CHECKING:
    from .hypervisor import Hypervisor
    from .vm import VM

__all__ = ["FORMAT_VERSION", "MAGIC", "ExportFormatError", "export_vm", "import_vm", "read_export"]

MAGIC = b"VMLABVM\0"
FORMAT_VERSION = 2
# version 1 (vmlab before the 4-way TLB) stored a CPU state of 384 words: 64 TLB tags, 64 TLB data
V1_ST_SIZE = 384
V1_TLB_TAG = 256
_HEADER = struct.Struct("<8sHHIQ")
_DIGEST = 32  # SHA-256
_MAX_MEMORY = 1 << 30  # what hv.create_vm accepts
_STATS_COUNTERS = ("instructions", "guest_cycles", "hypervisor_cycles", "idle_cycles", "slices")


class ExportFormatError(ValueError):
    """A file is not a valid vmlab VM export (it names the file and the problem)."""


# ---- writing -----------------------------------------------------------------------------------
class _Blobs:
    """The blobs of a file being written, compressed as they are added."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.table: list[dict[str, int]] = []
        self.disks: dict[int, int] = {}  # id of a disk array -> its blob (snapshots share them)

    def add_disk(self, disk: np.ndarray) -> int:
        """The blob of a disk's contents (one blob per distinct array)."""
        if id(disk) not in self.disks:
            self.disks[id(disk)] = self.add(disk.tobytes())
        return self.disks[id(disk)]

    def add(self, raw: bytes) -> int:
        """Compress ``raw``; returns its blob index."""
        packed = zlib.compress(raw, 6)
        self.data.append(packed)
        self.table.append({"length": len(packed), "raw_length": len(raw)})
        return len(self.data) - 1


def _pack_pages(gfns: np.ndarray, rows: np.ndarray | None) -> bytes:
    """K, K page numbers, then the K rows (pages or bitmaps) if given."""
    out = struct.pack("<I", len(gfns)) + np.asarray(gfns, dtype="<u4").tobytes()
    if rows is not None:
        out += np.ascontiguousarray(rows).astype(rows.dtype.newbyteorder("<")).tobytes()
    return out


def _stats_to_json(stats: VMStats) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(stats).items():
        if key == "exits":
            out[key] = {
                n: {"count": e.count, "cycles": e.cycles, "host_seconds": e.host_seconds}
                for n, e in value.items()
            }
        elif key == "hypercalls":
            out[key] = dict(value)
        else:
            out[key] = value
    return out


def _state_to_json(state: SavedState, pages: tuple[np.ndarray, np.ndarray], blobs: _Blobs) -> dict:
    return {
        "lifecycle": state.lifecycle,
        "stop_reason": state.stop_reason,
        "exit_code": state.exit_code,
        "message": state.message,
        "guest_clock": state.guest_clock,
        "wake_in": state.wake_in,
        "cpu": {"regs": state.regs.tolist(), "st": state.st.tolist()},
        "console": {
            "output": blobs.add(bytes(state.console["output"])),
            "input": blobs.add(bytes(state.console["input"])),
            "dropped": int(state.console["dropped"]),
        },
        "disk": None if state.disk is None else blobs.add_disk(state.disk),
        "stats": _stats_to_json(state.stats),
        "decoded": blobs.add(_pack_pages(state.decoded_gfns, state.decoded_masks)),
        "pages": blobs.add(_pack_pages(*pages)),
    }


def export_vm(vm: VM, path: str | os.PathLike[str]) -> None:
    """Write ``vm`` with its snapshot tree to one file at ``path`` (atomically; see module doc).

    Legal when the VM is created, paused or stopped (pause a running VM first). The VM is not
    changed (its console buffer is drained and its dirty log harvested, as a snapshot does).
    """
    from .. import __version__

    vm._require("export", *SAVE_STATES)
    given = file_name(path, "the export path")
    try:
        check_writable_target(given)  # (before Path(): Path("") would be ".")
    except OSError as exc:  # (its subclass: FileNotFoundError, IsADirectoryError, ...)
        where = f" to {given}" if given else ""
        raise type(exc)(f"cannot export VM {vm.name!r}{where}: {exc.strerror}") from None
    path = Path(given)
    t = tree(vm)
    pending = harvest_dirty(vm)
    blobs = _Blobs()
    config = vm_config(vm)
    image = blobs.add(vm.image.to_bytes())
    current = _state_to_json(capture_state(vm), nonzero_pages(vm), blobs)
    index = {id(s): i for i, s in enumerate(t.snapshots)}
    snaps = [
        {
            "name": s.name,
            "parent": None if s.parent is None else index[id(s.parent)],
            "incremental": s.incremental,
            "clock": s.clock,
            "state": _state_to_json(s.state, (s.gfns, s.data), blobs),
        }
        for s in t.snapshots
    ]
    manifest = {
        "format": "vmlab-vm",
        "version": FORMAT_VERSION,
        "vmlab": __version__,
        "name": vm.name,
        "config": config,
        "image": image,
        "vm": current,
        "snapshots": snaps,
        "current_snapshot": None if t.current is None else index[id(t.current)],
        "pending": blobs.add(_pack_pages(np.flatnonzero(pending), None)),
        "blobs": blobs.table,
    }
    text = json.dumps(manifest, separators=(",", ":"), allow_nan=False).encode()
    total = _HEADER.size + len(text) + sum(len(b) for b in blobs.data) + _DIGEST
    chunks = [_HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(text), total), text, *blobs.data]
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    chunks.append(digest.digest())
    write_atomically(path, chunks)


# ---- reading -----------------------------------------------------------------------------------
@dataclass
class Export:
    """A parsed and validated export file (nothing created yet)."""

    source: str
    name: str
    config: dict[str, Any]
    image: Image
    state: SavedState
    pages: tuple[np.ndarray, np.ndarray]
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # name, parent, ..., state, pages
    current_snapshot: int | None = None
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    vmlab_version: str = ""


class _Parser:
    """Validates one file's manifest and blobs; every problem is an ExportFormatError."""

    def __init__(
        self, source: str, blobs: list[bytes], table: list[dict[str, int]], version: int
    ) -> None:
        self.version = version
        self.source = source
        self.blobs = blobs
        self.table = table
        self.used: dict[int, bytes] = {}  # blobs read so far (several states may share one)
        self.pages = 0  # guest pages of the VM (set once the config is read)

    def fail(self, problem: str) -> ExportFormatError:
        """The error to raise for ``problem``."""
        return ExportFormatError(f"{self.source}: corrupt export: {problem}")

    def count(self, obj: Any, key: str, where: str, top: int = 1 << 63, none: bool = False) -> Any:
        """``obj[key]``: an integer in 0..top-1 (or null if ``none``)."""
        value = self.get(obj, key, (int, type(None)) if none else int, where)
        if value is not None and not 0 <= value < top:
            raise self.fail(f"{where}.{key} is {value}, outside 0..{top - 1}")
        return value

    def get(self, obj: Any, key: str, kinds: type | tuple[type, ...], where: str) -> Any:
        """``obj[key]``, which must exist and be of ``kinds`` (bool is never an int here)."""
        if not isinstance(obj, dict) or key not in obj:
            raise self.fail(f"{where} has no field {key!r}")
        value = obj[key]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(f"{where}.{key} is {value!r}, expected {_kind_names(kinds)}")
        if not isinstance(value, kinds):
            raise self.fail(f"{where}.{key} is {value!r}, expected {_kind_names(kinds)}")
        return value

    def blob(self, index: Any, where: str, limit: int) -> bytes:
        """Decompress blob ``index``, which may be at most ``limit`` bytes uncompressed."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise self.fail(f"{where} is {index!r}, not a blob number")
        if not 0 <= index < len(self.blobs):
            raise self.fail(f"{where} names blob {index} but there are {len(self.blobs)}")
        if index in self.used:
            return self.used[index]
        raw_length = self.table[index]["raw_length"]
        if raw_length > limit:
            raise self.fail(f"{where} is {raw_length} bytes, more than the {limit} possible")
        d = zlib.decompressobj()
        try:
            raw = d.decompress(self.blobs[index], raw_length + 1)
        except zlib.error as exc:
            raise self.fail(f"{where} (blob {index}) does not decompress: {exc}") from None
        if len(raw) != raw_length or not d.eof or d.unused_data:
            raise self.fail(
                f"{where} (blob {index}) holds {len(raw)} bytes, not the {raw_length} declared"
            )
        self.used[index] = raw
        return raw

    def page_set(self, index: Any, where: str, row_bytes: int) -> tuple[np.ndarray, bytes]:
        """A page blob: increasing guest page numbers below the VM's size, and their rows."""
        raw = self.blob(index, where, 4 + self.pages * (4 + row_bytes))
        if len(raw) < 4:
            raise self.fail(f"{where} is too short to hold its page count")
        (k,) = struct.unpack_from("<I", raw)
        if len(raw) != 4 + k * (4 + row_bytes):
            raise self.fail(f"{where}: {len(raw)} bytes do not hold {k} pages")
        gfns = np.frombuffer(raw, dtype="<u4", count=k, offset=4).astype(np.int64)
        if k and (gfns[-1] >= self.pages or np.any(np.diff(gfns) <= 0)):
            raise self.fail(
                f"{where}: page numbers must increase and stay below the VM's {self.pages} pages"
            )
        return gfns, raw[4 + 4 * k :]

    def config(self, obj: Any) -> dict[str, Any]:
        """The VM configuration."""
        c = {
            "memory": self.get(obj, "memory", int, "config"),
            "mode": self.get(obj, "mode", str, "config"),
            "shares": self.get(obj, "shares", int, "config"),
            "reservation": float(self.get(obj, "reservation", (int, float), "config")),
            "limit": self.get(obj, "limit", (int, float, type(None)), "config"),
            "strict": self.get(obj, "strict", bool, "config"),
            "exits": self.get(obj, "exits", str, "config"),
            "disk": self.get(obj, "disk", bool, "config"),
        }
        if c["memory"] <= 0 or c["memory"] % PAGE_SIZE or c["memory"] > _MAX_MEMORY:
            raise self.fail(f"config.memory {c['memory']} is not a multiple of 4K up to 1G")
        if c["mode"] not in MODES:
            raise self.fail(f"config.mode {c['mode']!r} is not one of {', '.join(MODES)}")
        if c["exits"] not in ("python", "jit"):
            raise self.fail(f"config.exits {c['exits']!r} is not 'python' or 'jit'")
        if c["limit"] is not None:
            c["limit"] = float(c["limit"])
        try:
            check_resources(c["shares"], c["reservation"], c["limit"])
        except ValueError as exc:
            raise self.fail(f"config: {exc}") from None
        self.pages = c["memory"] // PAGE_SIZE
        return c

    def stats(self, obj: Any, where: str) -> VMStats:
        """A VMStats from its JSON form."""
        if not isinstance(obj, dict):
            raise self.fail(f"{where} is not an object")
        stats = VMStats()
        for key in obj:
            if key == "exits":
                exits = self.get(obj, "exits", dict, where)
                for name, e in exits.items():
                    w = f"{where}.exits[{name!r}]"
                    stats.exits[name] = ExitStat(
                        self.get(e, "count", int, w),
                        self.get(e, "cycles", int, w),
                        float(self.get(e, "host_seconds", (int, float), w)),
                    )
            elif key == "hypercalls":
                calls = self.get(obj, "hypercalls", dict, where)
                stats.hypercalls = {
                    n: self.get(calls, n, int, f"{where}.hypercalls") for n in calls
                }
            elif key == "host_seconds":
                stats.host_seconds = float(self.get(obj, key, (int, float), where))
            else:  # the counters (translated_pages, absent from older files, stays 0) and
                # any a newer vmlab added
                setattr(stats, key, self.get(obj, key, int, where))
        for key in _STATS_COUNTERS:
            self.get(obj, key, int, where)
        return stats

    def state(self, obj: Any, where: str, config: dict, image: Image) -> tuple[SavedState, Any]:
        """A SavedState and the (not yet decoded) index of its pages blob."""
        if not isinstance(obj, dict):
            raise self.fail(f"{where} is not an object")
        lifecycle = self.get(obj, "lifecycle", str, where)
        if lifecycle not in SAVE_STATES:
            raise self.fail(f"{where}.lifecycle {lifecycle!r} is not one of {SAVE_STATES}")
        cpu = self.get(obj, "cpu", dict, where)
        regs = self._ints(self.get(cpu, "regs", list, f"{where}.cpu"), NUM_REG_SLOTS, "regs")
        if self.version == 1:  # 64 TLB entries then: the same state with an empty TLB now
            old = self._ints(self.get(cpu, "st", list, f"{where}.cpu"), V1_ST_SIZE, "st")
            st = np.zeros(ST_SIZE, dtype=np.int64)
            st[:V1_TLB_TAG] = old[:V1_TLB_TAG]
            st[ST_TLB_TAG : ST_TLB_TAG + TLB_ENTRIES] = -1
        else:
            st = self._ints(self.get(cpu, "st", list, f"{where}.cpu"), ST_SIZE, "st")
        if st[ST_RAMSIZE] != config["memory"]:
            raise self.fail(
                f"{where}: the CPU's RAM size {st[ST_RAMSIZE]} does not match "
                f"config.memory {config['memory']}"
            )
        tags = st[ST_TLB_TAG : ST_TLB_TAG + TLB_ENTRIES]
        data = st[ST_TLB_DATA : ST_TLB_DATA + TLB_ENTRIES]
        outside = (tags != -1) & (data & TLB_IO == 0) & ~((data >= 0) & (data >> 12 < self.pages))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise self.fail(
                f"{where}: TLB entry {i} maps page {int(data[i]) >> 12}, outside the VM's "
                f"{self.pages} pages"
            )
        con = self.get(obj, "console", dict, where)
        output = self.blob(con.get("output"), f"{where}.console.output", 64 << 20)
        pending_in = self.blob(con.get("input"), f"{where}.console.input", CONSOLE_IN_SIZE)
        dropped = self.count(con, "dropped", f"{where}.console")
        disk_index = self.get(obj, "disk", (int, type(None)), where)
        if (disk_index is None) == config["disk"]:
            raise self.fail(f"{where}.disk does not match config.disk = {config['disk']}")
        disk = None
        if disk_index is not None:
            raw = self.blob(disk_index, f"{where}.disk", 1 << 32)
            if not raw or len(raw) % SECTOR_SIZE:
                raise self.fail(f"{where}.disk is {len(raw)} bytes, not whole sectors")
            disk = np.frombuffer(raw, dtype=np.uint8).copy()
        dgfns, masks = self.page_set(
            self.get(obj, "decoded", int, where), f"{where}.decoded", MASK_BYTES
        )
        wake = self.count(obj, "wake_in", where, NEVER + 1, none=True)
        gclock = self.count(obj, "guest_clock", where, NEVER, none=True)
        exit_code = self.count(obj, "exit_code", where, 1 << 32, none=True)
        state = SavedState(
            config=config,
            image=image,
            regs=regs,
            st=st,
            console={"output": output, "input": pending_in, "dropped": dropped},
            disk=disk,
            lifecycle=lifecycle,
            stop_reason=self.get(obj, "stop_reason", (str, type(None)), where),
            exit_code=exit_code,
            message=self.get(obj, "message", str, where),
            guest_clock=gclock,
            wake_in=wake,
            stats=self.stats(self.get(obj, "stats", dict, where), f"{where}.stats"),
            decoded_gfns=dgfns,
            decoded_masks=np.frombuffer(masks, dtype=np.uint8).reshape(-1, MASK_BYTES).copy(),
        )
        return state, self.get(obj, "pages", int, where)

    def pages_of(self, index: int, where: str) -> tuple[np.ndarray, np.ndarray]:
        """A pages blob as (guest page numbers, rows of 1024 words)."""
        gfns, rows = self.page_set(index, where, PAGE_SIZE)
        data = np.frombuffer(rows, dtype="<u4").astype(np.uint32).reshape(-1, WORDS)
        return gfns, data

    def _ints(self, values: list, n: int, what: str) -> np.ndarray:
        if len(values) != n or not all(
            isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < 1 << 63
            for v in values
        ):
            raise self.fail(f"the CPU's {what} must be {n} 64-bit integers")
        return np.array(values, dtype=np.int64)


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def read_export(path: str | os.PathLike[str]) -> Export:
    """Read and fully validate an export file; ExportFormatError naming the file if it is bad."""
    data = read_bytes(path, "VM export file")
    return _parse(data, file_name(path, "the VM export file's path"))


def _parse(data: bytes, source: str) -> Export:
    """Parse and validate the bytes of an export file."""
    if len(data) < _HEADER.size + _DIGEST:
        if not data or not data.startswith(MAGIC[: len(data)]):
            raise ExportFormatError(f"{source}: not a vmlab VM export (bad magic number)")
        raise ExportFormatError(
            f"{source}: truncated export: {len(data)} bytes, shorter than the "
            f"{_HEADER.size + _DIGEST}-byte minimum"
        )
    magic, version, flags, mlen, total = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ExportFormatError(f"{source}: not a vmlab VM export (bad magic number {magic!r})")
    if version > FORMAT_VERSION:
        raise ExportFormatError(
            f"{source}: VM export format version {version} is newer than this vmlab supports "
            f"(version {FORMAT_VERSION}); upgrade vmlab to import it"
        )
    if version not in (1, FORMAT_VERSION):
        raise ExportFormatError(f"{source}: unsupported VM export format version {version}")
    if len(data) < total:
        raise ExportFormatError(f"{source}: truncated export: {len(data)} of {total} bytes present")
    if len(data) > total:
        raise ExportFormatError(
            f"{source}: corrupt export: {len(data) - total} unexpected bytes after the end"
        )
    if hashlib.sha256(data[: total - _DIGEST]).digest() != data[total - _DIGEST :]:
        raise ExportFormatError(
            f"{source}: bad checksum: the file was damaged or modified after it was written"
        )
    if flags != 0:
        raise ExportFormatError(f"{source}: corrupt export: unknown flags 0x{flags:04x}")
    end = total - _DIGEST
    if _HEADER.size + mlen > end:
        raise ExportFormatError(f"{source}: corrupt export: the manifest runs past the end")
    try:
        manifest = json.loads(data[_HEADER.size : _HEADER.size + mlen].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportFormatError(
            f"{source}: corrupt export: the manifest is not JSON ({exc})"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != "vmlab-vm":
        raise ExportFormatError(f"{source}: corrupt export: the manifest is not a vmlab VM's")
    # blobs
    table = manifest.get("blobs")
    if not isinstance(table, list) or not all(
        isinstance(b, dict)
        and all(
            isinstance(b.get(k), int) and not isinstance(b.get(k), bool) and b[k] >= 0
            for k in ("length", "raw_length")
        )
        for b in table
    ):
        raise ExportFormatError(f"{source}: corrupt export: the blob table is malformed")
    blobs: list[bytes] = []
    pos = _HEADER.size + mlen
    for b in table:
        if pos + b["length"] > end:
            raise ExportFormatError(
                f"{source}: corrupt export: blob {len(blobs)} runs past the end"
            )
        blobs.append(data[pos : pos + b["length"]])
        pos += b["length"]
    if pos != end:
        raise ExportFormatError(
            f"{source}: corrupt export: {end - pos} unexplained bytes before the checksum"
        )
    p = _Parser(source, blobs, table, version)
    if p.get(manifest, "version", int, "manifest") != version:
        raise p.fail(f"the manifest says version {manifest['version']}, the header {version}")
    name = p.get(manifest, "name", str, "manifest")
    config = p.config(p.get(manifest, "config", dict, "manifest"))
    try:
        image = Image.from_bytes(
            p.blob(manifest.get("image"), "image", 1 << 32), f"{source} (image)"
        )
    except ImageFormatError as exc:
        raise p.fail(str(exc)) from None
    state, pages_index = p.state(p.get(manifest, "vm", dict, "manifest"), "vm", config, image)
    pages = p.pages_of(pages_index, "vm.pages")
    snapshots: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, s in enumerate(p.get(manifest, "snapshots", list, "manifest")):
        where = f"snapshots[{i}]"
        sname = p.get(s, "name", str, where)
        problem = "repeated" if sname in names else name_problem(sname)
        if problem is not None:
            raise p.fail(f"{where}.name {sname[:40]!r} is {problem}")
        names.add(sname)
        parent = p.get(s, "parent", (int, type(None)), where)
        if parent is not None and not 0 <= parent < i:
            raise p.fail(f"{where}.parent {parent} is not an earlier snapshot")
        incremental = p.get(s, "incremental", bool, where)
        if incremental and parent is None:
            raise p.fail(f"{where} is incremental but has no parent")
        sstate, sindex = p.state(p.get(s, "state", dict, where), f"{where}.state", config, image)
        snapshots.append(
            {
                "name": sname,
                "parent": parent,
                "incremental": incremental,
                "clock": p.count(s, "clock", where, NEVER),
                "state": sstate,
                "pages": p.pages_of(sindex, f"{where}.pages"),
            }
        )
    current = p.get(manifest, "current_snapshot", (int, type(None)), "manifest")
    if current is not None and not 0 <= current < len(snapshots):
        raise p.fail(f"current_snapshot {current} is not one of the {len(snapshots)} snapshots")
    pending, _ = p.page_set(manifest.get("pending"), "pending", 0)
    if len(p.used) != len(blobs):
        raise p.fail(f"{len(blobs) - len(p.used)} blobs are not used by the manifest")
    return Export(
        source=source,
        name=name,
        config=config,
        image=image,
        state=state,
        pages=pages,
        snapshots=snapshots,
        current_snapshot=current,
        pending=pending,
        vmlab_version=str(manifest.get("vmlab", "")),
    )


def import_vm(hv: Hypervisor, path: str | os.PathLike[str], name: str | None = None) -> VM:
    """Create a VM on ``hv`` from an export file; it continues exactly where it was exported.

    ``name`` defaults to the exported VM's name. The VM comes back in the state it was exported
    in (created, paused or stopped), with its snapshot tree. The whole file is validated first:
    a bad file raises ``ExportFormatError``, a taken name ``ValueError``, too little host memory
    ``HostMemoryError``, each naming the file, and then no VM is created and nothing changes.
    """
    exp = read_export(path)
    name = exp.name if name is None else name
    if name in {vm.name for vm in hv.vms}:
        raise ValueError(
            f"cannot import {exp.source}: a VM named {name!r} already exists "
            "(pass name= to import it under another name)"
        )
    c = exp.config
    disk = None if exp.state.disk is None else Disk(exp.state.disk.copy())
    try:
        vm = hv.create_vm(
            name,
            exp.image,
            memory=c["memory"],
            mode=c["mode"],
            shares=c["shares"],
            reservation=c["reservation"],
            limit=c["limit"],
            strict=c["strict"],
            disk=disk,
            exits=c["exits"],
        )
    except (ValueError, MemoryError) as exc:
        raise type(exc)(f"cannot import {exp.source}: {exc}") from None
    try:
        load_pages(vm, [exp.pages])
        apply_state(vm, exp.state)
        t = tree(vm)
        made: list[Snapshot] = []
        for s in exp.snapshots:
            parent = None if s["parent"] is None else made[s["parent"]]
            gfns, data = s["pages"]
            snap = Snapshot(
                s["name"], vm, parent, s["incremental"], s["clock"], s["state"], gfns, data
            )
            if parent is not None:
                parent.children.append(snap)
            made.append(snap)
        t.snapshots = made
        reset_log(vm, None if exp.current_snapshot is None else made[exp.current_snapshot])
        t.pending[exp.pending] = True
    except BaseException:
        hv._forget(vm)
        hv.memory.release(vm.frames)
        vm.state = "deleted"
        raise
    return vm
