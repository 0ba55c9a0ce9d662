"""Bad input to disks, the console, the Runner and the Debugger: clear errors, nothing changed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vmlab import Disk, Machine, images
from vmlab.devices.disk import DiskFileError
from vmlab.ui.debugger import Debugger
from vmlab.ui.runner import Runner


def hello() -> Machine:
    m = Machine(memory="64K")
    m.load(images.load("hello"))
    return m


# ---- disks ----------------------------------------------------------------------------------------
def test_disk_sizes_take_strings_and_numpy_ints_but_not_floats() -> None:
    assert Disk.memory("1K").sectors == 2
    assert Disk.memory(np.int64(1024)).sectors == 2
    for size in (1536.0, True, None):
        with pytest.raises(TypeError, match=r"^disk size must be a number of bytes"):
            Disk.memory(size)  # type: ignore[arg-type]


def test_an_in_memory_disk_is_at_most_1g() -> None:
    with pytest.raises(ValueError, match=r"in-memory disk of 2G is larger than 1G: use Disk.file"):
        Disk.memory("2G")


def test_a_bad_size_creates_no_file(tmp_path) -> None:
    for size in (1536.0, "x", 1000, -512):
        with pytest.raises((TypeError, ValueError), match="disk size"):
            Disk.file(tmp_path / "d.img", size=size)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # (a float used to leave an empty file behind)
    assert Disk.file(tmp_path / "d.img", size="1K").sectors == 2


def test_disk_file_paths_that_are_not_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^the disk image's name is empty$"):
        Disk.file("")
    with pytest.raises(IsADirectoryError, match=rf"^disk image {tmp_path}: is a directory$"):
        Disk.file(tmp_path)
    with pytest.raises(TypeError, match=r"^the disk image's path must be a file name"):
        Disk.file(42)  # type: ignore[arg-type]


def test_a_read_only_array_is_not_a_disk() -> None:
    with pytest.raises(ValueError, match=r"writable .* use Disk.from_bytes"):
        Disk(np.frombuffer(bytes(512), np.uint8))
    with pytest.raises(TypeError, match=r"^Disk.from_bytes takes bytes, not int$"):
        Disk.from_bytes(5)  # type: ignore[arg-type]


def test_a_disk_says_what_it_is(tmp_path) -> None:
    assert repr(Disk.memory("1K")) == "<Disk 1K in memory, 2 sectors>"
    path = tmp_path / "d.img"
    assert repr(Disk.file(path, size=4096)) == f"<Disk 4K file {str(path)!r}, 8 sectors>"


def test_a_disk_file_truncated_by_another_program_is_caught(tmp_path) -> None:
    """Touching a memory map past the end of its file kills the process: check() says so first."""
    path = tmp_path / "d.img"
    disk = Disk.file(path, size=4096)
    disk.check()
    path.write_bytes(b"")  # (another program truncates it)
    with pytest.raises(DiskFileError, match=r"truncated by another program: it had 4096 bytes"):
        disk.check()
    path.unlink()  # a file removed (or replaced) is harmless: the map keeps the old one
    disk.check()


# ---- the console ----------------------------------------------------------------------------------
def test_console_write_takes_bytes_only() -> None:
    m = hello()
    for bad in (5, "text", None):
        with pytest.raises(TypeError, match="console output is bytes"):
            m.console.write(bad)  # type: ignore[arg-type]
    assert m.console.output == ""  # (write(5) used to add five NUL bytes)
    m.console.write(b"ok")
    assert m.console.output == "ok"


# ---- the Runner -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_instructions": 2.5}, "max_instructions must be an integer >= 0 or None"),
        ({"max_instructions": True}, "max_instructions must be an integer >= 0 or None"),
        ({"max_instructions": -1}, "max_instructions must be an integer >= 0 or None"),
        ({"slice_size": True}, "slice_size must be a positive integer"),
        ({"target_seconds": float("nan")}, "target_seconds must be a number of seconds > 0"),
        ({"target_seconds": "1"}, "target_seconds must be a number of seconds > 0"),
        ({"target_seconds": 0}, "target_seconds must be a number of seconds > 0"),
        ({"update_interval": float("inf")}, "update_interval must be a number of seconds >= 0"),
        ({"update_interval": -1}, "update_interval must be a number of seconds >= 0"),
    ],
)
def test_runner_settings_are_checked(kwargs: dict, message: str) -> None:
    """A float budget used to loop forever (slices of 0.5 instructions ran 0 each)."""
    with pytest.raises(ValueError, match=message):
        Runner(hello(), **kwargs)


def test_a_runner_listener_must_be_callable() -> None:
    runner = Runner(hello())
    with pytest.raises(TypeError, match=r"^a listener must be callable, not NoneType$"):
        runner.on_update(None)  # type: ignore[arg-type]
    assert runner.step().instructions > 0  # (a None listener used to break every later step)


# ---- the Debugger ---------------------------------------------------------------------------------
def test_debugger_sources_must_be_text() -> None:
    for bad, message in (
        (5, r"sources must be the program's text \(a str\) or a dict .*, not int"),
        (b"halt", r"sources must be the program's text .*, not bytes"),
        ({"p.s": 5}, r"sources\['p.s'\] must be the file's text \(a str\), not int"),
    ):
        with pytest.raises(TypeError, match=message):
            Debugger(hello(), sources=bad)  # type: ignore[arg-type]


def test_debugger_feed_takes_text() -> None:
    dbg = Debugger(hello())
    with pytest.raises(TypeError, match=r"^feed\(\) takes the text to type \(a str\), not bytes$"):
        dbg.feed(b"x")  # type: ignore[arg-type]


def test_a_machine_refuses_to_run_on_a_truncated_disk_file(tmp_path) -> None:
    """Instead of dying with SIGBUS when the guest touches the lost sectors."""
    path = tmp_path / "d.img"
    m = Machine(memory="64K", disk=Disk.file(path, size=4096))
    m.load(images.load("hello"))
    path.write_bytes(b"")
    with pytest.raises(DiskFileError, match="truncated by another program"):
        m.run()
    assert m.instructions == 0


def test_reading_a_sector_of_a_truncated_file_raises_instead_of_killing_the_process(
    tmp_path,
) -> None:
    script = (
        "import sys\n"
        "from vmlab import Disk\n"
        "d = Disk.file(sys.argv[1], size=4096)\n"
        "open(sys.argv[1], 'wb').close()\n"
        "try:\n"
        "    d.read_sector(7)\n"
        "except OSError as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "d.img")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (0, "DiskFileError\n"), proc.stderr


def test_sector_numbers_are_ints() -> None:
    disk = Disk.memory("1K")
    assert disk.read_sector(np.int64(1)) == bytes(512)
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError, match="a sector number is an int"):
            disk.read_sector(bad)  # type: ignore[arg-type]


def test_a_vm_on_a_truncated_disk_file_stops_the_run_with_its_name(tmp_path) -> None:
    from vmlab import Hypervisor

    path = tmp_path / "d.img"
    hv = Hypervisor(host_memory="1M")
    vm = hv.create_vm("a", images.load("hello"), memory="64K", disk=Disk.file(path, size=4096))
    vm.start()
    path.write_bytes(b"")
    with pytest.raises(DiskFileError, match=r"^VM 'a' \(running\): disk image .* truncated"):
        hv.run()
    assert vm.stats.instructions == 0 and vm.state == "running"
