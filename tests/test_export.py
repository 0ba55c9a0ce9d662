"""Export and import: a VM is one file that resumes exactly anywhere; bad files change nothing."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vmlab
import vmlab.hypervisor.export as export_module
from vmlab import Hypervisor, VMStateError, images
from vmlab.core.layout import ST_TLB_DATA, ST_TLB_TAG, TLB_IO
from vmlab.devices.disk import Disk
from vmlab.hypervisor import MODES, HostMemoryError
from vmlab.hypervisor.export import FORMAT_VERSION, MAGIC, ExportFormatError
from vmlab.hypervisor.vm import VM
from vmlab.isa.arch import TLB_ENTRIES

KERNEL = {"PRIMES_N": 2000, "COLLATZ_N": 300, "PING_N": 50, "TICKER_N": 2}
TO_THE_END = 40_000_000
HEADER = struct.Struct("<8sHHIQ")  # as documented in vmlab/hypervisor/export.py


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


def fingerprint(vm: VM) -> dict:
    """What a run produced: output, registers, the whole CPU state and the accounting."""
    return {
        "output": vm.console.output,
        "state": [vm.state, vm.stop_reason, vm.exit_code],
        "regs": vm.cpu.regs.tolist(),
        "st": guest_view_of_cpu(vm),
        "instructions": vm.stats.instructions,
        "guest_cycles": vm.stats.guest_cycles,
        "hypervisor_cycles": vm.stats.hypervisor_cycles,
        "exits": {k: [e.count, e.cycles] for k, e in vm.stats.exits.items()},
    }


def kernel_in_the_middle(hv: Hypervisor, mode: str = "binary-translation", name: str = "k") -> VM:
    image = images.load("minikernel", PV=int(mode == "paravirtual"), **KERNEL)
    vm = hv.create_vm(name, image, memory="4M", mode=mode)
    vm.start()
    hv.run(cycles=3_000_000)
    assert vm.state == "running"
    vm.pause()
    return vm


def finish(vm: VM) -> dict:
    vm.resume()
    vm.hv.run(cycles=TO_THE_END)
    assert vm.stop_reason == "poweroff" and vm.exit_code == 0
    return fingerprint(vm)


def frames_in_use(hv: Hypervisor) -> tuple[int, list[str]]:
    return hv.memory.free_frames, [vm.name for vm in hv.vms]


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, dict]:
    """A minikernel VM (with a snapshot) exported in the middle of its run, and how it ends."""
    hv = Hypervisor(host_memory="16M")
    vm = kernel_in_the_middle(hv)
    vm.snapshot("middle")
    path = tmp_path / "k.vmlab"
    vm.export(path)
    return path, finish(vm)


# ---- round trips -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_an_imported_vm_resumes_exactly(tmp_path: Path, mode: str) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_in_the_middle(hv, mode)
    path = tmp_path / "k.vmlab"
    vm.export(path)
    uninterrupted = finish(vm)

    other = Hypervisor(host_memory="32M")
    other.create_vm("neighbour", images.load("hello"), memory="1M")  # other frames than before
    copy = other.import_vm(path)
    assert copy.name == "k" and copy.state == "paused" and copy.mode == mode
    assert not np.array_equal(copy.frames, vm.frames)
    assert finish(copy) == uninterrupted


def test_an_export_imported_in_another_process_resumes_exactly(exported: tuple[Path, dict]) -> None:
    path, uninterrupted = exported
    script = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_export import finish
from vmlab import Hypervisor
vm = Hypervisor(host_memory="8M").import_vm({str(path)!r})
print(json.dumps(finish(vm)))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    assert json.loads(out.stdout) == json.loads(json.dumps(uninterrupted))


def test_the_snapshot_tree_travels_with_the_vm(tmp_path: Path) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_in_the_middle(hv, "hw-assist")
    vm.snapshot("a")
    vm.resume()
    hv.run(cycles=1_000_000)
    vm.pause()
    vm.snapshot("b")
    vm.restore("a")
    vm.snapshot("c")  # a branch from "a"
    vm.resume()
    hv.run(cycles=500_000)
    vm.pause()  # pages written since "c" are pending
    path = tmp_path / "k.vmlab"
    vm.export(path)
    runs = {}
    for name in ("b", "c"):
        vm.restore(name)
        runs[name] = finish(vm)

    copy = Hypervisor(host_memory="16M").import_vm(path, name="copy")
    assert [(s.name, s.parent and s.parent.name, s.incremental) for s in copy.snapshots] == [
        ("a", None, False),
        ("b", "a", True),
        ("c", "a", True),
    ]
    assert copy.current_snapshot is copy.snapshots[2]
    nxt = copy.snapshot("d")  # incremental over "c": must hold the pages written since "c"
    assert nxt.parent is copy.snapshots[2] and nxt.pages_stored > 0
    for name in ("b", "c"):
        copy.restore(name)
        assert finish(copy) == runs[name]


def test_a_created_vm_exports_and_starts_like_a_fresh_one(tmp_path: Path) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("s", images.load("sieve", N=20000), memory="1M", mode="trap-and-emulate")
    vm.export(tmp_path / "s.vmlab")
    copy = Hypervisor(host_memory="16M").import_vm(tmp_path / "s.vmlab")
    assert copy.state == "created"
    for v in (vm, copy):
        v.start()
        v.hv.run(cycles=50_000_000)
    assert fingerprint(copy) == fingerprint(vm)


def test_the_disk_contents_travel_with_the_vm(tmp_path: Path) -> None:
    hv = Hypervisor(host_memory="16M")
    disk = Disk.file(tmp_path / "disk.img", size=8 * 512)
    disk.data[:5] = np.frombuffer(b"hello", np.uint8)
    vm = hv.create_vm("d", images.load("hello"), memory="1M", disk=disk)
    vm.export(tmp_path / "d.vmlab")
    copy = Hypervisor(host_memory="16M").import_vm(tmp_path / "d.vmlab")
    assert copy.disk is not None and copy.disk.path is None  # an in-memory copy
    assert copy.disk.data.tobytes() == disk.data.tobytes()


def test_snapshots_with_an_unchanged_disk_share_one_blob(tmp_path: Path) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("d", images.load("hello"), memory="1M", disk=Disk.from_bytes(b"one"))
    vm.snapshot("a")
    vm.snapshot("b")
    vm.export(tmp_path / "d.vmlab")
    data = (tmp_path / "d.vmlab").read_bytes()
    _, _, _, mlen, _ = HEADER.unpack_from(data)
    manifest = json.loads(data[HEADER.size : HEADER.size + mlen])
    disks = {s["state"]["disk"] for s in manifest["snapshots"]} | {manifest["vm"]["disk"]}
    assert len(disks) == 2  # the snapshots share one; the VM's own state has its own
    copy = Hypervisor(host_memory="16M").import_vm(tmp_path / "d.vmlab")
    assert copy.disk is not None
    copy.disk.data[:3] = np.frombuffer(b"two", np.uint8)
    copy.restore("a")
    assert copy.disk.read_sector(0)[:3] == b"one"


def test_the_file_has_the_documented_layout(exported: tuple[Path, dict]) -> None:
    path, _ = exported
    data = path.read_bytes()
    magic, version, flags, mlen, total = HEADER.unpack_from(data)
    assert (magic, version, flags, total) == (MAGIC, FORMAT_VERSION, 0, len(data))
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]
    manifest = json.loads(data[HEADER.size : HEADER.size + mlen])
    assert manifest["format"] == "vmlab-vm" and manifest["name"] == "k"
    assert manifest["config"]["mode"] == "binary-translation"
    blobs = data[HEADER.size + mlen : -32]
    assert sum(b["length"] for b in manifest["blobs"]) == len(blobs)
    first = manifest["blobs"][0]
    assert manifest["image"] == 0
    image = zlib.decompress(blobs[: first["length"]])
    assert len(image) == first["raw_length"] and image.startswith(b"VL32IMG\0")
    assert len(data) < 4 * 1024 * 1024 // 8  # pages are compressed (the VM has 4 MiB)


# ---- atomic writes -----------------------------------------------------------------------------
@pytest.mark.parametrize("fails_in", ["fsync", "replace"])
def test_an_interrupted_export_leaves_the_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails_in: str
) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = kernel_in_the_middle(hv)
    path = tmp_path / "k.vmlab"
    vm.export(path)
    before = path.read_bytes()
    vm.resume()
    hv.run(cycles=1_000_000)
    vm.pause()

    def crash(*args: object) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(export_module.os, fails_in, crash)
    with pytest.raises(KeyboardInterrupt):
        vm.export(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.vmlab"]  # no temporary file left
    Hypervisor(host_memory="16M").import_vm(path)  # still a good file


def test_an_interrupted_first_export_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("hello"), memory="1M")
    monkeypatch.setattr(export_module.os, "replace", lambda *a: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        vm.export(tmp_path / "v.vmlab")
    assert list(tmp_path.iterdir()) == []


# ---- bad files change nothing ------------------------------------------------------------------
def rewrite(path: Path, edit, extra_blob: bytes | None = None) -> None:
    """Change the manifest of an export with ``edit`` and write a valid checksum again.

    ``extra_blob`` (uncompressed) is appended as one more blob, for ``edit`` to point at.
    """
    data = path.read_bytes()
    magic, version, flags, mlen, _ = HEADER.unpack_from(data)
    manifest = json.loads(data[HEADER.size : HEADER.size + mlen])
    rest = data[HEADER.size + mlen : -32]
    if extra_blob is not None:
        packed = zlib.compress(extra_blob)
        manifest["blobs"].append({"length": len(packed), "raw_length": len(extra_blob)})
        rest += packed
    edit(manifest)
    text = json.dumps(manifest).encode()
    body = HEADER.pack(magic, version, flags, len(text), HEADER.size + len(text) + len(rest) + 32)
    body += text + rest
    path.write_bytes(body + hashlib.sha256(body).digest())


def _future(path: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 8, FORMAT_VERSION + 1)
    data[-32:] = hashlib.sha256(bytes(data[:-32])).digest()  # a valid file of a newer vmlab
    path.write_bytes(bytes(data))


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


BAD_FILES = {
    "empty": (lambda p: p.write_bytes(b""), "not a vmlab VM export \\(bad magic number\\)"),
    "not an export": (
        lambda p: p.write_bytes(b"VL32IMG\0" + bytes(100)),
        "not a vmlab VM export \\(bad magic number",
    ),
    "truncated": (
        lambda p: p.write_bytes(p.read_bytes()[:-1000]),
        r"truncated export: \d+ of \d+ bytes present",
    ),
    "truncated header": (lambda p: p.write_bytes(p.read_bytes()[:20]), "truncated export"),
    "tampered": (_flip_byte, "bad checksum: the file was damaged or modified"),
    "extra bytes": (
        lambda p: p.write_bytes(p.read_bytes() + b"x"),
        "1 unexpected bytes after the end",
    ),
    "future version": (
        _future,
        f"format version {FORMAT_VERSION + 1} is newer than this vmlab supports "
        f"\\(version {FORMAT_VERSION}\\); upgrade vmlab",
    ),
    "unknown mode": (
        lambda p: rewrite(p, lambda m: m["config"].update(mode="magic")),
        "corrupt export: config.mode 'magic' is not one of",
    ),
    "missing field": (
        lambda p: rewrite(p, lambda m: m["vm"].pop("cpu")),
        "corrupt export: vm has no field 'cpu'",
    ),
    "short state": (
        lambda p: rewrite(p, lambda m: m["vm"]["cpu"]["st"].pop()),
        "corrupt export: the CPU's st must be",
    ),
    "memory mismatch": (
        lambda p: rewrite(p, lambda m: m["config"].update(memory=8192)),
        "corrupt export: vm: the CPU's RAM size 4194304 does not match config.memory 8192",
    ),
    "page out of range": (
        lambda p: rewrite(
            p,
            lambda m: m.update(pending=len(m["blobs"]) - 1),
            extra_blob=struct.pack("<II", 1, 5000),
        ),
        "corrupt export: pending: page numbers must increase and stay below the VM's 1024 pages",
    ),
    "unused blob": (
        lambda p: rewrite(p, lambda m: None, extra_blob=b"surprise"),
        "corrupt export: 1 blobs are not used by the manifest",
    ),
    "bad blob length": (
        lambda p: rewrite(p, lambda m: m["blobs"][0].update(raw_length=3)),
        r"corrupt export: image \(blob 0\) holds \d+ bytes, not the 3 declared",
    ),
    "snapshot loop": (
        lambda p: rewrite(p, lambda m: m["snapshots"][0].update(parent=0)),
        r"corrupt export: snapshots\[0\].parent 0 is not an earlier snapshot",
    ),
    # values a written file never holds, which the host would trip over later (seen by fuzzing
    # every field of the manifest and every word of the CPU state with extreme values)
    "tlb entry outside the vm": (
        lambda p: rewrite(p, _tlb_entry_to_page_5000),
        "corrupt export: vm: TLB entry 0 maps page 5000, outside the VM's 1024 pages",
    ),
    "clock past 64 bits": (
        lambda p: rewrite(p, lambda m: m["vm"].update(guest_clock=1 << 63)),
        r"corrupt export: vm.guest_clock is 9223372036854775808, outside 0\.\.",
    ),
    "negative exit code": (
        lambda p: rewrite(p, lambda m: m["vm"].update(exit_code=-5)),
        r"corrupt export: vm.exit_code is -5, outside 0\.\.4294967295",
    ),
    "snapshot clock": (
        lambda p: rewrite(p, lambda m: m["snapshots"][0].update(clock=-1)),
        r"corrupt export: snapshots\[0\].clock is -1, outside 0\.\.",
    ),
    "no shares": (
        lambda p: rewrite(p, lambda m: m["config"].update(shares=0)),
        "corrupt export: config: shares must be a positive integer, not 0",
    ),
    "limit below reservation": (
        lambda p: rewrite(p, lambda m: m["config"].update(reservation=0.5, limit=0.25)),
        "corrupt export: config: limit 0.25 is below the reservation 0.5",
    ),
}


def _tlb_entry_to_page_5000(manifest: dict) -> None:
    st = manifest["vm"]["cpu"]["st"]
    st[ST_TLB_TAG] = 7
    st[ST_TLB_DATA] = (5000 << 12) | 0xF  # not a device page: a RAM page the VM does not have


@pytest.mark.parametrize("damage", list(BAD_FILES))
def test_a_bad_file_is_rejected_clearly_and_changes_nothing(
    exported: tuple[Path, dict], damage: str
) -> None:
    path, _ = exported
    edit, message = BAD_FILES[damage]
    edit(path)
    hv = Hypervisor(host_memory="16M")
    hv.create_vm("other", images.load("hello"), memory="1M")
    before = frames_in_use(hv)
    with pytest.raises(ExportFormatError, match=message) as err:
        hv.import_vm(path)
    assert str(err.value).startswith(f"{path}: ")
    assert frames_in_use(hv) == before


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.vmlab: no such VM export file"):
        Hypervisor(host_memory="16M").import_vm(tmp_path / "nope.vmlab")


def test_an_import_under_a_taken_name_changes_nothing(exported: tuple[Path, dict]) -> None:
    path, _ = exported
    hv = Hypervisor(host_memory="16M")
    hv.create_vm("k", images.load("hello"), memory="1M")
    before = frames_in_use(hv)
    with pytest.raises(ValueError, match=r"a VM named 'k' already exists \(pass name="):
        hv.import_vm(path)
    assert frames_in_use(hv) == before
    assert hv.import_vm(path, name="k2").name == "k2"


def test_an_import_that_does_not_fit_changes_nothing(exported: tuple[Path, dict]) -> None:
    path, _ = exported
    hv = Hypervisor(host_memory="4M")  # the VM needs 4M, the host lends less than that
    before = frames_in_use(hv)
    with pytest.raises(HostMemoryError, match=f"cannot import {path}: VM 'k' .* needs 4M"):
        hv.import_vm(path)
    assert frames_in_use(hv) == before


@pytest.mark.parametrize("fails_in", ["load_pages", "apply_state", "reset_log"])
def test_an_import_interrupted_after_the_vm_was_made_leaves_no_trace(
    exported: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch, fails_in: str
) -> None:
    """Ctrl-C (or any error) in the middle of building the VM: no VM, no frames, same host."""
    path, uninterrupted = exported
    hv = Hypervisor(host_memory="16M")
    other = hv.create_vm("other", images.load("hello"), memory="1M")
    before = frames_in_use(hv)

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, fails_in, interrupt)
    with pytest.raises(KeyboardInterrupt):
        hv.import_vm(path)
    assert frames_in_use(hv) == before
    monkeypatch.undo()
    vm = hv.import_vm(path)  # the name is free again and the import is whole
    assert finish(vm) == uninterrupted
    other.start()
    hv.run(cycles=1_000_000)
    assert other.console.output == images.expected_output("hello")


def test_only_a_vm_at_rest_can_be_exported(tmp_path: Path) -> None:
    hv = Hypervisor(host_memory="16M")
    vm = hv.create_vm("v", images.load("sieve", N=20000), memory="1M")
    vm.start()
    with pytest.raises(VMStateError, match="cannot export VM 'v': it is running"):
        vm.export(tmp_path / "v.vmlab")
    vm.pause()
    with pytest.raises(FileNotFoundError, match=r"directory .*missing does not exist"):
        vm.export(tmp_path / "missing" / "v.vmlab")
    assert list(tmp_path.iterdir()) == []


def test_a_version_1_file_imports_with_an_empty_tlb(tmp_path: Path) -> None:
    """Files of vmlab before the 4-way TLB (384-word CPU state, 64 TLB entries) still import."""
    hv = Hypervisor(host_memory="16M")
    vm = kernel_in_the_middle(hv)
    vm.snapshot("middle")
    path = tmp_path / "v1.vmlab"
    vm.export(path)
    uninterrupted = finish(vm)
    old_tag, old_entries = 256, 64

    def to_version_1(manifest: dict) -> None:
        manifest["version"] = 1
        for state in [manifest["vm"], *(s["state"] for s in manifest["snapshots"])]:
            st = state["cpu"]["st"]
            assert len(st) > old_tag + 2 * old_entries
            # the old layout: 64 tags then 64 data words, here some made-up valid entries
            state["cpu"]["st"] = st[:old_tag] + [7] * old_entries + [0x1000 | 2] * old_entries

    rewrite(path, to_version_1)
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 8, 1)
    data[-32:] = hashlib.sha256(bytes(data[:-32])).digest()
    path.write_bytes(bytes(data))

    copy = Hypervisor(host_memory="32M").import_vm(path)
    tags = copy.cpu.st[ST_TLB_TAG : ST_TLB_TAG + TLB_ENTRIES]
    assert (tags == -1).all()  # the old entries are not misread as the new layout
    done = finish(copy)  # it runs to a clean power-off
    assert done["output"] == uninterrupted["output"]  # the same program, the same output
    assert (
        done["st"] != uninterrupted["st"] or done["guest_cycles"] != uninterrupted["guest_cycles"]
    )
    snap = copy.snapshots[0]
    assert (snap.state.st[ST_TLB_TAG : ST_TLB_TAG + TLB_ENTRIES] == -1).all()


# ---- tampered fields, re-sealed with a valid checksum ------------------------------------------
def _leaves(obj: object, path: tuple = ()) -> list[tuple]:
    """Every path into a manifest (long lists: their ends and middle)."""
    out = [path] if path else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _leaves(v, (*path, k))
    elif isinstance(obj, list):
        picks = range(len(obj)) if len(obj) <= 20 else sorted({0, 1, len(obj) // 2, len(obj) - 1})
        for i in picks:
            out += _leaves(obj[i], (*path, i))
    return out


class Pristine:
    """A pristine export (its bytes) and every path into its manifest; short repr for reports."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        _, _, _, mlen, _ = HEADER.unpack_from(data)
        self.paths = _leaves(json.loads(data[HEADER.size : HEADER.size + mlen]))

    def __repr__(self) -> str:
        return f"<export of {len(self.data)} bytes, {len(self.paths)} fields>"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    """A hw-assist minikernel exported mid-run with two snapshots."""
    hv = Hypervisor(host_memory="16M")
    vm = kernel_in_the_middle(hv, "hw-assist")
    vm.snapshot("a")
    vm.resume()
    hv.run(cycles=500_000)
    vm.pause()
    vm.snapshot("b", incremental=True)
    path = tmp_path_factory.mktemp("pristine") / "k.vmlab"
    vm.export(path)
    return Pristine(path.read_bytes())


