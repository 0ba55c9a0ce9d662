"""The wheel carries the guest images, the console script and the sources a user needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build vmlab's wheel once (no network: the build backend is a test dependency)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("vmlab-*.whl")
    return whl


def test_wheel_contains_every_image_source(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for src in (ROOT / "images").rglob("*.s"):
        rel = src.relative_to(ROOT / "images").as_posix()
        assert f"vmlab/_images/{rel}" in names


def test_wheel_declares_the_console_script(wheel: Path) -> None:
    z = zipfile.ZipFile(wheel)
    (ep,) = [n for n in z.namelist() if n.endswith("entry_points.txt")]
    assert "vmlab = vmlab.__main__:entry" in z.read(ep).decode()


def test_images_load_from_the_installed_wheel_not_the_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import vmlab.images as im; "
        "print(im.images_dir()); "
        "img = im.load('hello'); "
        "print(b''.join(seg.data for seg in img.segments).hex(), img.entry)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        check=True,
    )
    where, code_and_entry = done.stdout.splitlines()[-2:]
    assert Path(where).is_relative_to(site)
    from vmlab import images

    img = images.load("hello")
    expected = b"".join(seg.data for seg in img.segments)
    assert code_and_entry == f"{expected.hex()} {img.entry}"
