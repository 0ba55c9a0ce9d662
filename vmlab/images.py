"""The guest programs shipped with vmlab (``images/*.s``): find them, assemble them, compare output.

Each image is a bare-metal VL32 assembly program with a ``_start`` label. Its sizes are set with
``.default`` and can be overridden per load, e.g. ``load("sieve", N=1000, PAGING=1)``. Shared
routines live in ``images/lib/`` and are pulled in with ``.include "lib/console.s"``. Next to a
program, ``NAME.expected`` holds its console output at the default sizes on the default machine.

>>> from vmlab import images
>>> "sieve" in images.names()
True
>>> images.load("fib", N=10).entry
4096
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from .asm import assemble_file
from .image import Image

__all__ = ["expected_output", "images_dir", "load", "names", "source_path"]

_CACHE_SIZE = 64  # assembled images kept (a benchmark may sweep many sizes)
_cache: dict[tuple[str, tuple[tuple[str, int], ...], int], Image] = {}


def images_dir() -> Path:
    """The directory holding the image sources (installed wheel first, then the checkout)."""
    installed = importlib.resources.files("vmlab") / "_images"
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[1] / "images"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"vmlab's images are missing: neither {installed} nor {checkout} is a directory"
    )


def names() -> list[str]:
    """Names of the available images, sorted (``"fib"`` for ``images/fib.s``)."""
    return sorted(p.stem for p in images_dir().glob("*.s"))


def source_path(name: str) -> Path:
    """Path of an image's assembly source; unknown names raise ValueError listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"an image name is a string, not {type(name).__name__}")
    path = images_dir() / f"{name}.s"
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise ValueError(f"unknown image {name!r}; available images: {', '.join(names())}")
    return path


def shown_path(path: str) -> str:
    """``path`` as messages show it: ``images/...`` for vmlab's own image sources, else unchanged."""
    try:
        rel = Path(path).resolve().relative_to(images_dir().resolve())
    except (ValueError, OSError):
        return path
    return f"images/{rel.as_posix()}"


def _sources_stamp(folder: Path) -> int:
    """Newest modification time of any source an image may include (so edits are noticed)."""
    return max((p.stat().st_mtime_ns for p in folder.rglob("*.s")), default=0)


def load(name: str, **defines: int) -> Image:
    """Assemble image ``name`` with ``defines`` overriding its ``.default`` values (memoised).

    The result is shared between callers with the same arguments: treat it as read-only.
    """
    path = source_path(name)
    for key, value in defines.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"define {key}={value!r} must be an int, not {type(value).__name__}")
    folder = images_dir()
    key = (name, tuple(sorted(defines.items())), _sources_stamp(folder))
    image = _cache.get(key)
    if image is None:
        image = assemble_file(path, defines=defines, include_dirs=[folder])
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))  # forget the oldest
        _cache[key] = image
    return image


def expected_output(name: str) -> str:
    """The console output image ``name`` should print at its default sizes (``NAME.expected``)."""
    path = source_path(name).with_suffix(".expected")
    if not path.is_file():
        raise FileNotFoundError(f"image {name!r} has no expected output file ({path.name})")
    return path.read_bytes().decode("utf-8")