_DROP = object()
EXTREMES = [_DROP, None, -1, 0, 1, 1 << 31, 1 << 32, 1 << 62, 1 << 63, -(1 << 63), 1.5, "x", [], {}]


@settings(max_examples=120, deadline=None, derandomize=True)
@given(pick=st.integers(0, 10**6), value=st.sampled_from(EXTREMES), word=st.integers(0, 1 << 20))
def test_a_tampered_field_is_refused_or_the_vm_runs(
    tmp_path_factory: pytest.TempPathFactory,
    pristine: Pristine,
    pick: int,
    value: object,
    word: int,
) -> None:
    """Any field, or any word of the CPU state, set to an extreme value and sealed again.

    The file is refused with ExportFormatError and nothing changes, or it imports into a VM that
    runs, reports and compares without the host raising anything else.
    """
    target = pristine.paths[pick % len(pristine.paths)]

    def edit(m: dict) -> None:
        if target[-1] == "st" or target[-1] == "regs":  # a word of the CPU state
            where = m
            for key in target:
                where = where[key]
            where[word % len(where)] = value if isinstance(value, int) else 1 << 62
            return
        where = m
        for key in target[:-1]:
            where = where[key]
        if value is _DROP:
            del where[target[-1]]
        else:
            where[target[-1]] = value

    path = tmp_path_factory.mktemp("tampered") / "t.vmlab"
    path.write_bytes(pristine.data)
    rewrite(path, edit)
    hv = Hypervisor(host_memory="16M")
    neighbour = hv.create_vm("n", images.load("hello"), memory="1M")
    before = frames_in_use(hv)
    try:
        vm = hv.import_vm(path, name="t")
    except ExportFormatError as exc:
        assert str(exc).startswith(f"{path}: ")
        assert frames_in_use(hv) == before
        return
    neighbour.start()
    if vm.state == "paused":
        vm.resume()
    hv.run(cycles=300_000)
    vm.metrics()
    hv.metrics()
    assert "t" in str(vmlab.compare(vm, neighbour))
    assert neighbour.console.output == images.expected_output("hello")  # untouched by it
