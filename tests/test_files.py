"""Output files (images, exported VMs): only regular files are replaced, links are followed,
permissions are the usual ones, and errors name the path the user gave."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from vmlab import Hypervisor, Image, assemble, images
from vmlab.files import write_atomically


def save_image(path: Path | str) -> None:
    assemble("_start: halt\n").save(path)


def export_vm(path: Path | str) -> None:
    hv = Hypervisor(host_memory="1M")
    hv.create_vm("v", images.load("hello"), memory="64K").export(path)


WRITERS = {"image": save_image, "export": export_vm}


@pytest.fixture(params=sorted(WRITERS))
def write(request: pytest.FixtureRequest) -> Callable[[Path | str], None]:
    return WRITERS[request.param]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_usual_permissions(
    tmp_path: Path, write: Callable[[Path | str], None]
) -> None:
    old = os.umask(0o027)
    try:
        write(tmp_path / "out")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "out") == 0o640  # 0o666 less the umask (mkstemp gave 0o600)


def test_a_replaced_file_keeps_its_permissions(
    tmp_path: Path, write: Callable[[Path | str], None]
) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"old")
    out.chmod(0o604)
    write(out)
    assert mode_of(out) == 0o604 and out.read_bytes() != b"old"


def test_a_symbolic_link_is_followed_and_stays_a_link(
    tmp_path: Path, write: Callable[[Path | str], None]
) -> None:
    target = tmp_path / "real"
    target.write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to(target)
    write(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (os.mkfifo, "is not a regular file"),
        (os.mkdir, "is a directory"),
    ],
)
def test_a_path_that_is_not_a_regular_file_is_refused_and_left_alone(
    tmp_path: Path,
    write: Callable[[Path | str], None],
    make: Callable[[Path], None],
    message: str,
) -> None:
    """Not a FIFO, a directory or a device such as /dev/null (refused the same way)."""
    out = tmp_path / "out"
    make(out)
    before = out.stat()
    with pytest.raises(OSError, match=message) as info:
        write(out)
    assert str(out) in str(info.value)
    after = out.stat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary file left


def test_a_device_is_refused() -> None:
    """The check itself, on a real device, without ever writing to it."""
    from vmlab.files import check_writable_target

    with pytest.raises(OSError, match="is not a regular file"):
        check_writable_target("/dev/null")


def test_a_read_only_file_is_refused(tmp_path: Path, write: Callable[[Path | str], None]) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"keep me")
    out.chmod(0o444)
    with pytest.raises(OSError, match="is read-only"):
        write(out)
    assert out.read_bytes() == b"keep me"


def test_errors_name_the_path_given_not_a_temporary_file(
    tmp_path: Path, write: Callable[[Path | str], None]
) -> None:
    missing = tmp_path / "nodir" / "out"
    with pytest.raises(OSError, match=r"directory .*nodir does not exist") as info:
        write(missing)
    assert str(missing) in str(info.value)
    assert ".tmp" not in str(info.value)
    with pytest.raises(OSError, match="the output file name is empty"):
        write("")


def test_a_failed_write_names_the_path_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "out.img"
    with pytest.raises(OSError, match="No space left on device") as info:
        write_atomically(out, [b"data"])
    assert info.value.filename == str(out)
    assert list(tmp_path.iterdir()) == []


def test_the_image_written_reads_back(tmp_path: Path) -> None:
    image = assemble("_start: li a0, 7\n        halt\n")
    image.save(tmp_path / "a.img")
    assert Image.load(tmp_path / "a.img") == image


def import_vm(path: object) -> None:
    Hypervisor(host_memory="1M").import_vm(path)  # type: ignore[arg-type]


READERS = {"image file": Image.load, "VM export file": import_vm}


@pytest.mark.parametrize("kind", sorted(READERS))
def test_reading_a_file_that_is_not_there_names_it(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = READERS[kind]
    with pytest.raises(FileNotFoundError, match=rf"^{tmp_path}/nope: no such {kind}$"):
        read(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=rf"^the {kind}'s name is empty$"):
        read("")  # (not ".", which Path("") would be)
    with pytest.raises(IsADirectoryError, match=rf"^{tmp_path}: is a directory, not an? {kind}$"):
        read(tmp_path)
    with pytest.raises(TypeError, match=rf"^the {kind}'s path must be a file name .*, not int$"):
        read(42)
    secret = tmp_path / "secret"
    secret.write_bytes(b"x")

    def denied(self: Path) -> bytes:  # (a chmod 0 file would not do: root reads it anyway)
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(PermissionError, match=rf"^{secret}: cannot read the {kind}: Permission"):
        read(secret)


def test_byte_string_paths_work_for_every_file(tmp_path: Path) -> None:
    """A path as bytes (as os.listdir(bytes) gives) saves, exports, loads and imports."""
    image = assemble("_start: halt\n")
    image.save(os.fsencode(tmp_path / "a.img"))
    assert Image.load(os.fsencode(tmp_path / "a.img")) == image
    export_vm(os.fsencode(tmp_path / "v.vmlab"))
    vm = Hypervisor(host_memory="1M").import_vm(os.fsencode(tmp_path / "v.vmlab"))
    assert vm.name == "v"
    with pytest.raises(TypeError, match=r"^the export path must be a file name .*, not float$"):
        Hypervisor(host_memory="1M").create_vm("w", image, memory="64K").export(1.5)  # type: ignore[arg-type]
